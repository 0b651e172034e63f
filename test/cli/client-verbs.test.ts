// The CLI verbs against a real coordinator process (mTLS) and the run's Temporal dev server:
// a start, a start refused by a constraint, the list and workflows verbs, and what a user sees
// when the coordinator is not there.
import { buildStack, runMedicCli, type Stack } from '../helpers/stack';
import { temporalAddress, unique } from '../helpers/temporal';
import { waitFor } from '../helpers/wait';

let stack: Stack;
const NODE = unique('node');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function medic(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return runMedicCli(stack, args, env);
}

beforeAll(async () => {
  stack = await buildStack({
    temporalAddress: temporalAddress(),
    workflows: {
      once: `workflow = "ping"
task_queue_target = "node"
description = "at most once an hour"
param "mode" {
  type     = "enum"
  values   = ["quick", "full"]
  settable = true
}
constraint {
  kind   = "maxExecution"
  value  = "1"
  period = "1h"
}
`,
    },
  });
  await stack.startCoordinator();
});

afterAll(() => stack.stop());

describe('medic run', () => {
  it('starts a workflow and prints its id; a second start is refused with the constraint and when it may pass', async () => {
    const first = await medic(['run', 'once', '--node', NODE, '--reason', 'cli test']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(new RegExp(`^started once once:\\S+ on medic:node:${NODE}\\n$`));

    const second = await medic(['run', 'once', '--node', NODE]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/^medic run: refused by constraint "maxExecution 1\/1h per target" \(1 counted/);
    expect(second.stderr).toMatch(/it may pass in [\d.]+[hms] \(at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)\n$/);

    const json = await medic(['run', 'once', '--node', NODE, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      error: 'constraint_refused',
      details: { constraint: { kind: 'maxExecution', value: 1 }, count: 1 },
    });
  });

  it('answers a dry run without starting anything', async () => {
    const node = unique('node');
    const dry = await medic(['run', 'once', '--node', node, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toBe(`dry run: once would start on medic:node:${node}; every constraint passes\n`);
  });

  it('refuses bad usage before calling anyone', async () => {
    const res = await medic(['run', 'once', '--node', NODE, '--param', 'novalue']);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('medic run: --param "novalue" is not key=value\n');
  });

  it('names a refused --param in the words of the command line', async () => {
    const bad = await medic(['run', 'once', '--node', unique('node'), '--param', 'mode=slow', '--dry-run']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('medic run: --param mode: must be one of "quick", "full" (HTTP 400)\n');
    const unknown = await medic(['run', 'once', '--node', unique('node'), '--param', 'force=yes', '--dry-run']);
    expect(unknown.stderr).toBe('medic run: --param force: unknown parameter (callers may set: mode) (HTTP 400)\n');
  });
});

describe('medic list and medic workflows', () => {
  it('lists the execution started above, as a table and as JSON', async () => {
    type Row = { workflow: string; target: { node: string }; status: string };
    const rows = await waitFor(
      'the execution in medic list',
      async () => {
        const res = await medic(['list', '--node', NODE, '--json']);
        expect(res.code).toBe(0);
        const found = JSON.parse(res.stdout) as Row[];
        return found.length ? found : undefined;
      },
      30_000,
    );
    expect(rows).toEqual([expect.objectContaining({ workflow: 'once', status: 'RUNNING', target: { node: NODE } })]);
    const table = await medic(['list', '--node', NODE, '--workflow', 'once']);
    expect(table.stdout.split('\n')[0]).toMatch(/^WORKFLOW\s+NODE\s+STATUS\s+OUTCOME\s+STARTED\s+ID$/);
    expect(table.stdout).toContain(`once      ${NODE}  RUNNING`);
  });

  it('shows the configured workflows and their constraints', async () => {
    const res = await medic(['workflows']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(
      /^NAME\s+TYPE\s+TARGET\s+CONSTRAINTS\s+DESCRIPTION\nonce\s+ping\s+node\s+maxExecution 1\/1h per target\s+at most once an hour\n$/,
    );
  });
});

describe('a stopped coordinator', () => {
  it('gives one line saying it cannot be reached, no stack trace, exit 3', async () => {
    await stack.coordinator!.stop();
    for (const args of [['run', 'once', '--node', NODE, '--wait'], ['list'], ['status', 'x'], ['workflows']]) {
      const res = await medic(args);
      expect(res.code).toBe(3);
      expect(res.stdout).toBe('');
      expect(res.stderr).toMatch(
        new RegExp(
          `^medic ${args[0]}: cannot reach the coordinator at ${stack.coordinatorUrl}: connect ECONNREFUSED [^\\n]+\\n$`,
        ),
      );
    }
  });
});
