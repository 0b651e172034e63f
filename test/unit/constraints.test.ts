import { constraintKey, type Constraint } from '../../src/config/workflow';
import {
  admissionOrder,
  describeConstraint,
  leaseWorkflowId,
  refusalRetryAfter,
  retryAfterSeconds,
  HELD_RETRY_AFTER_S,
  scopeOf,
  slotWorkflowId,
  unusedTargetField,
  visibilityQuery,
} from '../../src/admission/constraints';
import type { QueueTarget } from '../../src/naming/task-queues';
import { TokenBucket } from '../../src/coordinator/admission';

const c = (kind: Constraint['kind'], value: number, periodMs: number, isGlobal = false): Constraint => ({
  kind,
  value,
  periodMs,
  isGlobal,
});
const NOW = Date.parse('2030-01-01T12:00:00Z');

describe('scopeOf', () => {
  it.each<[string, Constraint, QueueTarget, object, string]>([
    ['node workflow: the node', c('concurrency', 1, 60_000), 'node', { node: 'h1', datacenter: 'dc1' }, 'node=h1'],
    [
      'general workflow: the datacenter, whatever else the target names',
      c('concurrency', 1, 60_000),
      'general',
      { datacenter: 'dc1', node: 'a' },
      'datacenter=dc1',
    ],
    [
      'node_type workflow: datacenter and node type',
      c('concurrency', 1, 60_000),
      'node_type',
      { datacenter: 'dc1', node_type: 'db', node: 'x' },
      'datacenter=dc1,node_type=db',
    ],
    ['global: every target', c('maxExecution', 3, 86_400_000, true), 'node', { node: 'h1' }, 'global'],
  ])('%s', (_d, constraint, qt, target, key) => expect(scopeOf(constraint, qt, target).key).toBe(key));

  it('three general triggers differing only in node share one scope (issue 11, point 1)', () => {
    const k = c('concurrency', 1, 60_000);
    const keys = [{ datacenter: 'dc1' }, { datacenter: 'dc1', node: 'a' }, { datacenter: 'dc1', node: 'b' }].map(
      (t) => scopeOf(k, 'general', t).key,
    );
    expect(new Set(keys).size).toBe(1);
  });
});

describe('unusedTargetField', () => {
  it.each<[string, QueueTarget, object, string | undefined]>([
    ['ping', 'general', { datacenter: 'dc1', node: 'a' }, 'node'],
    ['ping', 'node_type', { datacenter: 'dc1', node_type: 'db', node: 'a' }, 'node'],
    ['rebootNode', 'general', { datacenter: 'dc1', node: 'a' }, undefined],
    ['cleanDisk', 'node', { node: 'a', datacenter: 'dc1', node_type: 'db' }, undefined],
    ['ping', 'general', { datacenter: 'dc1', node_type: 'db' }, undefined],
  ])('%s on %s with %j: %s', (type, qt, target, field) => expect(unusedTargetField(type, qt, target)).toBe(field));
});

describe('constraintKey', () => {
  it('names a constraint by kind, scope and rank, not by period or value', () => {
    const short = c('maxExecution', 1, 3_600_000);
    const long = c('maxExecution', 3, 86_400_000);
    const g = c('maxExecution', 3, 86_400_000, true);
    expect([short, long, g].map((x) => constraintKey(x, [long, g, short]))).toEqual([
      'maxExecution.0',
      'maxExecution.1',
      'maxExecution-global.0',
    ]);
    const changed = c('maxExecution', 2, 2 * 3_600_000);
    expect(constraintKey(changed, [changed])).toBe(constraintKey(short, [short]));
  });
});

describe('visibilityQuery', () => {
  it('counts running executions of the workflow on the node started within the period, for concurrency', () => {
    const q = visibilityQuery(
      'cleanDisk',
      c('concurrency', 1, 15 * 60_000),
      scopeOf(c('concurrency', 1, 1), 'node', { node: 'h1' }),
      NOW,
    );
    expect(q).toBe(
      "MedicWorkflow = 'cleanDisk' AND MedicNode = 'h1' AND StartTime > '2030-01-01T11:45:00.000Z' AND ExecutionStatus = 'Running'",
    );
  });

  it('counts every status for maxExecution, across targets when global', () => {
    const g = c('maxExecution', 3, 86_400_000, true);
    expect(visibilityQuery('rebootNode', g, scopeOf(g, 'node', { node: 'h1' }), NOW)).toBe(
      "MedicWorkflow = 'rebootNode' AND StartTime > '2029-12-31T12:00:00.000Z'",
    );
  });

  it('scopes node-less targets by datacenter', () => {
    const t = c('maxExecution', 1, 60_000);
    expect(visibilityQuery('w', t, scopeOf(t, 'general', { datacenter: 'dc1' }), NOW)).toContain("MedicDatacenter = 'dc1'");
  });

  it('refuses values that could change the query', () => {
    const t = c('maxExecution', 1, 60_000);
    expect(() => visibilityQuery('w', t, scopeOf(t, 'node', { node: "h1' OR '1'='1" }), NOW)).toThrow(/cannot be used/);
  });
});

describe('slot ids', () => {
  it('differ by workflow, scope, constraint and slot, and never name a period or value', () => {
    const a = c('maxExecution', 2, 60_000);
    const s1 = scopeOf(a, 'node', { node: 'h1' });
    const ids = new Set([
      leaseWorkflowId('w', 'maxExecution.0', s1, 0),
      leaseWorkflowId('w', 'maxExecution.0', s1, 1),
      leaseWorkflowId('w', 'maxExecution.0', scopeOf(a, 'node', { node: 'h2' }), 0),
      leaseWorkflowId('v', 'maxExecution.0', s1, 0),
      leaseWorkflowId('w', 'maxExecution.1', s1, 0),
      slotWorkflowId('w', s1, 0),
    ]);
    expect(ids.size).toBe(6);
    expect(leaseWorkflowId('w', 'maxExecution.0', s1, 1)).toBe('medic-lease:w:node=h1:maxExecution.0:1');
    expect(slotWorkflowId('w', s1, 1)).toBe('w:node=h1:slot-1');
  });
});

describe('slot arithmetic', () => {
  it('Retry-After is the whole seconds until the earliest slot frees, at least 1', () => {
    expect(retryAfterSeconds([NOW + 90_500, NOW + 30_000], NOW)).toBe(30);
    expect(retryAfterSeconds([NOW + 1_001], NOW)).toBe(2);
    expect(retryAfterSeconds([NOW - 5_000], NOW)).toBe(1);
    expect(retryAfterSeconds([], NOW)).toBe(1);
  });

  it('a concurrency refusal asks again within HELD_RETRY_AFTER_S (a holder may close any moment); a window at its end', () => {
    const times = [NOW + 15 * 60_000];
    expect(refusalRetryAfter({ kind: 'concurrency' }, times, NOW)).toBe(HELD_RETRY_AFTER_S);
    expect(refusalRetryAfter({ kind: 'concurrency' }, [NOW + 5_000], NOW)).toBe(5);
    expect(refusalRetryAfter({ kind: 'maxExecution' }, times, NOW)).toBe(900);
  });

  it('takes per-target leases before global ones, concurrency before maxExecution', () => {
    const order = admissionOrder([
      c('maxExecution', 3, 1, true),
      c('maxExecution', 1, 1),
      c('concurrency', 1, 1, true),
      c('concurrency', 1, 1),
    ]);
    expect(order.map(describeConstraint)).toEqual([
      'concurrency 1/1ms per target',
      'maxExecution 1/1ms per target',
      'concurrency 1/1ms global',
      'maxExecution 3/1ms global',
    ]);
  });
});

describe('TokenBucket', () => {
  it('allows a burst of `rate`, then `rate` per second', () => {
    const b = new TokenBucket(2, 0);
    expect([b.take(0), b.take(0), b.take(0)]).toEqual([true, true, false]);
    expect(b.take(499)).toBe(false);
    expect(b.take(500)).toBe(true);
  });

  it('allows nothing at rate 0', () => {
    expect(new TokenBucket(0, 0).take(10_000)).toBe(false);
  });
});
