// scratch: ledger update throughput in isolation
import { Client } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { benchTemporal } from './fixture';
import { LedgerClient } from '../../src/ledger/client';
import { LedgerWorker } from '../../src/ledger/worker';
import { workflowConfig, constraint } from '../helpers/coordinator';

async function main(): Promise<void> {
  const temporal = await benchTemporal();
  const connection = await temporal.connect();
  const client = new Client({ connection });
  const cfg = { address: temporal.address, namespace: 'default' } as never;
  const worker = new LedgerWorker(
    cfg,
    () => client,
    (m) => console.log(m),
  );
  const ledger = new LedgerClient(() => worker.ensure());
  const wf = workflowConfig(`probe${Date.now()}`, {
    constraints: [
      constraint('concurrency', 1, 900_000),
      constraint('maxExecution', 1, 3_600_000),
      constraint('maxExecution', 1_000_000, 86_400_000, true),
    ],
  });
  const N = Number(process.env.N ?? 300);
  const C = Number(process.env.C ?? 50);
  let next = 0;
  const t0 = Date.now();
  const lat: number[] = [];
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next < N) {
        const i = next++;
        const s = Date.now();
        const r = await ledger.admit(client, wf, {
          id: randomUUID(),
          scopes: { 'concurrency.0': `node=n${i}`, 'maxExecution.0': `node=n${i}`, 'maxExecution-global.0': 'global' },
          where: {},
        });
        if (!r.ok) console.log('refused', r.refusal);
        lat.push(Date.now() - s);
      }
    }),
  );
  const secs = (Date.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  console.log(
    `${N} admits in ${secs}s = ${(N / secs).toFixed(1)}/s p50 ${lat[Math.floor(N / 2)]} p99 ${lat[Math.floor(N * 0.99)]}`,
  );
  const d = await client.workflow.getHandle(`medic-ledger:${wf.name}`).describe();
  console.log('history', d.historyLength);
  await worker.close();
  await temporal.stop?.();
  process.exit(0);
}
void main();
