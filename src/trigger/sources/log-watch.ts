// A log rule at work: follows its file (or its unit's journal), matches each line against the
// rule's pattern, counts matches per group and opens and ends episodes (log-episodes.ts). Files
// carry no trustworthy time, so a file's lines are timed as read; journal entries carry journald's.
import type { LogRule } from '../../config/trigger';
import type { Logger } from '../../telemetry/logger';
import { FileTail, type FileIdentity, type FilePosition, type TailEvent } from './file-tail';
import { JournalTail, type JournalEvent } from './journal-tail';
import type { Line } from './line-splitter';
import {
  advance,
  logEpisodeKey,
  onMatch,
  resolvesAt,
  type LogGroup,
  type LogGroups,
  type LogMatch,
  type LogTiming,
} from './log-episodes';
import { compileLogPattern, type LogPattern } from '../../config/log-pattern';
import type { FiringEpisode, SavedWatch, Watch, WatchHost } from './watch';

/** The longest line matched whole; the rest of a longer line is dropped (files) or the entry skipped (journal). */
export const MAX_LINE_BYTES = 64 * 1024;
/** journalctl's JSON of one entry carries its fields and quoting: room for a full-length MESSAGE. */
const MAX_JOURNAL_LINE_BYTES = 4 * MAX_LINE_BYTES;
/** Groups (distinct `group_by` values) one rule keeps at most. */
export const MAX_GROUPS = 1000;

interface LogWatchOptions {
  /** How often a followed file is looked at once read to its end. */
  pollMs?: number;
  /** The journalctl binary. */
  journalctl?: string;
}

export class LogWatch implements Watch {
  readonly fingerprint: string;
  readonly input: string;
  private groups: LogGroups = new Map();
  private readonly pattern: LogPattern;
  private readonly timing: LogTiming;
  private readonly log: Logger;
  private tail?: FileTail | JournalTail;
  private resume?: FilePosition | string;
  private timer?: NodeJS.Timeout;
  private lastError?: string;
  // Counted per line, added to the metrics per chunk read.
  private lines = 0;
  private matched = 0;
  private cut = 0;

  constructor(
    readonly rule: LogRule,
    private readonly host: WatchHost,
    saved?: SavedWatch,
    private readonly opts: LogWatchOptions = {},
  ) {
    this.pattern = compileLogPattern(rule.match);
    this.timing = { count: rule.count, windowMs: rule.windowMs, keepFiringForMs: rule.keepFiringForMs };
    this.fingerprint = JSON.stringify(['log', rule.match, rule.count, rule.windowMs, rule.keepFiringForMs, rule.groupBy]);
    this.input =
      rule.logFile !== undefined ? `file:${rule.logFile}` : `journal:${rule.journalDirectory ?? ''}:${rule.journalUnit}`;
    this.log = host.logger.child({ rule: rule.name, source: 'log' });
    if (saved?.source === 'log' && saved.input === this.input) {
      this.resume = saved.position as FilePosition | string | undefined;
      if (saved.fingerprint === this.fingerprint)
        this.groups = new Map((saved.state as { groups: LogGroup[] }).groups.map((g) => [g.key, g]));
    }
  }

  firing(): FiringEpisode[] {
    const out: FiringEpisode[] = [];
    for (const g of this.groups.values()) {
      if (!g.firing) continue;
      const labels = { ...g.firing.labels };
      out.push({
        key: logEpisodeKey(this.rule.name, g.key, g.firing.origin),
        series: {
          key: g.key,
          labels,
          value: g.firing.line,
          activeSince: g.firing.since,
          lastSeen: g.recent.at(-1) ?? 0,
          state: 'firing',
        },
      });
    }
    return out;
  }

  save(): SavedWatch {
    const position = this.tail ? this.tail.current() : this.resume;
    return {
      source: 'log',
      fingerprint: this.fingerprint,
      input: this.input,
      position,
      state: { groups: [...this.groups.values()] },
    };
  }

  async run(signal: AbortSignal): Promise<void> {
    // Episodes restored from the state file may have ended while the daemon was away.
    this.advanceTo(this.host.now());
    const { metrics } = this.host;
    const name = this.rule.name;
    const flush = (bytes: number) => {
      metrics.logBytes.inc({ rule: name }, bytes);
      if (this.lines) metrics.logLines.inc({ rule: name }, this.lines);
      if (this.matched) metrics.logMatches.inc({ rule: name }, this.matched);
      if (this.cut) metrics.logCutLines.inc({ rule: name }, this.cut);
      this.lines = this.matched = this.cut = 0;
      this.host.progressed();
    };
    if (this.rule.logFile !== undefined) {
      this.tail = new FileTail({
        path: this.rule.logFile,
        maxLineBytes: MAX_LINE_BYTES,
        pollMs: this.opts.pollMs,
        resume: typeof this.resume === 'object' ? this.resume : undefined,
        onLine: (line, file) => this.onFileLine(line, file),
        onProgress: (bytes, _position, behind) => {
          flush(bytes);
          metrics.logBehind.set({ rule: name }, behind);
        },
        onEvent: (e) => this.onFileEvent(e),
      });
    } else {
      this.tail = new JournalTail({
        unit: this.rule.journalUnit!,
        directory: this.rule.journalDirectory,
        maxLineBytes: MAX_JOURNAL_LINE_BYTES,
        resume: typeof this.resume === 'string' ? this.resume : undefined,
        journalctl: this.opts.journalctl,
        onEntry: (entry) => {
          this.lines += 1;
          this.onText(entry.message, entry.timeMs, entry.cursor);
        },
        onProgress: flush,
        onEvent: (e) => this.onJournalEvent(e),
      });
    }
    this.schedule();
    try {
      await this.tail.run(signal);
    } finally {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private onFileLine(line: Line, file: FileIdentity): void {
    this.lines += 1;
    if (line.cut) this.cut += 1;
    // A file's match is named by the file (inode and birth: inodes are reused) and its offset.
    this.onText(line.text, undefined, `${file.dev}:${file.ino}:${file.birth}:${line.offset}`);
  }

  private onText(text: string, time: number | undefined, origin: string): void {
    const labels = this.pattern.match(text);
    if (!labels) return;
    this.matched += 1;
    const m: LogMatch = { time: time ?? this.host.now(), origin, labels, line: text };
    const r = onMatch(this.groups, m, this.timing, this.rule.groupBy, MAX_GROUPS);
    if (r.dropped) this.host.metrics.errors.inc({ kind: 'log_groups_full' });
    if (!r.opened && !r.resolved.length) return;
    this.report(r.resolved);
    if (r.opened) {
      this.log.info('log episode opened', {
        group: r.opened.group,
        labels: r.opened.firing!.labels,
        line: r.opened.firing!.line,
        matches: this.rule.count,
        window_ms: this.rule.windowMs,
      });
    }
    this.host.changed(this.rule.name);
    this.schedule();
  }

  /** Resolves what has ended by `now`; true if anything did. */
  private advanceTo(now: number): boolean {
    const resolved = advance(this.groups, now, this.timing);
    this.report(resolved);
    if (resolved.length) this.host.changed(this.rule.name);
    return resolved.length > 0;
  }

  private report(resolved: LogGroup[]): void {
    for (const g of resolved) this.log.info('log episode ended', { group: g.group });
    let firing = 0;
    for (const g of this.groups.values()) if (g.firing) firing += 1;
    this.host.metrics.series.set({ rule: this.rule.name, state: 'firing' }, firing);
  }

  /** Wakes up when the next firing group would resolve without another match. */
  private schedule(): void {
    clearTimeout(this.timer);
    let next = Infinity;
    for (const g of this.groups.values()) if (g.firing) next = Math.min(next, resolvesAt(g, this.timing));
    if (next === Infinity) return;
    this.timer = setTimeout(
      () => {
        this.advanceTo(this.host.now());
        this.schedule();
      },
      Math.max(0, next - this.host.now()) + 1,
    );
    this.timer.unref();
  }

  private onFileEvent(e: TailEvent): void {
    const { metrics } = this.host;
    switch (e.kind) {
      case 'opened':
        this.lastError = undefined;
        this.log.info('following log file', { file: e.file, offset: e.offset });
        return;
      case 'rotated':
        metrics.logRotations.inc({ rule: this.rule.name, kind: 'rename' });
        this.log.info('log file rotated (renamed); following the new file', { file: e.file });
        return;
      case 'truncated':
        metrics.logRotations.inc({ rule: this.rule.name, kind: 'truncate' });
        this.log.info('log file truncated; reading it from the start', { file: e.file });
        return;
      case 'resumed_rotated':
        this.log.info('log file was rotated while stopped; read the rest of the old file first', { file: e.file, old: e.from });
        return;
      case 'lost_rotated':
        this.log.warn('log file was rotated while stopped and the old file is gone; its unread end is lost', { file: e.file });
        return;
      case 'error': {
        metrics.errors.inc({ kind: 'log_read' });
        const text = String((e.error as Error)?.message ?? e.error);
        // Once per distinct problem: the tail retries every poll.
        if (text !== this.lastError) this.log.warn('cannot read log file; retrying', { file: e.file, error: e.error });
        this.lastError = text;
      }
    }
  }

  private onJournalEvent(e: JournalEvent): void {
    const { metrics } = this.host;
    switch (e.kind) {
      case 'started':
        this.log.info('following journal', { unit: this.rule.journalUnit, argv: e.argv });
        return;
      case 'exited':
        metrics.errors.inc({ kind: 'journal_exited' });
        this.log.warn('journalctl exited; starting it again', { code: e.code, signal: e.signal, stderr: e.stderr });
        return;
      case 'skipped':
        if (e.reason === 'too_long') this.cut += 1;
        else metrics.errors.inc({ kind: 'journal_bad_entry' });
    }
  }
}
