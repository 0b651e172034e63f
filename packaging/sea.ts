// Builds the single executable dist/sea/medic: esbuild bundles dist/cmd/medic.js into one file,
// Node's single executable application support embeds it with the workflow bundle, Temporal's
// native addon and the HCL parser's WASM as assets, and postject injects that into a copy of node.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { EMBEDDED, type BuildInfo } from '../src/single-executable/embedded';

const ROOT = path.join(__dirname, '..');
const OUT = path.join(ROOT, 'dist', 'sea');
/** The compiled runtime shim the patched libraries call (see src/single-executable/embedded.ts). */
const SHIM = path.join(ROOT, 'dist', 'src', 'single-executable', 'embedded.js');
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export class SeaBuildError extends Error {
  override name = 'SeaBuildError';
}

function pkgFile(...parts: string[]): string {
  return path.join(ROOT, 'node_modules', ...parts);
}

/**
 * Library code that reads files next to itself, which the executable does not have. Each
 * edit names the exact text it replaces, so an SDK upgrade that changes it fails the build
 * here instead of at run time on a server.
 */
const PATCHES: Array<{ file: string; from: string; to: string }> = [
  {
    file: pkgFile('@temporalio', 'core-bridge', 'index.js'),
    from: 'const nativeLibPath = getPrebuiltPath();\n  const native = Object.fromEntries(Object.entries(require(nativeLibPath))',
    to: `const native = Object.fromEntries(Object.entries(require(${JSON.stringify(SHIM)}).loadEmbeddedAddon(${JSON.stringify(EMBEDDED.coreBridge)}))`,
  },
  {
    file: pkgFile('@temporalio', 'worker', 'lib', 'workflow', 'threaded-vm.js'),
    from: "require.resolve('./workflow-worker-thread')",
    to: `require(${JSON.stringify(SHIM)}).embeddedFile(${JSON.stringify(EMBEDDED.workflowThread)})`,
  },
  {
    // The worker maps workflow stack traces through source-map, whose decoder is WASM.
    file: pkgFile('source-map', 'lib', 'read-wasm.js'),
    from: 'fs.readFile(wasmPath, null, (error, data) => {',
    to: `((_path, _opts, done) => { try { done(null, require(${JSON.stringify(SHIM)}).embeddedAsset(${JSON.stringify(EMBEDDED.sourceMapWasm)})); } catch (e) { done(e); } })(wasmPath, null, (error, data) => {`,
  },
  {
    file: pkgFile('@cdktn', 'hcl2json', 'build', 'bridge.js'),
    from: 'await fs.readFile((0, path_1.join)(__dirname, "..", "main.wasm.gz"))',
    to: `require(${JSON.stringify(SHIM)}).embeddedAsset(${JSON.stringify(EMBEDDED.hclWasm)})`,
  },
];

/** Modules only the workflow bundler needs; the executable ships a prebuilt bundle instead. */
const BUNDLER_ONLY = /^(webpack|swc-loader|memfs|unionfs|@swc\/core)$/;

const patchPlugin: esbuild.Plugin = {
  name: 'medic-sea',
  setup(build) {
    for (const p of PATCHES) {
      const filter = new RegExp(`^${p.file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`);
      build.onLoad({ filter }, () => {
        const text = fs.readFileSync(p.file, 'utf8');
        if (!text.includes(p.from))
          throw new SeaBuildError(`${p.file} no longer contains ${JSON.stringify(p.from)}: update packaging/sea.ts`);
        return { contents: text.replace(p.from, p.to), loader: 'js' };
      });
    }
    build.onResolve({ filter: BUNDLER_ONLY }, (args) => ({ path: args.path, namespace: 'bundler-only' }));
    build.onLoad({ filter: /.*/, namespace: 'bundler-only' }, (args) => ({
      contents: `const fail = () => { throw new Error(${JSON.stringify(`${args.path} is not in the medic executable: it runs a prebuilt workflow bundle`)}); };
module.exports = new Proxy(fail, { get: (_t, key) => (key === '__esModule' ? false : fail), apply: fail });`,
      loader: 'js',
    }));
  },
};

async function bundle(entry: string, outfile: string): Promise<void> {
  const result = await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // The executable's `require` loads only built-in modules and has no resolve(); the SDK calls
    // require.resolve at load time for paths only its workflow bundler uses, so give it one that
    // names a path that does not exist.
    banner: {
      js: 'if (typeof require.resolve !== "function") require.resolve = (id) => "/nonexistent/medic-executable/" + id;',
    },
    legalComments: 'none',
    // hcl2json falls back to a `performance` package only where the global is missing (not Node 20).
    external: ['performance'],
    logLevel: 'silent',
    plugins: [patchPlugin],
  });
  for (const w of result.warnings) {
    // esbuild warns about require.resolve and dynamic requires it leaves alone; they are not
    // reached in the executable (the patches above cover the ones that are).
    if (process.env.MEDIC_SEA_VERBOSE) process.stderr.write(`esbuild: ${w.text} (${w.location?.file}:${w.location?.line})\n`);
  }
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export function buildInfoNow(): BuildInfo {
  const pkg = (name: string): string => (JSON.parse(fs.readFileSync(name, 'utf8')) as { version: string }).version;
  const commit = git(['rev-parse', '--short=12', 'HEAD']) || 'unknown';
  const dirty = commit !== 'unknown' && git(['status', '--porcelain', '--untracked-files=no']) !== '';
  // SOURCE_DATE_EPOCH (reproducible builds) else the commit's time, so rebuilding a commit gives the same facts.
  const epoch = process.env.SOURCE_DATE_EPOCH ?? git(['log', '-1', '--format=%ct']);
  return {
    version: pkg(path.join(ROOT, 'package.json')),
    commit: dirty ? `${commit}-dirty` : commit,
    buildDate: epoch ? new Date(Number(epoch) * 1000).toISOString() : new Date().toISOString(),
    temporalSdk: pkg(pkgFile('@temporalio', 'worker', 'package.json')),
  };
}

export function coreBridgeAddon(): string {
  const { getPrebuiltPath } = require(pkgFile('@temporalio', 'core-bridge', 'common.js')) as { getPrebuiltPath(): string };
  return getPrebuiltPath();
}

/** Builds dist/sea/medic from dist/ (run `npm run build` first) and returns its path. */
export async function buildSingleExecutable(progress: (line: string) => void): Promise<string> {
  const entry = path.join(ROOT, 'dist', 'cmd', 'medic.js');
  const bundlePath = path.join(ROOT, 'dist', 'workflow-bundle.js');
  const ledgerBundle = path.join(ROOT, 'dist', EMBEDDED.ledgerBundle);
  for (const f of [entry, bundlePath, ledgerBundle, SHIM, path.join(ROOT, 'dist', EMBEDDED.leanApi)])
    if (!fs.existsSync(f)) throw new SeaBuildError(`${f} is missing: run npm run build first`);
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });

  progress('bundling medic with esbuild');
  const main = path.join(OUT, 'medic.cjs');
  await bundle(entry, main);
  const thread = path.join(OUT, EMBEDDED.workflowThread);
  await bundle(pkgFile('@temporalio', 'worker', 'lib', 'workflow', 'workflow-worker-thread.js'), thread);

  const info = path.join(OUT, EMBEDDED.buildInfo);
  fs.writeFileSync(info, JSON.stringify(buildInfoNow(), null, 2) + '\n');
  const seaConfig = path.join(OUT, 'sea-config.json');
  const blob = path.join(OUT, 'medic.blob');
  fs.writeFileSync(
    seaConfig,
    JSON.stringify(
      {
        main,
        output: blob,
        disableExperimentalSEAWarning: true,
        useCodeCache: true,
        assets: {
          [EMBEDDED.buildInfo]: info,
          [EMBEDDED.consoleScript]: path.join(ROOT, 'dist', 'src', 'console', 'assets', EMBEDDED.consoleScript),
          [EMBEDDED.consoleStyle]: path.join(ROOT, 'dist', 'src', 'console', 'assets', EMBEDDED.consoleStyle),
          [EMBEDDED.coreBridge]: coreBridgeAddon(),
          [EMBEDDED.hclWasm]: pkgFile('@cdktn', 'hcl2json', 'main.wasm.gz'),
          [EMBEDDED.leanApi]: path.join(ROOT, 'dist', EMBEDDED.leanApi),
          [EMBEDDED.ledgerBundle]: ledgerBundle,
          [EMBEDDED.sourceMapWasm]: pkgFile('source-map', 'lib', 'mappings.wasm'),
          [EMBEDDED.workflowBundle]: bundlePath,
          [EMBEDDED.workflowManifest]: bundlePath.replace(/\.js$/, '.manifest.json'),
          [EMBEDDED.workflowThread]: thread,
        },
      },
      null,
      2,
    ),
  );
  progress('generating the single executable blob');
  execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { stdio: ['ignore', 'ignore', 'inherit'] });

  const exe = path.join(OUT, 'medic');
  fs.copyFileSync(process.execPath, exe);
  fs.chmodSync(exe, 0o755);
  // Symbols are of no use on a server and cost tens of MiB; strip before injecting the blob.
  try {
    execFileSync('strip', ['--strip-all', exe], { stdio: 'ignore' });
  } catch {
    progress('strip is not available: the executable keeps its symbols');
  }
  progress(`injecting it into a copy of ${process.execPath} (Node.js ${process.versions.node})`);
  const postject = require.resolve('postject/dist/cli.js');
  // postject warns about every ELF note section it cannot name; those warnings are harmless.
  try {
    execFileSync(process.execPath, [postject, exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { stdio: 'pipe' });
  } catch (err) {
    throw new SeaBuildError(`postject failed: ${(err as { stderr?: Buffer }).stderr?.toString() ?? (err as Error).message}`);
  }
  return exe;
}
