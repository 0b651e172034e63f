// A coordinator process keeps its streams apart: stdout carries only audit lines (JSON), and the
// Temporal SDK's own warnings (its ledger worker failing a workflow task) go to stderr as medic's
// JSON log lines.
import { Client } from '@temporalio/client';
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
import { connectClient, temporalAddress, unique } from '../helpers/temporal';

test("the SDK's warnings go to stderr as JSON lines; stdout holds only audit lines", async () => {
  const { client, close } = await connectClient();
  try {
    const broken = unique('logged');
    const dir = benchDir('coordinator-logs');
    const certs = benchCertificates(dir);
    const temporal = { block: `temporal {\n  address   = "${temporalAddress()}"\n  namespace = "default"\n}\n` } as BenchTemporal;
    const config = writeConfig(dir, certs, temporal, {
      [broken]: `workflow = "ping"\ntask_queue_target = "node"\n${constraintHcl('maxExecution', 1, '1h')}`,
    });
    // A ledger this release cannot run: its worker fails the workflow task, and the SDK warns.
    await (client as Client).workflow.start('medicAdmissionLedger', {
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
    await c.proc.waitFor(/"component":"coordinator\.ledger-worker"/, 30_000);
    await c.proc.stop();

    const sdkLines = c.proc
      .stderr()
      .split('\n')
      .filter((l) => l.includes('coordinator.ledger-worker'));
    for (const line of sdkLines)
      expect(JSON.parse(line)).toMatchObject({ level: expect.stringMatching(/^(warn|error)$/), sdk: true });
    expect(sdkLines.some((l) => l.includes(`version ${LEDGER_STATE_VERSION + 1}`))).toBe(true);
    const stdout = c.proc.stdout().split('\n').filter(Boolean);
    expect(stdout.length).toBeGreaterThan(0);
    for (const line of stdout) expect([line, JSON.parse(line).kind]).toEqual([line, 'audit']);
    await client.workflow.getHandle(`medic-ledger:${broken}`).terminate('test over');
  } finally {
    await close();
  }
}, 90_000);
