import type { Constraint } from '../../src/config/workflow';
import {
  admissionOrder,
  describeConstraint,
  leaseWorkflowId,
  retryAfterSeconds,
  scopeOf,
  slotOrder,
  visibilityQuery,
} from '../../src/coordinator/constraints';
import { TokenBucket } from '../../src/coordinator/admission';

const c = (kind: Constraint['kind'], value: number, periodMs: number, isGlobal = false): Constraint => ({
  kind,
  value,
  periodMs,
  isGlobal,
});
const NOW = Date.parse('2030-01-01T12:00:00Z');

describe('scopeOf', () => {
  it.each<[string, Constraint, object, string]>([
    ['per target with a node: the node', c('concurrency', 1, 60_000), { node: 'h1', datacenter: 'dc1' }, 'node=h1'],
    [
      'per target without a node: the datacenter',
      c('concurrency', 1, 60_000),
      { datacenter: 'dc1', node_type: 'db' },
      'datacenter=dc1',
    ],
    ['global: every target', c('maxExecution', 3, 86_400_000, true), { node: 'h1' }, 'global'],
  ])('%s', (_d, constraint, target, key) => expect(scopeOf(constraint, target).key).toBe(key));
});

describe('visibilityQuery', () => {
  it('counts running executions of the workflow on the node started within the period, for concurrency', () => {
    const q = visibilityQuery(
      'cleanDisk',
      c('concurrency', 1, 15 * 60_000),
      scopeOf(c('concurrency', 1, 1), { node: 'h1' }),
      NOW,
    );
    expect(q).toBe(
      "MedicWorkflow = 'cleanDisk' AND MedicNode = 'h1' AND StartTime > '2030-01-01T11:45:00.000Z' AND ExecutionStatus = 'Running'",
    );
  });

  it('counts every status for maxExecution, across targets when global', () => {
    const g = c('maxExecution', 3, 86_400_000, true);
    expect(visibilityQuery('rebootNode', g, scopeOf(g, { node: 'h1' }), NOW)).toBe(
      "MedicWorkflow = 'rebootNode' AND StartTime > '2029-12-31T12:00:00.000Z'",
    );
  });

  it('scopes node-less targets by datacenter', () => {
    const t = c('maxExecution', 1, 60_000);
    expect(visibilityQuery('w', t, scopeOf(t, { datacenter: 'dc1' }), NOW)).toContain("MedicDatacenter = 'dc1'");
  });

  it('refuses values that could change the query', () => {
    const t = c('maxExecution', 1, 60_000);
    expect(() => visibilityQuery('w', t, scopeOf(t, { node: "h1' OR '1'='1" }), NOW)).toThrow(/cannot be used/);
  });
});

describe('leaseWorkflowId', () => {
  it('differs by workflow, scope, kind, period and slot', () => {
    const a = c('concurrency', 2, 60_000);
    const ids = new Set([
      leaseWorkflowId('w', a, scopeOf(a, { node: 'h1' }), 0),
      leaseWorkflowId('w', a, scopeOf(a, { node: 'h1' }), 1),
      leaseWorkflowId('w', a, scopeOf(a, { node: 'h2' }), 0),
      leaseWorkflowId('v', a, scopeOf(a, { node: 'h1' }), 0),
      leaseWorkflowId('w', c('maxExecution', 2, 60_000), scopeOf(a, { node: 'h1' }), 0),
      leaseWorkflowId('w', c('concurrency', 2, 120_000), scopeOf(a, { node: 'h1' }), 0),
    ]);
    expect(ids.size).toBe(6);
    expect(leaseWorkflowId('w', a, scopeOf(a, { node: 'h1' }), 1)).toBe('medic-lease:w:node=h1:concurrency:60000:1');
  });
});

describe('slot arithmetic', () => {
  it('tries every slot once, from the starting point', () => {
    expect(slotOrder(3, 4)).toEqual([1, 2, 0]);
    expect(slotOrder(1, 99)).toEqual([0]);
  });

  it('Retry-After is the whole seconds until the earliest slot frees, at least 1', () => {
    expect(retryAfterSeconds([NOW + 90_500, NOW + 30_000], NOW)).toBe(30);
    expect(retryAfterSeconds([NOW + 1_001], NOW)).toBe(2);
    expect(retryAfterSeconds([NOW - 5_000], NOW)).toBe(1);
    expect(retryAfterSeconds([], NOW)).toBe(1);
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
