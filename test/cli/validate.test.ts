// Drives the built `medic` binary as an operator would (npm test builds dist/ first).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const MEDIC = path.join(ROOT, 'dist', 'cmd', 'medic.js');

function medic(args: string[], cwd = ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MEDIC, ...args], { cwd }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A copy of the shipped config/ in a temp dir, to corrupt. */
function copyOfConfig(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-cli-'));
  fs.cpSync(path.join(ROOT, 'config'), path.join(dir, 'config'), { recursive: true });
  return dir;
}

beforeAll(() => {
  if (!fs.existsSync(MEDIC)) throw new Error(`${MEDIC} is missing: run npm run build (npm test does)`);
});

describe('medic CLI', () => {
  it('lists every role and verb in --help', async () => {
    const { code, stdout } = await medic(['--help']);
    expect(code).toBe(0);
    for (const verb of ['coordinator', 'worker', 'trigger', 'dev', 'run', 'status', 'list', 'validate', 'version']) {
      expect(stdout).toMatch(new RegExp(`^  ${verb} `, 'm'));
    }
  });

  it('answers an unknown command or flag with usage and exit 2', async () => {
    expect((await medic(['frobnicate'])).code).toBe(2);
    const bad = await medic(['validate', '--nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Unknown option '--nope'/);
  });

  it('validates the shipped config/ with exit 0', async () => {
    const { code, stdout, stderr } = await medic(['validate', 'config/']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/config: ok: coordinator \(9 route rules\), worker, \d+ workflows, \d+ trigger rules; 0 errors/);
  });

  it('exits 1 and prints file:line,col for a corrupted workflow file', async () => {
    const dir = copyOfConfig();
    fs.writeFileSync(path.join(dir, 'config/workflows/cleanDisk.hcl'), 'workflow = "cleanDisk"\ntask_queue_target = \n');
    const { code, stderr } = await medic(['validate', '--config', 'config'], dir);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^config\/workflows\/cleanDisk\.hcl:2,\d+: /m);
  });

  it('reports kind = "bogus" with its file and attribute path, together with other errors', async () => {
    const dir = copyOfConfig();
    const file = path.join(dir, 'config/workflows/restartService.hcl');
    fs.writeFileSync(
      file,
      fs.readFileSync(file, 'utf8').replace('"concurrency"', '"bogus"').replace('period = "1h"', 'period = "1x"'),
    );
    const { code, stderr } = await medic(['validate', 'config'], dir);
    expect(code).toBe(1);
    expect(stderr).toContain('config/workflows/restartService.hcl: constraint[0].kind: unknown constraint kind "bogus"');
    expect(stderr).toContain('config/workflows/restartService.hcl: constraint[1].period: "1x" is not a duration');
  });

  it('exits 0 with warnings only', async () => {
    const dir = copyOfConfig();
    const file = path.join(dir, 'config/workflows/cleanDisk.hcl');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"concurrency"', '"concurency"'));
    const { code, stdout } = await medic(['validate', 'config', '--json'], dir);
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({ ok: true, errors: 0, warnings: 1 });
    expect(report.diagnostics[0]).toMatchObject({ severity: 'warning', path: 'constraint[0].kind' });
  });

  it('prints its version', async () => {
    const { code, stdout } = await medic(['version']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^medic \d+\.\d+\.\d+ \(Temporal SDK 1\.24\.\d+, Node\.js /);
  });
});
