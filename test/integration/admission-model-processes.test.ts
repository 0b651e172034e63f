// Model-based test of admission against real `medic coordinator` processes (fast-check
// `commands`): two replicas, each its own process, config dir and Temporal connection, take
// admissions, bursts at both at once, closes, config changes on one replica or both (so two
// configs are in use at once), restarts, and SIGKILLs of a third replica at the worst moments
// (src/failpoints.ts) followed by the orphan sweep. Four workflows: constraints with a ledger
// (concurrency + maxExecution per node and global, idempotency keys), concurrency only,
// a short window that expires within the sequence, and a disruptive one under a node lock, a
// budget and a global window of its own (all three in its one claim at the fleet ledger). Every answer must be exactly what a small reference model says (202/200/429; a 503
// fails), the ledgers must hold exactly the model's admissions and holds after every command,
// and at the end of each sequence Temporal shows exactly the model's starts (no extra
// execution). The seed is printed and fixed by MEDIC_MODEL_SEED (CI sets one per run);
// MEDIC_MODEL_PROCESS_RUNS sizes it (default 3 sequences).
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import type { Client } from '@temporalio/client';
import type { CoordinatorClient } from '../../src/client/coordinator-client';
import type { FailpointName } from '../../src/failpoints';
import { ledgerWorkflowId } from '../../src/ledger/client';
import { FLEET_LEDGER_ID, FleetLedgerClient } from '../../src/ledger/fleet/client';
import { fleetStateQuery, stateQuery } from '../../src/ledger/messages';
import { windowKey } from '../../src/ledger/state';
import type { Coordinator } from '../helpers/medic-process';
import { buildStack, type Stack } from '../helpers/stack';
import { connectClient, eventually, settledCount, temporalAddress, unique } from '../helpers/temporal';

const RUNS = Number(process.env.MEDIC_MODEL_PROCESS_RUNS ?? 3);
const SEED = Number(process.env.MEDIC_MODEL_SEED ?? Date.now() % 2 ** 31);
/** The orphan grace of the ledgers (admission.orphan_grace): a killed replica's admission holds this long. */
const GRACE_MS = 10_000;
/** The short window: one start per node per this period. */
const BRIEF_MS = 8_000;
/** The disruptive workflow's global window: starts per sequence (its period never ends within one). */
const CAREFUL_STARTS = 3;
/** A coordinator remembers a refusal (or a start that took the last slot) this long (admission refusalCacheMs). */
const REFUSAL_MEMORY_MS = 1_000;
const NODES = ['a', 'b'] as const;
type Node = (typeof NODES)[number];
type Flow = 'limited' | 'conc' | 'brief' | 'careful';

/** One config of `limited` (concurrency, maxExecution per node, maxExecution global) and of `conc` (concurrency). */
interface Config {
  concurrency: number;
  perNode: number;
  global: number;
  concOnly: number;
}

/**
 * The reference: what the constraints allow given the configs in use (the strictest governs).
 * A replica's config only ever tightens (field by field), so a config it replaced is never
 * stricter than its current one, and the moment the replaced one stops counting (a minute or two
 * after the change) cannot change an answer: the strictest in use is the minimum of the sides'.
 */
class Model {
  /** Each replica's current config. */
  readonly configs: [Config, Config];
  /** Running executions per workflow and node. */
  readonly running = new Map<string, string[]>();
  /** Starts per workflow and node (limited's windows never end within a sequence). */
  readonly starts = new Map<string, number>();
  /** The brief window's admissions per node, at the ledger's time. */
  readonly brief = new Map<Node, number[]>(NODES.map((n) => [n, []]));
  /** Idempotency key -> the execution it created. */
  readonly keys = new Map<string, string>();
  constructor(first: Config) {
    this.configs = [first, first];
  }
  strictest(field: keyof Config): number {
    return Math.min(...this.configs.map((c) => c[field]));
  }
  runningOf(flow: Flow, node?: Node): string[] {
    if (node) return this.running.get(`${flow}|${node}`) ?? [];
    return NODES.flatMap((n) => this.runningOf(flow, n));
  }
  startsOf(flow: Flow, node: Node): number {
    return this.starts.get(`${flow}|${node}`) ?? 0;
  }
  /** How many more executions of `flow` may start on `node` now. */
  capacity(flow: Flow, node: Node, now = Date.now()): number {
    switch (flow) {
      case 'limited': {
        const total = NODES.reduce((sum, n) => sum + this.startsOf('limited', n), 0);
        return Math.max(
          0,
          Math.min(
            this.strictest('concurrency') - this.runningOf('limited', node).length,
            this.strictest('perNode') - this.startsOf('limited', node),
            this.strictest('global') - total,
          ),
        );
      }
      case 'conc':
        return Math.max(0, this.strictest('concOnly') - this.runningOf('conc', node).length);
      case 'brief':
        return this.brief.get(node)!.some((at) => at > now - BRIEF_MS) ? 0 : 1;
      case 'careful':
        // One disruptive remediation per node, a budget of one per datacenter (both nodes share it), and its window.
        return this.runningOf('careful', node).length === 0 &&
          this.runningOf('careful').length === 0 &&
          NODES.reduce((sum, n) => sum + this.startsOf('careful', n), 0) < CAREFUL_STARTS
          ? 1
          : 0;
    }
  }
  admitted(flow: Flow, node: Node, workflowId: string): void {
    this.running.set(`${flow}|${node}`, [...this.runningOf(flow, node), workflowId]);
    this.starts.set(`${flow}|${node}`, this.startsOf(flow, node) + 1);
  }
  closed(workflowId: string): Flow {
    for (const [k, ids] of this.running) {
      if (!ids.includes(workflowId)) continue;
      this.running.set(
        k,
        ids.filter((id) => id !== workflowId),
      );
      return k.split('|')[0] as Flow;
    }
    throw new Error(`${workflowId} is not running in the model`);
  }
}

const limitedHcl = (c: Config): string =>
  `workflow = "ping"\ntask_queue_target = "node"\n` +
  `constraint {\n  kind = "concurrency"\n  value = "${c.concurrency}"\n  period = "1h"\n}\n` +
  `constraint {\n  kind = "maxExecution"\n  value = "${c.perNode}"\n  period = "1h"\n}\n` +
  `constraint {\n  kind = "maxExecution"\n  value = "${c.global}"\n  period = "2h"\n  is_global = true\n}\n`;
const concHcl = (c: Config): string =>
  `workflow = "ping"\ntask_queue_target = "node"\nconstraint {\n  kind = "concurrency"\n  value = "${c.concOnly}"\n  period = "1h"\n}\n`;
const briefHcl = `workflow = "ping"\ntask_queue_target = "node"\nconstraint {\n  kind = "maxExecution"\n  value = "1"\n  period = "${BRIEF_MS / 1000}s"\n}\n`;
const carefulHcl =
  'workflow = "ping"\ntask_queue_target = "node"\ndisruptive = true\n' +
  `constraint {\n  kind = "maxExecution"\n  value = "${CAREFUL_STARTS}"\n  period = "2h"\n  is_global = true\n}\n`;

/** One replica: its own config dir (so the two can run different configs) and process. */
interface Side {
  stack: Stack;
  process: Coordinator;
  api: CoordinatorClient;
}

interface Answer {
  status: number;
  body: Record<string, unknown> & { workflow_id?: string };
}

/** The system under test: two replicas, the workflow names and nodes of this sequence. */
class Real {
  readonly names: Record<Flow, string> = {
    limited: unique('limited'),
    conc: unique('conc'),
    brief: unique('brief'),
    careful: unique('careful'),
  };
  readonly budget = unique('budget');
  readonly datacenter = unique('dc');
  readonly nodes = new Map<Node, string>(NODES.map((n) => [n, unique(`node-${n}`)]));
  sides: Side[] = [];
  constructor(readonly client: Client) {}

  async side(config: Config): Promise<Side> {
    const stack = await buildStack({
      temporalAddress: temporalAddress(),
      workflows: {
        [this.names.limited]: limitedHcl(config),
        [this.names.conc]: concHcl(config),
        [this.names.brief]: briefHcl,
        [this.names.careful]: carefulHcl,
      },
      coordinatorExtra:
        `admission {\n  visibility_qps = 0\n  orphan_grace = "${GRACE_MS / 1000}s"\n}\n` +
        `budget "${this.budget}" {\n  per = "datacenter"\n  max = 1\n}\n`,
    });
    stacks.push(stack);
    const process = await stack.startReplica();
    return { stack, process, api: stack.client('admin', process.url) };
  }

  target(node: Node): Record<string, string> {
    return { node: this.nodes.get(node)!, datacenter: this.datacenter };
  }

  async trigger(side: Side, flow: Flow, node: Node, key?: string, dryRun = false): Promise<Answer> {
    const r = await side.api.request('POST', `/v1/workflows/${this.names[flow]}/executions${dryRun ? '?dry_run=true' : ''}`, {
      target: this.target(node),
      ...(key && { idempotency_key: key }),
    });
    const answer = { status: r.status, body: r.body as Answer['body'] };
    if (answer.status >= 500) throw new Error(`${flow} on ${node} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    return answer;
  }

  /** Rewrites the side's config (limited and conc) and reloads its process (SIGHUP). */
  async reconfigure(side: Side, c: Config): Promise<void> {
    const dir = path.join(side.stack.dir, 'workflows');
    fs.writeFileSync(path.join(dir, `${this.names.limited}.hcl`), limitedHcl(c));
    fs.writeFileSync(path.join(dir, `${this.names.conc}.hcl`), concHcl(c));
    const before = (side.process.proc.output().match(/configuration reloaded/g) ?? []).length;
    side.process.proc.child.kill('SIGHUP');
    await eventually(
      async () => ((side.process.proc.output().match(/configuration reloaded/g) ?? []).length > before ? true : undefined),
      30_000,
      'the replica to reload',
    );
  }

  /** Waits until a replica enforces the model's strictest values (read with dry runs, which start nothing). */
  async converged(side: Side, m: Model): Promise<void> {
    type Check = { constraint: { kind: string; value: number; is_global: boolean } };
    const checks = async (flow: Flow): Promise<Check[]> => {
      const r = await this.trigger(side, flow, 'a', undefined, true);
      return (r.body.constraints ?? (r.body.details as { constraints?: unknown[] } | undefined)?.constraints ?? []) as Check[];
    };
    const value = (list: Check[], kind: string, global: boolean): number | undefined =>
      list.find((c) => c.constraint.kind === kind && c.constraint.is_global === global)?.constraint.value;
    const want = {
      concurrency: m.strictest('concurrency'),
      perNode: m.strictest('perNode'),
      global: m.strictest('global'),
      concOnly: m.strictest('concOnly'),
    };
    await eventually(
      async () => {
        const [limited, conc] = [await checks('limited'), await checks('conc')];
        const got = {
          concurrency: value(limited, 'concurrency', false),
          perNode: value(limited, 'maxExecution', false),
          global: value(limited, 'maxExecution', true),
          concOnly: value(conc, 'concurrency', false),
        };
        return JSON.stringify(got) === JSON.stringify(want) ? true : undefined;
      },
      30_000,
      `a replica to enforce ${JSON.stringify(want)}`,
    );
  }

  ledger(flow: 'limited' | 'brief') {
    return this.client.workflow.getHandle(ledgerWorkflowId(this.names[flow])).query(stateQuery);
  }
}

type Cmd = fc.AsyncCommand<Model, Real>;

/** After every command: the ledgers hold exactly the model's admissions and holds. */
async function agree(m: Model, r: Real): Promise<void> {
  const windows = (await r.ledger('limited').catch(() => ({ windows: {} as Record<string, unknown[]> }))).windows;
  const fleet = await r.client.workflow
    .getHandle(FLEET_LEDGER_ID)
    .query(fleetStateQuery)
    .catch(() => ({
      nodes: {} as Record<string, string>,
      places: {} as Record<string, string[]>,
      workflows: undefined as undefined | Record<string, { windows: Record<string, unknown[]> }>,
    }));
  const got = {
    starts: Object.fromEntries(
      NODES.map((n) => [n, windows[windowKey('maxExecution.0', `node=${r.nodes.get(n)}`)]?.length ?? 0]),
    ),
    global: windows[windowKey('maxExecution-global.0', 'global')]?.length ?? 0,
    locks: Object.fromEntries(NODES.map((n) => [n, fleet.nodes[r.nodes.get(n)!] ?? null])),
    budget: [...(fleet.places[`${r.budget}|${r.datacenter}`] ?? [])].sort(),
    carefulStarts: fleet.workflows?.[r.names.careful]?.windows[windowKey('maxExecution-global.0', 'global')]?.length ?? 0,
  };
  expect(got).toEqual({
    starts: Object.fromEntries(NODES.map((n) => [n, m.startsOf('limited', n)])),
    global: NODES.reduce((sum, n) => sum + m.startsOf('limited', n), 0),
    locks: Object.fromEntries(NODES.map((n) => [n, m.runningOf('careful', n)[0] ?? null])),
    budget: [...m.runningOf('careful')].sort(),
    carefulStarts: NODES.reduce((sum, n) => sum + m.startsOf('careful', n), 0),
  });
}

/** Before a trigger of the brief window: no admission of it may leave its window while the trigger is decided. */
async function quiet(m: Model): Promise<void> {
  const now = Date.now();
  const edges = [...m.brief.values()].flat().map((at) => at + BRIEF_MS);
  const near = edges.filter((edge) => edge > now - 1_000 && edge < now + 4_000);
  if (near.length) await new Promise((resolve) => setTimeout(resolve, Math.max(...near) + 1_000 - now));
}

/** The ledger time of the brief window's newest admission on `node`. */
async function briefAdmission(r: Real, node: Node): Promise<number> {
  const entries = (await r.ledger('brief')).windows[windowKey('maxExecution.0', `node=${r.nodes.get(node)}`)] ?? [];
  return entries[entries.length - 1]![0];
}

class Admit implements Cmd {
  constructor(
    readonly side: number,
    readonly flow: Flow,
    readonly node: Node,
    readonly key: string | undefined,
  ) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    if (this.flow === 'brief') await quiet(m);
    const key = this.key && `${r.names.limited}-${this.key}`;
    const earlier = key ? m.keys.get(key) : undefined;
    const expected = earlier ? 200 : m.capacity(this.flow, this.node) > 0 ? 202 : 429;
    const got = await r.trigger(r.sides[this.side]!, this.flow, this.node, key);
    expect({ status: got.status, id: earlier && got.body.workflow_id }).toEqual({ status: expected, id: earlier });
    if (got.status === 202) {
      m.admitted(this.flow, this.node, got.body.workflow_id!);
      if (key) m.keys.set(key, got.body.workflow_id!);
      if (this.flow === 'brief') m.brief.get(this.node)!.push(await briefAdmission(r, this.node));
    }
    await agree(m, r);
  }
  toString = (): string => `admit(${this.flow} on ${this.node} via c${this.side}${this.key ? `, key ${this.key}` : ''})`;
}

class Burst implements Cmd {
  constructor(
    readonly flow: Exclude<Flow, 'brief'>,
    readonly node: Node,
    readonly size: number,
  ) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    const capacity = m.capacity(this.flow, this.node);
    const got = await Promise.all(Array.from({ length: this.size }, (_, i) => r.trigger(r.sides[i % 2]!, this.flow, this.node)));
    expect(got.filter((g) => g.status !== 202 && g.status !== 429)).toEqual([]);
    const started = got.filter((g) => g.status === 202);
    // Exact: every caller the constraints have room for starts, the others are refused.
    expect(started.length).toBe(Math.min(this.size, capacity));
    for (const g of started) m.admitted(this.flow, this.node, g.body.workflow_id!);
    await agree(m, r);
  }
  toString = (): string => `burst(${this.flow} on ${this.node} x${this.size})`;
}

class Close implements Cmd {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>): boolean => [...m.running.values()].some((ids) => ids.length > 0);
  async run(m: Model, r: Real): Promise<void> {
    const all = [...m.running.values()].flat();
    const id = all[this.pick % all.length]!;
    await r.client.workflow.getHandle(id).terminate('model: close');
    const flow = m.closed(id);
    if (flow === 'careful') {
      // What a trigger refused by this hold does: it looks at the holder, finds it closed and ends
      // its hold. The sweep alone looks again at a hold it has seen running only every 5 minutes
      // (RECHECK_MS), longer than this wait (seed 1796609608 hit it after a restart).
      await new FleetLedgerClient(
        () => {},
        () => [],
      ).release(r.client, [id]);
      await eventually(
        async () => {
          const s = await r.client.workflow.getHandle(FLEET_LEDGER_ID).query(fleetStateQuery);
          return Object.values(s.nodes).includes(id) ? undefined : true;
        },
        60_000,
        'the fleet ledger to free the closed execution',
      );
    }
    // What a replica remembers of a refusal (or of a start that took the last slot) lasts this long.
    await new Promise((resolve) => setTimeout(resolve, REFUSAL_MEMORY_MS + 100));
    await agree(m, r);
  }
  toString = (): string => `close(#${this.pick})`;
}

class Reconfigure implements Cmd {
  constructor(
    readonly which: 0 | 1 | 'both',
    readonly config: Config,
  ) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    for (const i of this.which === 'both' ? [0, 1] : [this.which]) {
      const now = m.configs[i]!;
      const next = Object.fromEntries(
        Object.entries(this.config).map(([k, v]) => [k, Math.min(v, now[k as keyof Config])]),
      ) as unknown as Config;
      m.configs[i] = next;
      await r.reconfigure(r.sides[i]!, next);
    }
    for (const s of r.sides) await r.converged(s, m);
  }
  toString = (): string => `reconfigure(${this.which}, ${JSON.stringify(this.config)})`;
}

class Restart implements Cmd {
  constructor(readonly side: number) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    const s = r.sides[this.side]!;
    await s.process.proc.stop();
    s.api.close();
    s.process = await s.stack.startReplica();
    s.api = s.stack.client('admin', s.process.url);
    await r.converged(s, m);
  }
  toString = (): string => `restart(c${this.side})`;
}

/** A third replica (side 0's config) takes one trigger, stops at `at` and is SIGKILLed there. */
class Kill implements Cmd {
  constructor(
    readonly at: FailpointName,
    readonly node: Node,
  ) {}
  get flow(): Flow {
    return this.at === 'fleet.after_claim' ? 'careful' : 'limited';
  }
  // Only an admission that would pass reaches the failpoint.
  check = (m: Readonly<Model>): boolean => (m as Model).capacity(this.flow, this.node) > 0;
  async run(m: Model, r: Real): Promise<void> {
    const victim = await r.sides[0]!.stack.startReplica({ MEDIC_FAILPOINTS: this.at });
    const api = r.sides[0]!.stack.client('admin', victim.url);
    const answer = api.request('POST', `/v1/workflows/${r.names[this.flow]}/executions`, { target: r.target(this.node) }).then(
      (x) => x,
      (err: Error) => err,
    );
    await victim.proc.waitFor(new RegExp(`^medic failpoint ${this.at.replace('.', '\\.')} reached$`, 'm'), 60_000);
    process.kill(victim.proc.pid, 'SIGKILL');
    expect(await victim.proc.exited).toBe('SIGKILL');
    expect(await answer).toBeInstanceOf(Error);
    api.close();
    if (this.at === 'admission.after_start') {
      // The execution runs: it is a start the caller never heard of, and it counts.
      const query = `MedicWorkflow = '${r.names.limited}' AND MedicNode = '${r.nodes.get(this.node)}' AND ExecutionStatus = 'Running'`;
      const running = m.runningOf('limited', this.node).length + 1;
      expect(await settledCount(r.client, query)).toBe(running);
      const ids: string[] = [];
      for await (const e of r.client.workflow.list({ query })) ids.push(e.workflowId);
      const fresh = ids.filter((id) => !m.runningOf('limited', this.node).includes(id));
      expect(fresh).toHaveLength(1);
      m.admitted('limited', this.node, fresh[0]!);
    } else if (this.at === 'admission.after_ledger_admit') {
      // The orphan holds its place until the sweep has judged it (one grace after it was made).
      await eventually(
        async () => (Object.keys((await r.ledger('limited')).unconfirmed).length === 0 ? true : undefined),
        GRACE_MS + 60_000,
        'the orphan sweep to judge every admission',
      );
    } else {
      // The fleet ledger is the namespace's: its grace is that of the coordinator that started it.
      const { orphanGraceMs } = await r.client.workflow.getHandle(FLEET_LEDGER_ID).query(fleetStateQuery);
      await eventually(
        async () => {
          const s = await r.client.workflow.getHandle(FLEET_LEDGER_ID).query(fleetStateQuery);
          return s.nodes[r.nodes.get(this.node)!] === undefined ? true : undefined;
        },
        orphanGraceMs + 90_000,
        'the fleet ledger to free the orphan hold',
      );
    }
    await agree(m, r);
  }
  toString = (): string => `kill(at ${this.at}, ${this.flow} on ${this.node})`;
}

const config: fc.Arbitrary<Config> = fc.record({
  concurrency: fc.integer({ min: 1, max: 3 }),
  perNode: fc.integer({ min: 1, max: 4 }),
  global: fc.integer({ min: 1, max: 6 }),
  concOnly: fc.integer({ min: 1, max: 3 }),
});
const node = fc.constantFrom<Node>(...NODES);
const side = fc.integer({ min: 0, max: 1 });
const commands = fc.commands(
  [
    fc
      .tuple(
        side,
        fc.constantFrom<Flow>('limited', 'limited', 'conc', 'brief', 'careful'),
        node,
        fc.option(fc.constantFrom('k1', 'k2'), { freq: 3 }),
      )
      .map(([s, f, n, k]) => new Admit(s, f, n, f === 'limited' ? (k ?? undefined) : undefined)),
    fc
      .tuple(fc.constantFrom<Exclude<Flow, 'brief'>>('limited', 'conc', 'careful'), node, fc.integer({ min: 2, max: 4 }))
      .map(([f, n, k]) => new Burst(f, n, k)),
    fc.nat().map((i) => new Close(i)),
    fc.tuple(fc.constantFrom<0 | 1 | 'both'>(0, 1, 'both'), config).map(([w, c]) => new Reconfigure(w, c)),
    side.map((s) => new Restart(s)),
    fc
      .tuple(fc.constantFrom<FailpointName>('admission.after_ledger_admit', 'admission.after_start', 'fleet.after_claim'), node)
      .map(([at, n]) => new Kill(at, n)),
  ],
  { maxCommands: 10 },
);

let client: Client;
let closeClient: () => Promise<void>;
const stacks: Stack[] = [];
const everyReal: Real[] = [];

beforeAll(async () => {
  ({ client, close: closeClient } = await connectClient());
});

afterAll(async () => {
  for (const real of everyReal) {
    const query = Object.values(real.names)
      .map((n) => `MedicWorkflow = '${n}'`)
      .join(' OR ');
    const ids: string[] = [];
    for await (const e of client.workflow.list({ query: `(${query}) AND ExecutionStatus = 'Running'` })) ids.push(e.workflowId);
    await Promise.all(
      ids.map((id) =>
        client.workflow
          .getHandle(id)
          .terminate('model test done')
          .catch(() => undefined),
      ),
    );
  }
  await Promise.all(stacks.map((s) => s.stop()));
  await closeClient();
});

it(`admission by two coordinator processes agrees with the reference model over ${RUNS} random sequences (seed ${SEED})`, async () => {
  process.stderr.write(
    `[admission-model-processes] seed ${SEED} (MEDIC_MODEL_SEED=${SEED} repeats this run), ${RUNS} sequences\n`,
  );
  await fc.assert(
    fc.asyncProperty(config, commands, async (first, cmds) => {
      const real = new Real(client);
      everyReal.push(real);
      const model = new Model(first);
      real.sides = [await real.side(first), await real.side(first)];
      const t0 = Date.now();
      try {
        await fc.asyncModelRun(() => ({ model, real }), cmds);
        process.stderr.write(`[admission-model-processes] ${Date.now() - t0} ms: ${cmds.toString()}\n`);
        // Temporal shows exactly the model's starts: no execution began that no caller was answered for.
        for (const flow of ['limited', 'conc', 'brief', 'careful'] as const) {
          const want = NODES.reduce((sum, n) => sum + model.startsOf(flow, n), 0);
          expect({ flow, started: await settledCount(client, `MedicWorkflow = '${real.names[flow]}'`) }).toEqual({
            flow,
            started: want,
          });
        }
      } finally {
        for (const s of real.sides) s.api.close();
        await Promise.all(real.sides.map((s) => s.process.proc.stop()));
      }
    }),
    { numRuns: RUNS, seed: SEED, verbose: 1 },
  );
}, 1_800_000);
