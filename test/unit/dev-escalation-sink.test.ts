// medic dev's escalation sink: one printed line per page, whatever the format (medic JSON,
// PagerDuty Events v2, Slack), and clear refusals of what is not a page.
import { describePage, startEscalationSink, type EscalationSink } from '../../src/dev/escalation-sink';

describe('describePage', () => {
  it('reads a PagerDuty Events v2 trigger: action, severity, summary, source, dedup key', () => {
    const line = describePage({
      routing_key: 'R0123',
      event_action: 'trigger',
      dedup_key: 'healDemo:host1',
      payload: { summary: 'healDemo on host1 escalated: unlink failed', source: 'host1', severity: 'critical' },
    });
    expect(line).toBe(
      '[pagerduty trigger critical] healDemo on host1 escalated: unlink failed source=host1 dedup_key=healDemo:host1',
    );
    expect(line).not.toContain('R0123'); // the routing key is a secret
  });

  it('reads a PagerDuty resolve without a payload', () => {
    expect(describePage({ routing_key: 'k', event_action: 'resolve', dedup_key: 'd1' })).toBe(
      '[pagerduty resolve] (no summary) dedup_key=d1',
    );
  });

  it("reads medic's own JSON page (event_action and dedup_key, but no routing key) as JSON, with its summary", () => {
    expect(
      describePage({
        event_action: 'trigger',
        dedup_key: 'medic/healDemo/vm',
        summary: 'healDemo on vm escalated: unlink failed',
        outcome: 'escalated',
        workflow: 'healDemo',
        target: { node: 'vm' },
      }),
    ).toBe(
      '[json] healDemo on vm escalated: unlink failed trigger outcome=escalated workflow=healDemo node=vm dedup_key=medic/healDemo/vm',
    );
  });

  it('reads Slack text, and the text of blocks', () => {
    expect(describePage({ text: ':rotating_light: healDemo escalated on host1' })).toBe(
      '[slack] :rotating_light: healDemo escalated on host1',
    );
    expect(
      describePage({
        blocks: [
          { type: 'header', text: { type: 'plain_text', text: 'medic escalation' } },
          { type: 'section', fields: [{ type: 'mrkdwn', text: '*node* host1' }] },
        ],
      }),
    ).toBe('[slack] medic escalation | *node* host1');
  });

  it("reads medic's JSON page: summary, outcome, workflow, node, id", () => {
    expect(
      describePage({
        summary: 'cannot clear the stale lock',
        outcome: 'escalated',
        workflow: 'healDemo',
        target: { node: 'host1' },
        workflow_id: 'healDemo:host1:1',
        extra: { nested: true },
      }),
    ).toBe('[json] cannot clear the stale lock outcome=escalated workflow=healDemo node=host1 id=healDemo:host1:1');
  });

  it('keeps a page on one line, shortened', () => {
    const line = describePage({ message: `a\nb ${'x'.repeat(1000)}` });
    expect(line).not.toContain('\n');
    expect(line.length).toBeLessThanOrEqual(300);
  });

  it.each([null, 'text', 42, [1, 2]])('refuses %p: a page is a JSON object', (body) => {
    expect(() => describePage(body)).toThrow('a page is a JSON object');
  });
});

describe('the escalation sink', () => {
  let sink: EscalationSink;
  const printed: string[] = [];
  beforeAll(async () => {
    sink = await startEscalationSink({ host: '127.0.0.1', port: 0, print: (l) => printed.push(l) });
  });
  afterAll(() => sink.close());

  const post = (body: string): Promise<Response> =>
    fetch(sink.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  it('prints one line per page posted and answers 202', async () => {
    const res = await post(JSON.stringify({ text: 'page one' }));
    expect(res.status).toBe(202);
    expect(printed).toEqual(['PAGE [slack] page one']);
  });

  it('answers 400 to a body that is not JSON, and prints nothing', async () => {
    const before = printed.length;
    const res = await post('{not json');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(/^not a page: /);
    expect(printed.length).toBe(before);
  });

  it('answers 413 to a body over 256 KiB', async () => {
    const res = await post(JSON.stringify({ text: 'x'.repeat(300_000) })).catch(() => undefined);
    // The sink may close the connection while the client still sends: either way, no page.
    if (res) expect(res.status).toBe(413);
    expect(printed.some((l) => l.includes('xxxx'))).toBe(false);
  });

  it('answers 405 to a GET', async () => {
    expect((await fetch(sink.url)).status).toBe(405);
  });
});
