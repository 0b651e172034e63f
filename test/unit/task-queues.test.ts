import { generalQueue, invalidName, nodeQueue, nodeTypeQueue, queueFor, workerQueues } from '../../src/naming/task-queues';

describe('task-queue names', () => {
  it('names the general, node-type and node queues as DESIGN.md says', () => {
    expect(generalQueue('ams1')).toBe('medic:ams1');
    expect(nodeTypeQueue('ams1', 'db')).toBe('medic:ams1:db');
    expect(nodeQueue('host1.ams1')).toBe('medic:node:host1.ams1');
    expect(workerQueues('ams1', 'db', 'host1')).toEqual(['medic:ams1', 'medic:ams1:db', 'medic:node:host1']);
  });

  it.each([
    ['general', { datacenter: 'ams1' }, 'medic:ams1'],
    ['node_type', { datacenter: 'ams1', node_type: 'db' }, 'medic:ams1:db'],
    ['node', { node: 'h1' }, 'medic:node:h1'],
    ['node', { node: 'h1', datacenter: 'ams1', node_type: 'db' }, 'medic:node:h1'],
  ] as const)('routes a %s target %j to %s', (kind, target, queue) => {
    expect(queueFor(kind, target)).toEqual({ ok: true, queue });
  });

  it.each([
    ['general', {}, ['datacenter']],
    ['node_type', { datacenter: 'ams1' }, ['node_type']],
    ['node_type', {}, ['datacenter', 'node_type']],
    ['node', { datacenter: 'ams1' }, ['node']],
  ] as const)('says what a %s target %j is missing', (kind, target, missing) => {
    const choice = queueFor(kind, target);
    expect(choice.ok).toBe(false);
    if (!choice.ok) {
      expect(choice.missing).toEqual(missing);
      for (const f of missing) expect(choice.message).toContain(`target.${f}`);
    }
  });

  it('refuses names that could forge another queue', () => {
    expect(queueFor('node', { node: 'a:b' }).ok).toBe(false);
    expect(queueFor('general', { datacenter: 'node' }).ok).toBe(false);
    expect(queueFor('node_type', { datacenter: 'dc', node_type: 'x:y' }).ok).toBe(false);
    expect(queueFor('node', { node: '' }).ok).toBe(false);
    expect(queueFor('node', { node: '-h' }).ok).toBe(false);
    expect(queueFor('node', { node: 'x'.repeat(254) }).ok).toBe(false);
  });

  it('accepts ordinary host names', () => {
    for (const n of ['host1', 'host-1.ams1.example.com', 'DB_07']) expect(invalidName('node', n)).toBeUndefined();
  });
});
