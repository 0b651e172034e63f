// npm run bench:storm: three coordinator processes against one dev server, hit at once by
// hundreds of triggers that a constraint must cut down to a handful. Phase 1: 300 triggers
// for one workflow on one node under concurrency 1/15m (expect 1 start). Phase 2: 300 over 50
// nodes under a global maxExecution 3/24h (expect 3). Starts are counted from the HTTP answers
// and again from Temporal; any start beyond the constraint is a violation. Last line:
// `storm: started=<n> expected=<n> violations=<n>`.
import { Client } from '@temporalio/client';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { queryValue } from '../../src/temporal/search-attributes';
import {
  benchCertificates,
  benchDir,
  benchTemporal,
  clientAgent,
  request,
  startCoordinatorProcess,
  writeConfig,
  type CoordinatorProcess,
} from './fixture';

const COORDINATORS = 3;
const TRIGGERS = Number(process.env.STORM_TRIGGERS ?? 300);
const NODES = 50;

const WORKFLOWS = {
  stormNode: `workflow = "ping"\ntask_queue_target = "node"\nconstraint {\n  kind = "concurrency"\n  value = "1"\n  period = "15m"\n}\n`,
  stormGlobal: `workflow = "ping"\ntask_queue_target = "node"\nconstraint {\n  kind = "maxExecution"\n  value = "3"\n  period = "24h"\n  is_global = true\n}\n`,
};

interface Phase {
  name: string;
  workflow: keyof typeof WORKFLOWS;
  limit: number;
  node: (i: number) => string;
}

async function main(): Promise<void> {
  const dir = benchDir('bench-storm');
  const temporal = await benchTemporal();
  const certs = benchCertificates(dir);
  const agent = clientAgent(certs, TRIGGERS);
  const coordinators: CoordinatorProcess[] = [];
  const connection = await temporal.connect();
  const client = new Client({ connection });
  const run = Date.now().toString(36);
  let started = 0;
  let expected = 0;
  let violations = 0;
  try {
    for (let i = 0; i < COORDINATORS; i++) {
      const config = writeConfig(path.join(dir, `coordinator-${i}`), certs, temporal, WORKFLOWS);
      coordinators.push(await startCoordinatorProcess(config));
    }
    process.stdout.write(
      `${COORDINATORS} coordinator processes on ports ${coordinators.map((c) => c.port).join(', ')}; ${temporal.label} ${temporal.address}\n`,
    );

    const phases: Phase[] = [
      {
        name: `${TRIGGERS} triggers, 1 node, concurrency 1/15m`,
        workflow: 'stormNode',
        limit: 1,
        node: () => `storm-${run}-one`,
      },
      {
        name: `${TRIGGERS} triggers, ${NODES} nodes, global maxExecution 3/24h`,
        workflow: 'stormGlobal',
        limit: 3,
        node: (i) => `storm-${run}-${i % NODES}`,
      },
    ];
    for (const phase of phases) {
      const t0 = Date.now();
      // All at once: every request is in flight before the first answer comes back.
      const answers = await Promise.all(
        Array.from({ length: TRIGGERS }, (_, i) =>
          request(agent, 'POST', `${coordinators[i % COORDINATORS]!.url}/v1/workflows/${phase.workflow}/executions`, {
            target: { node: phase.node(i) },
            reason: 'storm',
          }).catch((err: Error) => ({ status: 0, body: err.message })),
        ),
      );
      const ms = Date.now() - t0;
      const byStatus = new Map<number, number>();
      for (const a of answers) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
      const accepted = byStatus.get(202) ?? 0;
      const odd = answers.filter((a) => a.status !== 202 && a.status !== 429);
      for (const a of odd.slice(0, 3)) process.stderr.write(`unexpected answer ${a.status}: ${a.body.slice(0, 300)}\n`);

      // What Temporal holds, once visibility has caught up (it only ever grows here).
      const query = `MedicWorkflow = ${queryValue(phase.workflow)}`;
      let inTemporal = -1;
      for (let settled = 0, tries = 0; settled < 3 && tries < 60; tries++) {
        const { count } = await client.workflow.count(query);
        settled = count === inTemporal ? settled + 1 : 0;
        inTemporal = count;
        await new Promise((r) => setTimeout(r, 500));
      }
      const over =
        Math.max(0, accepted - phase.limit) + Math.max(0, inTemporal - phase.limit) + (inTemporal !== accepted ? 1 : 0);
      process.stdout.write(
        `phase "${phase.name}": ${ms} ms; answers ${[...byStatus].map(([s, n]) => `${s}x${n}`).join(' ')}; ` +
          `started (HTTP 202) ${accepted}, in Temporal ${inTemporal}, limit ${phase.limit}, violations ${over}\n`,
      );
      started += accepted;
      expected += phase.limit;
      violations += over;
    }
  } finally {
    agent.destroy();
    await Promise.all(coordinators.map((c) => c.stop()));
    await connection.close();
    await temporal.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`storm: started=${started} expected=${expected} violations=${violations}\n`);
  if (violations > 0 || started !== expected) process.exitCode = 1;
}

main().catch((err: Error) => {
  process.stderr.write(`bench:storm failed: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
