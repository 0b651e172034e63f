// Lets `node -r ./test/helpers/swc-register.js cmd/medic.ts` run medic from its TypeScript
// sources (tests and benchmarks spawn the real CLI without a build step), with the same swc
// transform jest uses.
const fs = require('node:fs');
const { transformSync } = require('@swc/core');

require.extensions['.ts'] = function compileTs(module, filename) {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  });
  module._compile(code, filename);
};
