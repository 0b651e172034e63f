// Model-based test of admission (fast-check `commands`), in-process: random sequences of
// admissions, bursts, closes, config changes (loosening too), restarts and lost replies (a client
// interceptor drops the reply of a start or a ledger update) run against two coordinator apps in
// this process and the real dev server (admission-model-processes.test.ts runs real processes
// with SIGKILLs), and every answer is checked against a small reference
// model of the constraints. After every command the slots and leases Temporal holds must match
// the model exactly (no double run, no leaked or missing slot). A divergence fails with the
// shrunk sequence printed. MEDIC_MODEL_RUNS sizes it (default 30 sequences for CI; run it with 300).
import fc from 'fast-check';
import type { Client, WorkflowClientInterceptor } from '@temporalio/client';
import type { WorkflowConfig } from '../../src/config/workflow';
import { LiveConfig } from '../../src/coordinator/live-config';
import { TemporalGateway } from '../../src/temporal/gateway';
import { ledgerWorkflowId } from '../../src/ledger/client';
import { windowKey } from '../../src/ledger/state';
import { stateQuery } from '../../src/ledger/messages';
import {
  constraint,
  coordinatorConfig,
  testCoordinator,
  trigger,
  workflowConfig,
  type TestCoordinator,
} from '../helpers/coordinator';
import { connectClient, eventually, unique } from '../helpers/temporal';

const MIN = 60_000;
const RUNS = Number(process.env.MEDIC_MODEL_RUNS ?? 30);
const SEED = Number(process.env.MEDIC_MODEL_SEED ?? Date.now() % 2 ** 31);
const NODES = ['a', 'b'] as const;
type Node = (typeof NODES)[number];

/** One config of the workflow under test: concurrency and maxExecution per node, maxExecution over all nodes. */
interface Config {
  concurrency: number;
  perNode: number;
  global: number;
  periodMs: number;
}

/** The reference: what the constraints allow, given every config announced so far (the strictest governs). */
class Model {
  readonly configs: Config[];
  readonly running = new Map<Node, string[]>(NODES.map((n) => [n, []]));
  readonly starts = new Map<Node, number>(NODES.map((n) => [n, 0]));
  constructor(first: Config) {
    this.configs = [first];
  }
  get current(): Config {
    return this.configs[this.configs.length - 1]!;
  }
  strictest(field: 'concurrency' | 'perNode' | 'global'): number {
    return Math.min(...this.configs.map((c) => c[field]));
  }
  /** How many more executions the node may start now. */
  capacity(node: Node): number {
    const total = [...this.starts.values()].reduce((a, b) => a + b, 0);
    return Math.max(
      0,
      Math.min(
        this.strictest('concurrency') - this.running.get(node)!.length,
        this.strictest('perNode') - this.starts.get(node)!,
        this.strictest('global') - total,
      ),
    );
  }
  admitted(node: Node, workflowId: string): void {
    this.running.get(node)!.push(workflowId);
    this.starts.set(node, this.starts.get(node)! + 1);
  }
}

/** The system under test: two coordinators (sharing one Temporal connection) and the workflow's name. */
class Real {
  readonly name = unique('model');
  readonly nodes = new Map<Node, string>(NODES.map((n) => [n, unique(`node-${n}`)]));
  coordinators: TestCoordinator[] = [];
  constructor(
    readonly temporal: TemporalGateway,
    readonly client: Client,
  ) {}
  workflow(c: Config): WorkflowConfig {
    return workflowConfig(this.name, {
      constraints: [
        constraint('concurrency', c.concurrency, c.periodMs),
        constraint('maxExecution', c.perNode, c.periodMs),
        constraint('maxExecution', c.global, c.periodMs * 2, true),
      ],
    });
  }
  async coordinator(c: Config): Promise<TestCoordinator> {
    const coordinator = await testCoordinator([this.workflow(c)], {
      temporal: this.temporal,
      config: { admission: { visibilityQps: 0 } },
      // No remembered refusals (the model has no clock); configs read back every 100 ms.
      deps: { admission: { startMarginMs: 1_000, refusalCacheMs: 0 }, configs: { refreshMs: 100 }, reconcileIntervalMs: 0 },
    });
    // Started: its config is announced (as a replica's is before its first decision).
    await coordinator.app.configsInUse.syncOnce();
    return { ...coordinator, close: () => coordinator.app.close() };
  }
  /** Waits until a coordinator enforces the strictest values of the model (its ledger's answer was read). */
  async converged(c: TestCoordinator, model: Model): Promise<void> {
    const wf = this.workflow(model.current);
    await c.app.configsInUse.syncOnce();
    await eventually(
      async () => {
        const conc = c.app.configsInUse.effective(wf, wf.constraints[0]!)?.value;
        const [perNode, global] = (await this.temporal.withDeadline((client) => c.app.admissionLedger.announce(client, wf)))
          .filter((e) => e.kind === 'maxExecution')
          .map((e) => e.value);
        const ok =
          conc === model.strictest('concurrency') &&
          perNode === model.strictest('perNode') &&
          global === model.strictest('global');
        if (!ok) await c.app.configsInUse.syncOnce();
        return ok ? true : undefined;
      },
      15_000,
      'a coordinator to read every announced config',
    );
  }
  async admit(coordinator: number, node: Node): Promise<{ status: number; workflowId?: string }> {
    const r = await trigger(this.coordinators[coordinator]!.app, this.name, { target: { node: this.nodes.get(node) } });
    return { status: r.statusCode, workflowId: r.statusCode === 202 ? r.json().workflow_id : undefined };
  }
  async running(ids: string[]): Promise<number> {
    const states = await Promise.all(ids.map((id) => this.client.workflow.getHandle(id).describe()));
    return states.filter((d) => d.status.name === 'RUNNING').length;
  }
  /** Running executions and leases under the ids admission uses, per node and overall. */
  async held(model: Model): Promise<{ running: Record<string, number>; starts: Record<string, number>; global: number }> {
    const slots = Math.max(...model.configs.map((c) => Math.max(c.concurrency, c.perNode, c.global)));
    const count = async (id: (i: number) => string): Promise<number> => {
      const found = await Promise.all(
        Array.from({ length: slots }, (_, i) =>
          this.client.workflow
            .getHandle(id(i))
            .describe()
            .then((d) => d.status.name === 'RUNNING')
            .catch(() => false),
        ),
      );
      return found.filter(Boolean).length;
    };
    const running: Record<string, number> = {};
    const starts: Record<string, number> = {};
    // The maxExecution windows are the ledger's: every admission it holds (the model's periods never end).
    const { windows } = await this.client.workflow.getHandle(ledgerWorkflowId(this.name)).query(stateQuery);
    const admissions = (window: string): number => windows[window]?.length ?? 0;
    for (const n of NODES) {
      const node = this.nodes.get(n)!;
      running[n] = await count((i) => `${this.name}:node=${node}:slot-${i}`);
      starts[n] = admissions(windowKey('maxExecution.0', `node=${node}`));
    }
    const global = admissions(windowKey('maxExecution-global.0', 'global'));
    return { running, starts, global };
  }
}

type Cmd = fc.AsyncCommand<Model, Real>;

/** After every command: Temporal holds exactly what the model says. */
async function agree(m: Model, r: Real): Promise<void> {
  const held = await r.held(m);
  expect(held).toEqual({
    running: Object.fromEntries(NODES.map((n) => [n, m.running.get(n)!.length])),
    starts: Object.fromEntries(NODES.map((n) => [n, m.starts.get(n)!])),
    global: [...m.starts.values()].reduce((a, b) => a + b, 0),
  });
}

/** Replies to lose: of the next execution start, and of the next ledger admission. */
let drop = 0;
let dropLedger = 0;
const lost = (): Error => Object.assign(new Error('13 INTERNAL: reply lost (test)'), { code: 13, details: 'reply lost (test)' });
const lose: WorkflowClientInterceptor = {
  async start(input, next) {
    const runId = await next(input);
    if (drop > 0) {
      drop--;
      throw lost();
    }
    return runId;
  },
  async startUpdateWithStart(input, next) {
    const out = await next(input);
    if (dropLedger > 0 && input.updateName === 'admit') {
      dropLedger--;
      throw lost();
    }
    return out;
  },
};

class Admit implements Cmd {
  constructor(
    readonly coordinator: number,
    readonly node: Node,
    readonly lostReply: 'none' | 'start' | 'ledger',
  ) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    const expected = m.capacity(this.node) > 0 ? 202 : 429;
    drop = this.lostReply === 'start' ? 1 : 0;
    dropLedger = this.lostReply === 'ledger' ? 1 : 0;
    const got = await r.admit(this.coordinator, this.node);
    drop = dropLedger = 0;
    expect(got.status).toBe(expected);
    if (got.workflowId) m.admitted(this.node, got.workflowId);
    await agree(m, r);
  }
  toString = (): string =>
    `admit(${this.node} via c${this.coordinator}${this.lostReply === 'none' ? '' : `, ${this.lostReply} reply lost`})`;
}

class Burst implements Cmd {
  constructor(
    readonly node: Node,
    readonly size: number,
  ) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    const capacity = m.capacity(this.node);
    const got = await Promise.all(Array.from({ length: this.size }, (_, i) => r.admit(i % 2, this.node)));
    const started = got.filter((g) => g.status === 202);
    expect(got.every((g) => g.status === 202 || g.status === 429)).toBe(true);
    // Exact: every caller the constraints have room for starts, the others are refused.
    expect(started.length).toBe(Math.min(this.size, capacity));
    for (const g of started) m.admitted(this.node, g.workflowId!);
    await agree(m, r);
  }
  toString = (): string => `burst(${this.node} x${this.size})`;
}

class Close implements Cmd {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>): boolean => [...m.running.values()].some((ids) => ids.length > 0);
  async run(m: Model, r: Real): Promise<void> {
    const all = NODES.flatMap((n) => m.running.get(n)!.map((id) => [n, id] as const));
    const [node, id] = all[this.pick % all.length]!;
    await r.client.workflow.getHandle(id).terminate('model: close');
    m.running.set(
      node,
      m.running.get(node)!.filter((x) => x !== id),
    );
    await agree(m, r);
  }
  toString = (): string => `close(#${this.pick})`;
}

class Reconfigure implements Cmd {
  constructor(readonly config: Config) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    m.configs.push(this.config);
    const wf = r.workflow(this.config);
    for (const c of r.coordinators) {
      c.live.swap(LiveConfig.build(c.live.current.coordinator, new Map([[wf.name, wf]])));
      await c.app.configsInUse.syncOnce();
    }
    for (const c of r.coordinators) await r.converged(c, m);
  }
  toString = (): string => `reconfigure(${JSON.stringify(this.config)})`;
}

class Restart implements Cmd {
  constructor(readonly coordinator: number) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    await r.coordinators[this.coordinator]!.close();
    const fresh = await r.coordinator(m.current);
    r.coordinators[this.coordinator] = fresh;
    // A restart takes longer than visibility's indexing lag: the new process reads every announced config.
    await r.converged(fresh, m);
  }
  toString = (): string => `restart(c${this.coordinator})`;
}

const config: fc.Arbitrary<Config> = fc.record({
  concurrency: fc.integer({ min: 1, max: 3 }),
  perNode: fc.integer({ min: 1, max: 4 }),
  global: fc.integer({ min: 1, max: 6 }),
  periodMs: fc.constantFrom(60 * MIN, 120 * MIN),
});
const node = fc.constantFrom<Node>(...NODES);
const commands = fc.commands(
  [
    fc
      .tuple(
        fc.integer({ min: 0, max: 1 }),
        node,
        fc.constantFrom('none', 'start', 'ledger') as fc.Arbitrary<'none' | 'start' | 'ledger'>,
      )
      .map(([c, n, lost]) => new Admit(c, n, lost)),
    fc.tuple(node, fc.integer({ min: 2, max: 4 })).map(([n, k]) => new Burst(n, k)),
    fc.nat().map((i) => new Close(i)),
    config.map((c) => new Reconfigure(c)),
    fc.integer({ min: 0, max: 1 }).map((c) => new Restart(c)),
  ],
  { maxCommands: 12 },
);

let client: Client;
let closeClient: () => Promise<void>;
let temporal: TemporalGateway;
const everyName: string[] = [];

beforeAll(async () => {
  ({ client, close: closeClient } = await connectClient());
  temporal = await TemporalGateway.connect(coordinatorConfig().temporal, { interceptors: { workflow: [lose] } });
});

afterAll(async () => {
  for (const name of everyName) {
    const ids: string[] = [];
    for await (const e of client.workflow.list({ query: `WorkflowId STARTS_WITH '${name}' AND ExecutionStatus = 'Running'` }))
      ids.push(e.workflowId);
    await Promise.all(
      ids.map((id) =>
        client.workflow
          .getHandle(id)
          .terminate('model test done')
          .catch(() => undefined),
      ),
    );
  }
  await temporal.close();
  await closeClient();
});

it(`admission agrees with the reference model over ${RUNS} random sequences (seed ${SEED})`, async () => {
  process.stderr.write(`[admission-model] seed ${SEED} (MEDIC_MODEL_SEED=${SEED} repeats this run), ${RUNS} sequences\n`);
  await fc.assert(
    fc.asyncProperty(config, commands, async (first, cmds) => {
      const real = new Real(temporal, client);
      everyName.push(real.name);
      const model = new Model(first);
      real.coordinators = [await real.coordinator(first), await real.coordinator(first)];
      try {
        await fc.asyncModelRun(() => ({ model, real }), cmds);
      } finally {
        await Promise.all(real.coordinators.map((c) => c.close()));
      }
    }),
    { numRuns: RUNS, seed: SEED, verbose: 1 },
  );
}, 900_000);
