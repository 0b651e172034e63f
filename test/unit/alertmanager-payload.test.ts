import { DEFAULT_ALERTMANAGER, type AlertmanagerConfig } from '../../src/config/callers';
import { alertEpisodeKey, planAlert, stripPort, type AlertmanagerAlert } from '../../src/coordinator/alertmanager-payload';
import { inParallel } from '../../src/coordinator/routes/alertmanager';

const alert = (over: Partial<AlertmanagerAlert> = {}): AlertmanagerAlert => ({
  status: 'firing',
  labels: {
    alertname: 'DiskFull',
    medic_workflow: 'rebootNode',
    instance: 'host1:9100',
    datacenter: 'ams1',
    node_type: 'db',
    mountpoint: '/',
  },
  annotations: { summary: 'disk / almost full', older_than: '0s' },
  startsAt: '2026-11-22T10:00:00Z',
  fingerprint: 'abc123',
  ...over,
});

const CFG: AlertmanagerConfig = {
  ...DEFAULT_ALERTMANAGER,
  routes: [
    { alertname: 'DiskFull', matchers: {}, workflow: 'cleanDisk', params: { mountpoint: { from: 'labels', key: 'mountpoint' } } },
    { matchers: { team: 'db', severity: 'page' }, workflow: 'restartService', params: {} },
  ],
};

describe('planAlert', () => {
  it('turns a firing alert into the trigger its route names: target from labels, only mapped params, reason from summary', () => {
    expect(planAlert(alert(), CFG)).toEqual({
      fingerprint: 'abc123',
      action: 'trigger',
      trigger: {
        workflow: 'cleanDisk',
        target: { node: 'host1', datacenter: 'ams1', node_type: 'db' },
        params: { mountpoint: '/' },
        reason: 'alertmanager: disk / almost full',
        idempotencyKey: alertEpisodeKey('abc123', '2026-11-22T10:00:00Z'),
      },
    });
  });

  it('lets no label choose the workflow: an alert no route matches starts nothing', () => {
    const plan = planAlert(alert({ labels: { alertname: 'Other', medic_workflow: 'rebootNode', node: 'n1' } }), CFG);
    expect(plan).toEqual({ fingerprint: 'abc123', action: 'skip', reason: 'no alertmanager route matches this alert' });
  });

  it('matches a route by every matcher', () => {
    const labels = { alertname: 'X', team: 'db', node: 'n1' };
    expect(planAlert(alert({ labels }), CFG).action).toBe('skip');
    const plan = planAlert(alert({ labels: { ...labels, severity: 'page' } }), CFG);
    expect(plan.action === 'trigger' && plan.trigger.workflow).toBe('restartService');
  });

  it('prefers the node label over instance', () => {
    const plan = planAlert(alert({ labels: { alertname: 'DiskFull', node: 'n7', instance: 'other:1' } }), CFG);
    expect(plan.action === 'trigger' && plan.trigger.target.node).toBe('n7');
  });

  it('starts nothing for resolved alerts', () => {
    expect(planAlert(alert({ status: 'resolved' }), CFG)).toMatchObject({
      action: 'skip',
      reason: expect.stringMatching(/resolved/),
    });
  });

  it('honours configured label names', () => {
    const cfg = { ...CFG, nodeLabels: ['host'], datacenterLabel: 'dc' };
    const plan = planAlert(alert({ labels: { alertname: 'DiskFull', host: 'h9', dc: 'fra1' } }), cfg);
    expect(plan).toMatchObject({
      action: 'trigger',
      trigger: { workflow: 'cleanDisk', target: { node: 'h9', datacenter: 'fra1' } },
    });
  });

  it('gives repeats of one episode the same key and a new episode a new key', () => {
    expect(alertEpisodeKey('f', 't1')).toBe(alertEpisodeKey('f', 't1'));
    expect(alertEpisodeKey('f', 't1')).not.toBe(alertEpisodeKey('f', 't2'));
    expect(alertEpisodeKey('f', 't1')).not.toBe(alertEpisodeKey('g', 't1'));
  });

  it.each([
    ['host1:9100', 'host1'],
    ['host1', 'host1'],
    ['10.0.0.1:80', '10.0.0.1'],
    ['[::1]:9100', '::1'],
  ])('strips the port of %s', (v, expected) => {
    expect(stripPort(v)).toBe(expected);
  });
});

describe('inParallel (how the route decides a group)', () => {
  it('never has more than the limit in flight, runs every item once and keeps the order of the results', async () => {
    let inFlight = 0;
    let most = 0;
    const seen: number[] = [];
    const items = Array.from({ length: 2000 }, (_, i) => i);
    const results = await inParallel(items, 8, async (i) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      seen.push(i);
      // Later items finish first: the results must still come back in the items' order.
      await new Promise((r) => setTimeout(r, i % 3));
      inFlight -= 1;
      return i * 2;
    });
    expect(most).toBe(8);
    expect(seen.sort((a, b) => a - b)).toEqual(items);
    expect(results).toEqual(items.map((i) => i * 2));
  });

  it('runs fewer lanes than the limit for a small group, and none for an empty one', async () => {
    let most = 0;
    let inFlight = 0;
    const work = async (i: number): Promise<number> => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight -= 1;
      return i;
    };
    expect(await inParallel([1, 2, 3], 8, work)).toEqual([1, 2, 3]);
    expect(most).toBe(3);
    expect(await inParallel([], 8, work)).toEqual([]);
  });
});
