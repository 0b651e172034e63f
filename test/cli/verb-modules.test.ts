// What the built `medic` loads for its quick verbs: only the verb's own module and what it
// needs, never fastify, the Temporal SDK, the HCL parser or another role's code. Loading those
// is what made `medic version` take 0.3 s; these lists are its start-time budget.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MEDIC, ROOT } from '../helpers/medic-process';

/** A preload that prints, at exit, every module file the process loaded. */
let preload: string;

beforeAll(() => {
  if (!fs.existsSync(MEDIC)) throw new Error(`${MEDIC} is missing: run npm run build (npm test does)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-verb-modules-'));
  preload = path.join(dir, 'loaded-modules.js');
  fs.writeFileSync(
    preload,
    `process.on('exit', () => require('fs').writeSync(2, '\\nLOADED ' + JSON.stringify(Object.keys(require.cache)) + '\\n'));\n`,
  );
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** Files the process loaded, relative to the checkout (the preload left out). */
  loaded: string[];
}

function medic(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    // An address nothing listens on: the client verbs fail fast after loading what they need.
    const env = { ...process.env, MEDIC_COORDINATOR: 'https://127.0.0.1:1', NO_COLOR: '1', ...extraEnv };
    execFile(process.execPath, ['-r', preload, MEDIC, ...args], { cwd: ROOT, env }, (err, stdout, stderr) => {
      const line = /\nLOADED (.*)\n$/.exec(stderr);
      const loaded = line
        ? (JSON.parse(line[1]!) as string[]).filter((f) => f !== preload).map((f) => path.relative(ROOT, f))
        : [];
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr: stderr.replace(/\nLOADED .*\n$/, ''), loaded });
    });
  });
}

const TABLE = ['dist/cmd/medic.js', 'dist/src/command/command.js', 'dist/src/cli/commands.js'];
const CLIENT = ['dist/src/cli/client-options.js', 'dist/src/client/coordinator-client.js', 'dist/src/cli/output.js'];
/** Where `medic dev` keeps its certificates: looked up only when nothing else names the client's. */
const DEV_CERTIFICATES = ['dist/src/paths.js', 'dist/src/single-executable/embedded.js'];
const QUERIES = [...TABLE, 'dist/src/cli/queries.js', 'dist/src/naming/execution-filters.js', ...CLIENT, 'dist/src/cli/run.js'];

describe('the modules a quick verb loads', () => {
  it('medic version: the table, its own module and the package root finder', async () => {
    const run = await medic(['version']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^medic \d+\.\d+\.\d+ \(Temporal SDK /);
    expect(run.loaded.sort()).toEqual(
      [
        ...TABLE,
        'dist/src/cli/version.js',
        'dist/src/version.js',
        'dist/src/paths.js',
        'dist/src/single-executable/embedded.js',
      ].sort(),
    );
  });

  it.each([[['status', 'some-id']], [['list']], [['list', '--status', 'running', '--outcome', 'healed']], [['workflows']]])(
    'medic %j: the client and the table printers, nothing from node_modules',
    async (args) => {
      const run = await medic(args);
      expect(run.stderr).toMatch(new RegExp(`^medic ${args[0]}: cannot reach the coordinator at https://127\\.0\\.0\\.1:1: `));
      expect(run.code).toBe(3);
      expect(run.loaded.sort()).toEqual([...QUERIES, ...DEV_CERTIFICATES].sort());
    },
  );

  it.each([[['approvals']], [['approve', 'some-id']], [['deny', 'some-id', '--reason', 'not now']]])(
    'medic %j: the client and its own module, nothing from node_modules',
    async (args) => {
      const run = await medic(args);
      expect(run.stderr).toMatch(new RegExp(`^medic ${args[0]}: cannot reach the coordinator at https://127\\.0\\.0\\.1:1: `));
      expect(run.code).toBe(3);
      expect(run.loaded.sort()).toEqual([...TABLE, 'dist/src/cli/approvals.js', ...CLIENT, ...DEV_CERTIFICATES].sort());
    },
  );

  it('medic status with its certificates named in the environment: no search for the dev certificates', async () => {
    const missing = path.join(os.tmpdir(), 'medic-verb-modules-no-such-dir');
    const run = await medic(['status', 'some-id'], {
      MEDIC_CERT: path.join(missing, 'c.pem'),
      MEDIC_KEY: path.join(missing, 'k.pem'),
      MEDIC_CA: path.join(missing, 'ca.pem'),
    });
    expect(run.stderr).toBe(`medic status: cannot read ${path.join(missing, 'c.pem')}: no such file\n`);
    expect(run.code).toBe(1);
    expect(run.loaded.sort()).toEqual([...QUERIES].sort());
  });

  it('medic --help and an unknown verb: the table alone, every command listed', async () => {
    const help = await medic(['--help']);
    expect(help.code).toBe(0);
    expect(help.loaded.sort()).toEqual([...TABLE].sort());
    const bogus = await medic(['frobnicate']);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr.split('\n')[0]).toBe('medic: unknown command "frobnicate"');
    expect(bogus.stderr.slice(bogus.stderr.indexOf('\n') + 2)).toBe(help.stdout);
    expect(bogus.loaded.sort()).toEqual([...TABLE].sort());
    for (const verb of [
      'coordinator',
      'worker',
      'trigger',
      'dev',
      'demo',
      'run',
      'status',
      'list',
      'pause',
      'version',
      'completion',
    ])
      expect(help.stdout).toMatch(new RegExp(`^  ${verb} +\\S`, 'm'));
  });

  it('medic help VERB and VERB --help print that verb usage, loading only that verb', async () => {
    const viaHelp = await medic(['help', 'status']);
    const viaFlag = await medic(['status', '--help']);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toBe(viaFlag.stdout);
    expect(viaHelp.stdout.split('\n')[0]).toBe('Usage: medic status WORKFLOW_ID [--json]');
    expect(viaHelp.loaded.sort()).toEqual([...QUERIES].sort());
  });

  it('medic completion bash still names every command, loading them all', async () => {
    const run = await medic(['completion', 'bash']);
    expect(run.code).toBe(0);
    for (const verb of ['coordinator', 'worker', 'trigger', 'dev', 'status', 'list', 'validate', 'temporal', 'completion'])
      expect(run.stdout).toContain(`    ${verb}) words="`);
    expect(run.loaded).toContain('dist/src/coordinator/app.js');
  });
});
