// Pauses: one marker per scope (medic-pause:w=..:dc=..:t=..), so a pause is durable in Temporal,
// at most one exists per scope, and every coordinator reads it by id (strongly consistent). A
// coordinator remembers each answer for PAUSE_CACHE_MS, so a change reaches every replica within a second.
import type { Client } from '@temporalio/client';
import type { Target } from '../naming/task-queues';
import { claimMarker, endMarker, MARKER_TYPES, readMarker, type Marker } from './markers';
import { coveringPauseScopes, pauseId, type PauseScope } from './policy';

export const PAUSE_CACHE_MS = 500;

export interface Pause {
  id: string;
  runId: string;
  scope: PauseScope;
  reason: string;
  /** Who set it: a SPIFFE ID, or "medic:circuit-breaker". */
  by: string;
  since: string;
  /** When it ends by itself (`--for`), if ever. */
  until?: string;
}

export const BREAKER_IDENTITY = 'medic:circuit-breaker';

function pauseOf(m: Pick<Marker, 'id' | 'runId' | 'memo' | 'startTime' | 'expiresAt'>): Pause {
  const memo = m.memo;
  const scope = (typeof memo.scope === 'object' && memo.scope !== null ? memo.scope : {}) as PauseScope;
  return {
    id: m.id,
    runId: m.runId,
    scope,
    reason: String(memo.reason ?? ''),
    by: String(memo.by ?? 'unknown'),
    since: new Date(m.startTime).toISOString(),
    ...(m.expiresAt !== undefined
      ? { until: new Date(m.expiresAt).toISOString() }
      : typeof memo.until === 'string'
        ? { until: memo.until }
        : {}),
  };
}

export async function setPause(
  client: Client,
  scope: PauseScope,
  opts: { reason: string; by: string; forMs?: number },
): Promise<{ created: boolean; pause: Pause }> {
  const id = pauseId(scope);
  const memo = {
    scope,
    reason: opts.reason,
    by: opts.by,
    ...(opts.forMs ? { until: new Date(Date.now() + opts.forMs).toISOString() } : {}),
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    const claimed = await claimMarker(client, 'pause', id, memo, opts.forMs);
    const now = Date.now();
    if (claimed)
      return {
        created: true,
        pause: pauseOf({ id, runId: claimed.runId, memo, startTime: now, expiresAt: opts.forMs ? now + opts.forMs : undefined }),
      };
    const existing = await readMarker(client, id);
    if (existing) return { created: false, pause: pauseOf(existing) };
  }
  throw new Error(`pause ${id} is changing under us; try again`);
}

/** Ends the pause of exactly this scope; the pause that was ended, or undefined when there was none. */
export async function endPause(client: Client, scope: PauseScope, reason: string): Promise<Pause | undefined> {
  const m = await readMarker(client, pauseId(scope));
  if (!m) return undefined;
  return (await endMarker(client, m.id, m.runId, reason)) ? pauseOf(m) : undefined;
}

/** Every pause in force, from visibility (eventually consistent; for listing, not for admission). */
export async function listPauses(client: Client): Promise<Pause[]> {
  const out: Pause[] = [];
  for await (const wf of client.workflow.list({
    query: `WorkflowType = '${MARKER_TYPES.pause}' AND ExecutionStatus = 'Running'`,
    pageSize: 200,
  })) {
    out.push(
      pauseOf({
        id: wf.workflowId,
        runId: wf.runId,
        memo: (wf.memo ?? {}) as Record<string, unknown>,
        startTime: wf.startTime.getTime(),
      }),
    );
    if (out.length >= 1000) break;
  }
  return out;
}

/** The admission-side reader: which pause, if any, covers a start. Answers are cached per id for PAUSE_CACHE_MS. */
export class PauseCheck {
  /** Per id: when it was read and the read (shared by the admissions that ask meanwhile: one call, not one each). */
  private readonly cache = new Map<string, { at: number; read: Promise<Pause | undefined> }>();

  constructor(private readonly ttlMs = PAUSE_CACHE_MS) {}

  async covering(client: Client, workflow: string, target: Target, now: number): Promise<Pause | undefined> {
    const found = await Promise.all(coveringPauseScopes(workflow, target).map((s) => this.read(client, pauseId(s), now)));
    return found.find((p) => p !== undefined);
  }

  /** Forgets what this coordinator knows about a scope (after it changed the pause itself). */
  forget(scope: PauseScope): void {
    this.cache.delete(pauseId(scope));
  }

  private async read(client: Client, id: string, now: number): Promise<Pause | undefined> {
    const hit = this.cache.get(id);
    if (hit && now - hit.at < this.ttlMs) {
      try {
        const pause = await hit.read;
        if (!pause?.until || Date.parse(pause.until) > now) return pause;
      } catch {
        // That read failed: ask again.
      }
    }
    const read = readMarker(client, id).then((m) => (m ? pauseOf(m) : undefined));
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(id, { at: now, read });
    // A failed read is not remembered.
    read.catch(() => {
      if (this.cache.get(id)?.read === read) this.cache.delete(id);
    });
    return read;
  }
}
