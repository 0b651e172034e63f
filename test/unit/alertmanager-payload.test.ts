import { DEFAULT_ALERTMANAGER } from '../../src/config/callers';
import { alertEpisodeKey, planAlert, stripPort, type AlertmanagerAlert } from '../../src/coordinator/alertmanager-payload';

const alert = (over: Partial<AlertmanagerAlert> = {}): AlertmanagerAlert => ({
  status: 'firing',
  labels: {
    alertname: 'DiskFull',
    medic_workflow: 'cleanDisk',
    instance: 'host1:9100',
    datacenter: 'ams1',
    node_type: 'db',
    medic_param_mountpoint: '/',
  },
  annotations: { summary: 'disk / almost full', medic_param_mountpoint: '/var', medic_param_older_than: '7d' },
  startsAt: '2026-11-22T10:00:00Z',
  fingerprint: 'abc123',
  ...over,
});

describe('planAlert', () => {
  it('turns a firing alert into a trigger: workflow, target from labels, params by prefix, reason from summary', () => {
    expect(planAlert(alert(), DEFAULT_ALERTMANAGER)).toEqual({
      fingerprint: 'abc123',
      action: 'trigger',
      trigger: {
        workflow: 'cleanDisk',
        target: { node: 'host1', datacenter: 'ams1', node_type: 'db' },
        params: { mountpoint: '/', older_than: '7d' },
        reason: 'alertmanager: disk / almost full',
        idempotencyKey: alertEpisodeKey('abc123', '2026-11-22T10:00:00Z'),
      },
    });
  });

  it('prefers the node label over instance', () => {
    const plan = planAlert(alert({ labels: { medic_workflow: 'x', node: 'n7', instance: 'other:1' } }), DEFAULT_ALERTMANAGER);
    expect(plan.action === 'trigger' && plan.trigger.target.node).toBe('n7');
  });

  it('starts nothing for resolved alerts or alerts without the workflow label', () => {
    expect(planAlert(alert({ status: 'resolved' }), DEFAULT_ALERTMANAGER)).toMatchObject({
      action: 'skip',
      reason: expect.stringMatching(/resolved/),
    });
    expect(planAlert(alert({ labels: { alertname: 'X' } }), DEFAULT_ALERTMANAGER)).toMatchObject({
      action: 'skip',
      reason: 'no medic_workflow label',
    });
  });

  it('honours configured label names', () => {
    const cfg = { ...DEFAULT_ALERTMANAGER, workflowLabel: 'remediate', nodeLabels: ['host'], datacenterLabel: 'dc' };
    const plan = planAlert(alert({ labels: { remediate: 'rebootNode', host: 'h9', dc: 'fra1' } }), cfg);
    expect(plan).toMatchObject({
      action: 'trigger',
      trigger: { workflow: 'rebootNode', target: { node: 'h9', datacenter: 'fra1' } },
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
