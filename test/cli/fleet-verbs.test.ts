// The fleet-safety verbs against a real coordinator process (mTLS) and the run's Temporal dev
// server: pause, a run refused by it, pauses, resume, a shadow run, list --shadow and stats.
import { buildStack, IDS, runMedicCli, type CliResult, type Stack } from '../helpers/stack';
import { eventually, temporalAddress, unique } from '../helpers/temporal';

let stack: Stack;

function medic(args: string[]): Promise<CliResult> {
  return runMedicCli(stack, args);
}

beforeAll(async () => {
  stack = await buildStack({
    temporalAddress: temporalAddress(),
    workflows: {
      careful: 'workflow = "ping"\ntask_queue_target = "node"\ndisruptive = true\n',
      watch: 'workflow = "ping"\ntask_queue_target = "node"\nmode = "shadow"\n',
    },
  });
  await stack.startCoordinator();
});

afterAll(() => stack?.stop());

it('pauses a workflow, refuses its runs naming the pause, lists and resumes it', async () => {
  expect((await medic(['pause', '--workflow', 'careful'])).code).toBe(2);
  const paused = await medic(['pause', '--workflow', 'careful', '--reason', 'cli test', '--for', '1h']);
  expect(paused.stderr).toBe('');
  expect(paused.stdout).toMatch(
    new RegExp(`^paused: workflow=careful: cli test \\(by ${IDS.admin} since \\S+, until \\S+\\)\\n$`),
  );

  const refused = await medic(['run', 'careful', '--node', unique('n')]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain(`paused: workflow=careful was paused by ${IDS.admin}`);
  expect(refused.stderr).toContain(': cli test; it may pass');

  const listed = await eventually(async () => {
    const r = await medic(['pauses']);
    return r.stdout.includes('workflow=careful') ? r : undefined;
  });
  expect(listed.stdout).toMatch(/SCOPE\s+REASON\s+BY/);

  const resumed = await medic(['resume', '--workflow', 'careful', '--reason', 'done']);
  expect(resumed.stdout).toMatch(/^resumed: workflow=careful: cli test/);
  expect((await medic(['resume', '--workflow', 'careful'])).code).toBe(1);
  const node = unique('n');
  const started = await eventually(async () => {
    const r = await medic(['run', 'careful', '--node', node]);
    return r.code === 0 ? r : undefined;
  });
  expect(started.stdout).toMatch(/^started careful /);
  const stats = await eventually(async () => {
    const r = await medic(['stats', '--workflow', 'careful']);
    return r.stdout.includes('careful') ? r : undefined;
  });
  expect(stats.stdout).toMatch(/WORKFLOW\s+RUNS\s+OUTCOMES/);
}, 300_000);

it('answers a shadow run with what would start, and lists it with list --shadow', async () => {
  const node = unique('n');
  const r = await medic(['run', 'watch', '--node', node]);
  expect(r.stderr).toBe('');
  expect(r.stdout).toBe(`shadow mode: watch would have started on medic:node:${node}; nothing was started\n`);
  const listed = await eventually(async () => {
    const l = await medic(['list', '--shadow', '--workflow', 'watch']);
    return l.stdout.includes(node) ? l : undefined;
  });
  expect(listed.stdout).toMatch(/WORKFLOW\s+TARGET\s+WOULD START AT/);
}, 120_000);
