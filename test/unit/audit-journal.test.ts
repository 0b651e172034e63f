// The audit journal's pure parts: the ring (bounded by lines and bytes, one copy of each line,
// carried across continue-as-new), its search, and the line a coordinator sends for an audit line.
import { journaled, journalLine } from '../../src/audit/journal';
import { append, carry, emptyJournal, MAX_BYTES, MAX_LINES, restore, search, type JournalLine } from '../../src/audit/state';
import type { AuditEntry } from '../../src/telemetry/audit';

function line(n: number, over: Partial<JournalLine> = {}): JournalLine {
  return {
    id: `r-${n}`,
    time: new Date(Date.UTC(2026, 11, 6, 0, 0, n)).toISOString(),
    replica: 'a',
    decision: 'started',
    identity: 'spiffe://x/sre',
    ...over,
  };
}

describe('the journal ring', () => {
  it('keeps one copy of a line sent twice (a retried batch)', () => {
    const j = emptyJournal();
    expect(append(j, [line(1), line(2)])).toBe(2);
    expect(append(j, [line(2), line(3)])).toBe(1);
    expect(j.lines.map((l) => l.id)).toEqual(['r-1', 'r-2', 'r-3']);
  });

  it(`keeps the newest ${MAX_LINES} lines`, () => {
    const j = emptyJournal();
    append(
      j,
      Array.from({ length: MAX_LINES + 5 }, (_, i) => line(i)),
    );
    expect(j.lines).toHaveLength(MAX_LINES);
    expect(j.lines[0]!.id).toBe('r-5');
    expect(j.ids.has('r-4')).toBe(false);
    // A line dropped from the ring is a new line if it comes again.
    expect(append(j, [line(4)])).toBe(1);
  });

  it(`keeps at most ${MAX_BYTES} bytes of lines, dropping the oldest`, () => {
    const j = emptyJournal();
    const big = (n: number) => line(n, { reason: 'x'.repeat(10_000) });
    const size = JSON.stringify(big(100)).length;
    append(
      j,
      Array.from({ length: 200 }, (_, i) => big(100 + i)),
    );
    const fit = Math.floor(MAX_BYTES / size);
    expect(j.lines).toHaveLength(fit);
    expect(j.bytes).toBe(fit * size);
    expect(j.lines.at(-1)!.id).toBe('r-299');
  });

  it('carries its lines across continue-as-new', () => {
    const j = emptyJournal();
    append(j, [line(1), line(2)]);
    const again = restore(JSON.parse(JSON.stringify(carry(j))));
    expect(again.lines).toEqual(j.lines);
    expect(again.bytes).toBe(j.bytes);
    expect(append(again, [line(2)])).toBe(0);
  });
});

describe('the journal search', () => {
  const j = emptyJournal();
  append(j, [
    line(1, { workflow: 'cleanDisk', target: { node: 'web-1' }, decision: 'refused' }),
    line(3, { workflow: 'cleanDisk', target: { node: 'web-2' }, identity: 'spiffe://x/trigger' }),
    // From another replica's later batch, with an earlier time.
    line(2, { id: 'b-1', replica: 'b', workflow: 'rebootNode', target: { node: 'web-1' }, decision: 'refused' }),
  ]);

  it('answers newest first by time, whatever batch a line came in', () => {
    expect(search(j, {}).map((l) => l.id)).toEqual(['r-3', 'b-1', 'r-1']);
  });

  it.each([
    [{ workflow: 'cleanDisk' }, ['r-3', 'r-1']],
    [{ node: 'web-1' }, ['b-1', 'r-1']],
    [{ identity: 'spiffe://x/trigger' }, ['r-3']],
    [{ decisions: ['refused'] }, ['b-1', 'r-1']],
    [{ decisions: ['refused'], workflow: 'rebootNode' }, ['b-1']],
    [{ limit: 1 }, ['r-3']],
  ])('filters %j exactly', (q, ids) => {
    expect(search(j, q).map((l) => l.id)).toEqual(ids);
  });
});

describe('what a coordinator sends', () => {
  const at = new Date('2026-12-06T10:00:00.000Z');

  it('is the audit line field by field, with its time, replica and id, and no field it does not know', () => {
    const known: AuditEntry = {
      decision: 'refused',
      identity: 'spiffe://x/sre',
      workflow: 'cleanDisk',
      target: { node: 'web-1', datacenter: 'dc1' },
      control: 'pause',
      holders: ['medic:cleanDisk:web-1'],
      count: 1,
      status: 429,
    };
    // A field an audit line might carry one day: never journaled unless journalLine names it.
    const entry = { ...known, params: { token: 's3cret' } } as AuditEntry;
    expect(journalLine(entry, at, 'replica-a', 'id-1')).toEqual({
      id: 'id-1',
      time: '2026-12-06T10:00:00.000Z',
      replica: 'replica-a',
      ...known,
    });
  });

  it('cuts long text to 512 characters', () => {
    const l = journalLine({ decision: 'invalid', identity: null, reason: 'y'.repeat(5_000) }, at, 'a', 'id');
    expect(l.reason).toBe(`${'y'.repeat(512)}…`);
  });

  it.each([
    [{ decision: 'allowed', identity: 'i', method: 'GET' }, false],
    [{ decision: 'allowed', identity: 'i', method: 'HEAD' }, false],
    [{ decision: 'allowed', identity: 'i', method: 'POST' }, true],
    [{ decision: 'denied', identity: 'i', method: 'GET' }, true],
    [{ decision: 'refused', identity: 'i' }, true],
  ])('journals %j: %s', (entry, expected) => {
    expect(journaled(entry as AuditEntry)).toBe(expected);
  });
});
