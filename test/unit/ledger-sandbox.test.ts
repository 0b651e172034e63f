// Every module of the ledger bundle is under the workflow-sandbox lint (eslint.config.mjs): a
// ledger file that imported Node or I/O code would break determinism on replay without any lint error.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildLedgerBundle } from '../../src/temporal/bundle-workflows';

const root = path.join(__dirname, '..', '..');

/** The project's own modules in a webpack bundle (`"./src/ledger/state.ts"`), not node_modules. */
function bundledModules(code: string): string[] {
  return [...new Set([...code.matchAll(/"\.\/((?:src|workflows|activities)\/[^"]+\.ts)"/g)].map((m) => m[1]!))].sort();
}

/** Whether ESLint applies the sandbox's no-restricted-imports rule to each file (one ESLint process for all). */
function sandboxLinted(files: string[]): Record<string, boolean> {
  const script = `
    const { ESLint } = require('eslint');
    (async () => {
      const eslint = new ESLint({ cwd: ${JSON.stringify(root)} });
      const out = {};
      for (const f of JSON.parse(process.argv[1])) {
        const rule = (await eslint.calculateConfigForFile(f)).rules['no-restricted-imports'];
        out[f] = Array.isArray(rule) && (rule[0] === 2 || rule[0] === 'error');
      }
      process.stdout.write(JSON.stringify(out));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script, JSON.stringify(files)], { cwd: root, encoding: 'utf8' }));
}

test('every module of the ledger bundle is checked by the workflow-sandbox lint', async () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'medic-ledger-bundle-')), 'ledger-bundle.js');
  await buildLedgerBundle(out);
  const modules = bundledModules(fs.readFileSync(out, 'utf8'));
  expect(modules).toEqual(
    expect.arrayContaining([
      'src/coordinator/workflows.ts',
      'src/ledger/state.ts',
      'src/ledger/fleet/state.ts',
      'src/approval/workflow.ts',
    ]),
  );
  const linted = sandboxLinted(modules);
  expect(modules.filter((m) => !linted[m])).toEqual([]);
}, 60_000);
