// A coordinator's side of the audit journal (workflow.ts): it appends this replica's audit lines
// off the request path, in batches (one signalWithStart per second or per 200 lines), and reads
// the journal for the console. Bounded: lines wait in a buffer of fixed size; a journal that does
// not answer costs dropped lines (counted, logged once), never a slower or failed request.
//
// It talks to Temporal over a connection of its own: its writes are not admission's, and the
// coordinator's medic_coordinator_temporal_calls_total (what bench:trigger counts per trigger and
// per refusal) counts admission's connection only.
import { randomUUID } from 'node:crypto';
import * as os from 'node:os';
import { Client, Connection } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { Counter, type Registry } from 'prom-client';
import type { TemporalConfig } from '../config/temporal';
import { AUDIT_QUEUE } from '../naming/task-queues';
import { medicDataConverter } from '../temporal/data-converter';
import { closableRetry, type ClosableRetry } from '../temporal/closable-retry';
import { connectionOptions } from '../temporal/gateway';
import type { AuditEntry } from '../telemetry/audit';
import { AUDIT_JOURNAL_ID, AUDIT_WORKFLOW_TYPE, appendSignal, searchQuery } from './messages';
import { lineMatches, newestFirst, MAX_SEARCH, type JournalLine, type JournalSearch } from './state';

/** Characters kept of each text field of a line: the journal holds lines, not documents. */
const MAX_TEXT = 512;
const MAX_HOLDERS = 20;

export interface AuditJournalOptions {
  /** The coordinator's Temporal (its address, namespace, TLS and payload key). */
  temporal: TemporalConfig;
  registry: Registry;
  log(message: string): void;
  /** Starts the ledger worker, which runs the journal (and answers its queries). */
  ensureWorker(): void;
  /** The journal's workflow id and queue (tests give each file its own). */
  id?: string;
  queue?: string;
  /** This replica's name on its lines; default `coordinator-<pid>@<host>`. */
  replica?: string;
  /** A batch goes at the latest this long after its first line. */
  flushMs?: number;
  /** Lines per batch (one signal). */
  batchLines?: number;
  /** Lines waiting at most; beyond it the oldest are dropped. */
  maxBuffered?: number;
  /** Deadline of one append or one search, connecting included. */
  callTimeoutMs?: number;
}

/** What the console shows: the journal's lines (every replica's), newest first. */
export interface JournalAnswer {
  entries: JournalLine[];
}

function text(v: string | undefined): string | undefined {
  return v === undefined ? undefined : v.length > MAX_TEXT ? `${v.slice(0, MAX_TEXT)}…` : v;
}

/**
 * The journal line of an audit line, field by field: only what says who did what (an audit
 * line has no params, and a field added to AuditEntry later is not journaled until named here).
 */
export function journalLine(entry: AuditEntry, time: Date, replica: string, id: string): JournalLine {
  const t = entry.target;
  const line: JournalLine = { id, time: time.toISOString(), replica, decision: entry.decision, identity: entry.identity };
  const texts = [
    'method',
    'path',
    'rule',
    'source',
    'workflow',
    'workflow_id',
    'run_id',
    'task_queue',
    'constraint',
    'control',
    'message',
    'reason',
    'approval_id',
    'approver',
  ] as const;
  for (const k of texts) if (entry[k] !== undefined) line[k] = text(entry[k]);
  if (t)
    line.target = {
      ...(t.node !== undefined && { node: text(t.node) }),
      ...(t.datacenter !== undefined && { datacenter: text(t.datacenter) }),
      ...(t.node_type !== undefined && { node_type: text(t.node_type) }),
    };
  if (entry.holders) line.holders = entry.holders.slice(0, MAX_HOLDERS).map((h) => text(h)!);
  if (entry.count !== undefined) line.count = entry.count;
  if (entry.status !== undefined) line.status = entry.status;
  return line;
}

/**
 * Whether a line goes to the journal: every decision except an admitted read (a GET the route
 * rules allowed changes nothing; the console's own polling would push everything else out).
 * Such lines stay in the audit log and this replica's trail.
 */
export function journaled(entry: AuditEntry): boolean {
  return !(entry.decision === 'allowed' && (entry.method === 'GET' || entry.method === 'HEAD'));
}

export class AuditJournal {
  readonly id: string;
  readonly queue: string;
  readonly replica: string;
  private readonly boot = randomUUID().slice(0, 8);
  private seq = 0;
  private buffer: JournalLine[] = [];
  private inFlight: JournalLine[] = [];
  private sending?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private conn?: Promise<{ connection: Connection; client: Client; retry: ClosableRetry }>;
  private failing = false;
  private closed = false;
  private readonly dropped: Counter<'reason'>;
  private readonly sent: Counter;
  private readonly batches: Counter;
  private readonly flushMs: number;
  private readonly batchLines: number;
  private readonly maxBuffered: number;
  private readonly callTimeoutMs: number;

  constructor(private readonly opts: AuditJournalOptions) {
    this.id = opts.id ?? AUDIT_JOURNAL_ID;
    this.queue = opts.queue ?? AUDIT_QUEUE;
    this.replica = opts.replica ?? `coordinator-${process.pid}@${os.hostname()}`;
    this.flushMs = opts.flushMs ?? 1_000;
    this.batchLines = opts.batchLines ?? 200;
    this.maxBuffered = opts.maxBuffered ?? 5_000;
    this.callTimeoutMs = opts.callTimeoutMs ?? 5_000;
    this.dropped = new Counter({
      name: 'medic_audit_journal_dropped_total',
      help: 'Audit lines not written to the shared audit journal (it did not answer, or lines waited beyond the buffer); the audit log on stdout still has them.',
      labelNames: ['reason'],
      registers: [opts.registry],
    });
    this.sent = new Counter({
      name: 'medic_audit_journal_lines_total',
      help: 'Audit lines the shared audit journal accepted from this coordinator.',
      registers: [opts.registry],
    });
    this.batches = new Counter({
      name: 'medic_audit_journal_batches_total',
      help: 'Batches (one signal each, on the journal connection, not admission) the audit journal accepted from this coordinator.',
      registers: [opts.registry],
    });
  }

  /** Queues a line for the journal; returns at once. */
  append(entry: AuditEntry, time = new Date()): void {
    if (this.closed || !journaled(entry)) return;
    this.buffer.push(journalLine(entry, time, this.replica, `${this.boot}-${++this.seq}`));
    if (this.buffer.length > this.maxBuffered) {
      const over = this.buffer.length - this.maxBuffered;
      this.buffer.splice(0, over);
      this.drop('overflow', over, 'more lines waited than the buffer holds');
    }
    if (this.buffer.length >= this.batchLines) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.flushMs).unref();
  }

  /** Sends the waiting lines, a batch at a time, unless a batch is on its way already. */
  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.sending || !this.buffer.length) return;
    this.inFlight = this.buffer.splice(0, this.batchLines);
    this.sending = this.send(this.inFlight)
      .then(
        () => {
          this.batches.inc();
          this.sent.inc(this.inFlight.length);
          if (this.failing) this.opts.log(`audit journal ${this.id}: appending again`);
          this.failing = false;
        },
        (err: unknown) => this.drop('unavailable', this.inFlight.length, (err as Error).message.split('\n')[0]!),
      )
      .finally(() => {
        this.inFlight = [];
        this.sending = undefined;
        if (this.buffer.length >= this.batchLines) this.flush();
        else if (this.buffer.length) this.timer ??= setTimeout(() => this.flush(), this.flushMs).unref();
      });
  }

  private drop(reason: 'unavailable' | 'overflow', n: number, why: string): void {
    this.dropped.inc({ reason }, n);
    if (this.failing) return;
    this.failing = true;
    this.opts.log(
      `audit journal ${this.id}: dropping lines (${why}); the audit log keeps them, medic_audit_journal_dropped_total counts them, and the console shows this replica's lines meanwhile`,
    );
  }

  private async send(lines: JournalLine[]): Promise<void> {
    this.opts.ensureWorker();
    await this.call((client) =>
      client.workflow.signalWithStart(AUDIT_WORKFLOW_TYPE, {
        workflowId: this.id,
        taskQueue: this.queue,
        args: [],
        signal: appendSignal,
        signalArgs: [{ lines }],
      }),
    );
  }

  /** Lines of every replica, newest first, with this replica's lines on their way; throws when the journal does not answer. */
  async search(q: JournalSearch): Promise<JournalAnswer> {
    this.opts.ensureWorker();
    const limit = Math.min(q.limit ?? 200, MAX_SEARCH);
    const held = await this.call((client) => client.workflow.getHandle(this.id).query(searchQuery, { ...q, limit }));
    const seen = new Set(held.map((l) => l.id));
    const waiting = [...this.inFlight, ...this.buffer].filter((l) => !seen.has(l.id) && lineMatches(l, q));
    return { entries: waiting.length ? newestFirst([...held, ...waiting]).slice(0, limit) : held };
  }

  /** Runs `fn` with the journal's client under one deadline (connecting included). */
  private async call<T>(fn: (client: Client) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.callTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the audit journal did not answer within ${this.callTimeoutMs} ms`)),
        this.callTimeoutMs,
      );
    });
    try {
      const { connection, client } = await Promise.race([this.connect(), late]);
      return await Promise.race([connection.withDeadline(deadline, () => fn(client)), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private connect(): Promise<{ connection: Connection; client: Client }> {
    if (this.conn) return this.conn;
    const t = this.opts.temporal;
    const retry = closableRetry();
    this.conn = Connection.connect({ ...connectionOptions(t), interceptors: [retry.interceptor] }).then(
      (connection) => ({
        connection,
        retry,
        client: new Client({ connection, namespace: t.namespace, dataConverter: medicDataConverter(t.payloadKeyFile) }),
      }),
      (err: unknown) => {
        this.conn = undefined;
        throw err;
      },
    );
    return this.conn;
  }

  /** Sends what waits (for at most one call's deadline), then closes the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    await this.sending;
    this.flush();
    await this.sending;
    this.closed = true;
    clearTimeout(this.timer);
    // A connection still being made (Temporal silent) is closed when it is made; close() does not wait for it.
    const closing = this.conn?.then((c) => c.retry.close(c.connection)).catch(() => undefined);
    if (closing) await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
  }
}

/** Whether a search failed because no coordinator has written to the journal yet. */
export function journalMissing(err: unknown): boolean {
  return err instanceof WorkflowNotFoundError;
}
