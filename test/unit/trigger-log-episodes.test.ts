// Log rules' pure parts: episodes from match times (count within window, keep_firing_for, group_by,
// bounded groups), the keys two readers of one log derive, RE2 patterns that cannot stall, and
// the line splitter's fixed memory for lines of any length.
import { LineSplitter, type Line } from '../../src/trigger/sources/line-splitter';
import {
  advance,
  logEpisodeKey,
  onMatch,
  resolvesAt,
  type LogGroups,
  type LogTiming,
} from '../../src/trigger/sources/log-episodes';
import { compileLogPattern, LogPatternError } from '../../src/config/log-pattern';

const T: LogTiming = { count: 3, windowMs: 60_000, keepFiringForMs: 0 };

/** Feeds matches at the given seconds; returns when episodes opened and resolved (in seconds). */
function replay(seconds: number[], timing = T, until?: number): { opened: number[]; resolved: number[]; groups: LogGroups } {
  const groups: LogGroups = new Map();
  const opened: number[] = [];
  const resolved: number[] = [];
  for (const s of seconds) {
    const r = onMatch(groups, { time: s * 1000, origin: `o${s}`, labels: {}, line: `line ${s}` }, timing, [], 10);
    if (r.resolved.length) resolved.push(s);
    if (r.opened) opened.push(s);
  }
  if (until !== undefined && advance(groups, until * 1000, timing).length) resolved.push(until);
  return { opened, resolved, groups };
}

describe('log rule episodes', () => {
  it.each([
    ['three matches within the minute open an episode at the third', [0, 10, 20], [20]],
    ['three matches spread over more than the minute open nothing', [0, 40, 80], []],
    ['a window that slides: the fourth match makes three within the minute', [0, 50, 70, 100], [100]],
    ['a burst keeps one episode open however long it lasts', [0, 1, 2, 3, 4, 5, 30, 59], [2]],
  ])('%s', (_what, seconds, expected) => {
    expect(replay(seconds).opened).toEqual(expected);
  });

  it('ends an episode when the third-latest match leaves the window, and opens a new one after', () => {
    // Opened at 20 (matches 0, 10, 20); the condition holds until 0 + 60 = 60 s.
    const { opened, resolved } = replay([0, 10, 20, 100, 101, 102]);
    expect(opened).toEqual([20, 102]);
    expect(resolved).toEqual([100]);
  });

  it('keeps firing for keep_firing_for after the condition stopped holding', () => {
    const timing = { ...T, keepFiringForMs: 120_000 };
    // Condition ends at 60 s; keep_firing_for runs to 180 s: matches at 100-102 continue the episode.
    expect(replay([0, 10, 20, 100, 101, 102], timing).opened).toEqual([20]);
    const { groups } = replay([0, 10, 20], timing);
    expect(resolvesAt(groups.values().next().value!, timing)).toBe(180_000);
    expect(advance(groups, 179_999, timing)).toEqual([]);
    expect(advance(groups, 180_000, timing)).toHaveLength(1);
  });

  it('resolves at the same instant whenever time is looked at, so two readers agree on the next episode', () => {
    // Reader A looks at 61 s (resolves), reader B only sees the next match at 130 s: same episodes.
    const a = replay([0, 10, 20], T, 61);
    const b = replay([0, 10, 20, 130, 131, 132]);
    expect(a.resolved).toEqual([61]);
    expect(b.opened).toEqual([20, 132]);
  });

  it('counts each group_by value apart and names the episode after its opening match', () => {
    const groups: LogGroups = new Map();
    const at = (s: number, unit: string) =>
      onMatch(
        groups,
        { time: s * 1000, origin: `o${s}`, labels: { unit, pid: String(s) }, line: `${unit} died` },
        T,
        ['unit'],
        10,
      );
    at(0, 'a');
    at(1, 'b');
    at(2, 'a');
    expect(at(3, 'b').opened).toBeUndefined();
    const opened = at(4, 'a').opened!;
    expect(opened.group).toEqual({ unit: 'a' });
    expect(opened.firing).toEqual({ since: 4000, origin: 'o4', labels: { unit: 'a', pid: '4' }, line: 'a died' });
  });

  it('never keeps more groups than allowed: evicts the stalest quiet one, drops matches when all fire', () => {
    const groups: LogGroups = new Map();
    const timing = { ...T, count: 1 };
    const m = (s: number, unit: string) =>
      onMatch(groups, { time: s, origin: `o${s}`, labels: { unit }, line: '' }, { ...timing, count: 2 }, ['unit'], 2);
    m(1, 'a');
    m(2, 'b');
    expect(m(3, 'c').dropped).toBe(false); // 'a' (quiet, stalest) makes room
    expect([...groups.values()].map((g) => g.group.unit)).toEqual(['b', 'c']);
    const fire = (s: number, unit: string) =>
      onMatch(groups, { time: s, origin: `f${s}`, labels: { unit }, line: '' }, timing, ['unit'], 2);
    fire(4, 'b');
    fire(5, 'c');
    expect(fire(6, 'd')).toMatchObject({ dropped: true });
    expect(groups.size).toBe(2);
  });

  it('keeps only the latest `count` match times of a group, however many lines match', () => {
    const { groups } = replay(Array.from({ length: 10_000 }, (_, i) => i / 100));
    expect(groups.values().next().value!.recent).toHaveLength(3);
  });

  it('derives one key from rule, group and opening match, and another for any other', () => {
    const k = logEpisodeKey('nginx_oom', '[]', '2049:1234:1700000000000:4096');
    expect(k).toMatch(/^trigger-log-[0-9a-f]{40}$/);
    expect(logEpisodeKey('nginx_oom', '[]', '2049:1234:1700000000000:4096')).toBe(k);
    expect(
      new Set([
        k,
        logEpisodeKey('nginx_oom', '[]', '2049:1234:1700000000000:4097'),
        logEpisodeKey('x', '[]', '2049:1234:1700000000000:4096'),
      ]).size,
    ).toBe(3);
  });
});

describe('log rule patterns (RE2)', () => {
  it('turns named captures into labels, "" for one that took no part', () => {
    const p = compileLogPattern('worker process (?P<pid>[0-9]+) exited on signal (?<signal>9)(?P<core> \\(core dumped\\))?');
    expect(p.captures).toEqual(['pid', 'signal', 'core']);
    expect(p.match('2024/05/01 [alert] 12#12: worker process 4242 exited on signal 9')).toEqual({
      pid: '4242',
      signal: '9',
      core: '',
    });
    expect(p.match('worker process 4242 exited on signal 15')).toBeUndefined();
  });

  it.each([
    ['(a)\\1', /backreferences and lookaround/],
    ['foo(?=bar)', /unsupported Perl syntax/],
    ['(?<=x)a', /backreferences and lookaround/],
    ['[a-', /missing closing \]/],
    ['a**', /invalid nested repetition/],
  ])('refuses %j, saying why', (source, why) => {
    expect(() => compileLogPattern(source)).toThrow(LogPatternError);
    expect(() => compileLogPattern(source)).toThrow(why);
  });

  it.each(['(a+)+$', 'a*a*a*b', '(\\s*)*x', '(a|a)*b'])(
    'matches %j against a 64 KiB line in linear time (backtracking engines take minutes)',
    (source) => {
      const p = compileLogPattern(source);
      const line = 'a'.repeat(64 * 1024) + '!';
      const started = process.hrtime.bigint();
      expect(p.match(line)).toBeUndefined();
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // V8's own engine took 35 s for a*a*b on a 4 KiB line on this machine; RE2 takes milliseconds.
      expect(ms).toBeLessThan(2000);
    },
  );
});

describe('line splitter', () => {
  const split = (max: number, chunks: string[]): Line[] => {
    const s = new LineSplitter(max);
    const out: Line[] = [];
    let offset = 0;
    for (const c of chunks) {
      const b = Buffer.from(c);
      s.push(b, offset, (l) => out.push(l));
      offset += b.length;
    }
    return out;
  };

  it('reports each line with its byte offsets, across chunk boundaries and CRLF', () => {
    expect(split(100, ['ab\ncd', 'e\r\nf', 'g\n'])).toEqual([
      { text: 'ab', offset: 0, end: 3, cut: false },
      { text: 'cde', offset: 3, end: 8, cut: false },
      { text: 'fg', offset: 8, end: 11, cut: false },
    ]);
  });

  it('cuts a line longer than the limit to its beginning and goes on at the next line', () => {
    const long = 'x'.repeat(25);
    expect(split(10, [long.slice(0, 7), long.slice(7) + '\nok\n'])).toEqual([
      { text: 'xxxxxxxxxx', offset: 0, end: 26, cut: true },
      { text: 'ok', offset: 26, end: 29, cut: false },
    ]);
    expect(split(10, [long + '\n'])[0]).toEqual({ text: 'xxxxxxxxxx', offset: 0, end: 26, cut: true });
  });

  it('holds no more than the limit of a line without a newline, however much arrives', () => {
    const s = new LineSplitter(1024);
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    for (let i = 0; i < 64; i++) s.push(chunk, i * chunk.length, () => undefined);
    expect(s.pending).toEqual({ bytes: 1024, cut: true });
    expect(s.resumeOffset).toBe(0);
  });
});
