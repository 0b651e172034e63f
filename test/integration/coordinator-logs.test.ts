// A coordinator process keeps its streams apart: stdout carries only audit lines (JSON), and the
// Temporal SDK's own warnings (its ledger worker failing a workflow task) go to stderr as medic's
// JSON log lines, without the warnings about queues that have only activities by design.
import { emptyState, LEDGER_STATE_VERSION } from '../../src/ledger/state';
import { LEDGER_QUEUE } from '../../src/naming/task-queues';
import {
  benchCertificates,
  benchDir,
  clientAgent,
  constraintHcl,
  request,
  writeConfig,
  type BenchTemporal,
} from '../bench/fixture';
import { startCoordinator } from '../helpers/medic-process';
import { testNamespace } from '../helpers/namespace';
import { temporalAddress, unique } from '../helpers/temporal';

test("the SDK's warnings go to stderr as JSON lines; stdout holds only audit lines", async () => {
  // A namespace of its own: no other test file's ledger worker takes the broken ledger's tasks,
  // so the failure this waits for is this coordinator's to log.
  const { namespace, client, close } = await testNamespace('logs');
  try {
    const broken = unique('logged');
    const dir = benchDir('coordinator-logs');
    const certs = benchCertificates(dir);
    const temporal = {
      block: `temporal {\n  address   = "${temporalAddress()}"\n  namespace = "${namespace}"\n}\n`,
    } as BenchTemporal;
    const config = writeConfig(dir, certs, temporal, {
      [broken]: `workflow = "ping"\ntask_queue_target = "node"\n${constraintHcl('maxExecution', 1, '1h')}`,
    });
    // A ledger this release cannot run: its worker fails the workflow task, and the SDK warns.
    await client.workflow.start('medicAdmissionLedger', {
      workflowId: `medic-ledger:${broken}`,
      taskQueue: LEDGER_QUEUE,
      args: [
        { workflow: broken, constraints: [] },
        { ...emptyState(), seeded: true, version: LEDGER_STATE_VERSION + 1 },
      ],
    });
    const c = await startCoordinator(config);
    const r = await request(clientAgent(certs, 1), 'POST', `${c.url}/v1/workflows/${broken}/executions`, {
      target: { node: 'n1' },
    });
    expect(r.status).toBe(503);
    // The SDK's warning of the failed workflow task, as a JSON line of the ledger worker.
    const line = new RegExp(`^(?=.*"component":"coordinator\\.ledger-worker")(?=.*version ${LEDGER_STATE_VERSION + 1}).*$`, 'm');
    await c.proc.waitFor(line, 30_000);
    await c.proc.stop();

    const sdkLines = c.proc
      .stderr()
      .split('\n')
      .filter((l) => l.includes('coordinator.ledger-worker'));
    for (const line of sdkLines)
      expect(JSON.parse(line)).toMatchObject({ level: expect.stringMatching(/^(warn|error)$/), sdk: true });
    expect(sdkLines.some((l) => l.includes(`version ${LEDGER_STATE_VERSION + 1}`))).toBe(true);
    // Queues with only activities (or only a workflow) are so by design: no warning about them.
    expect(sdkLines.filter((l) => /No (workflows|activities) registered/.test(l))).toEqual([]);
    const stdout = c.proc.stdout().split('\n').filter(Boolean);
    expect(stdout.length).toBeGreaterThan(0);
    for (const line of stdout) expect([line, JSON.parse(line).kind]).toEqual([line, 'audit']);
    await client.workflow.getHandle(`medic-ledger:${broken}`).terminate('test over');
  } finally {
    await close();
  }
}, 90_000);
