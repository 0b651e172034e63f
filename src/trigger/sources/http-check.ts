// One HTTP health check: a GET on a fresh connection, judged on the status line alone (2xx is
// healthy; the body is never read, so its size does not matter), within a timeout. Redirects
// count as failures unless the rule follows them (at most 5, to http or https only).
import * as http from 'node:http';
import * as https from 'node:https';
import type { CheckResult } from './http-episodes';

const MAX_REDIRECTS = 5;

export interface HttpCheckOptions {
  timeoutMs: number;
  followRedirects: boolean;
  signal?: AbortSignal;
}

function describeError(err: NodeJS.ErrnoException, timeoutMs: number, timedOut: boolean): string {
  if (timedOut) return `timed out after ${timeoutMs} ms`;
  if (err.code === 'ECONNREFUSED') return 'connection refused';
  if (err.code === 'ECONNRESET') return 'connection reset';
  return err.code ? `${err.code}: ${err.message}` : err.message;
}

/** GETs `url` once: `ok` on 2xx, else why not. Never throws. */
export async function checkHttp(url: string, opts: HttpCheckOptions): Promise<CheckResult> {
  const deadline = Date.now() + opts.timeoutMs;
  let current = new URL(url);
  for (let hop = 0; ; hop++) {
    const r = await getStatus(current, Math.max(1, deadline - Date.now()), opts);
    if ('detail' in r) return { ok: false, detail: r.detail };
    if (r.status >= 200 && r.status < 300) return { ok: true, detail: `HTTP ${r.status}` };
    const redirect = r.status >= 300 && r.status < 400 && r.location;
    if (!redirect || !opts.followRedirects) return { ok: false, detail: `HTTP ${r.status}` };
    if (hop >= MAX_REDIRECTS) return { ok: false, detail: `more than ${MAX_REDIRECTS} redirects` };
    let next: URL;
    try {
      next = new URL(redirect, current);
    } catch {
      return { ok: false, detail: `HTTP ${r.status} to an invalid Location` };
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:')
      return { ok: false, detail: `HTTP ${r.status} to a ${next.protocol} URL` };
    current = next;
  }
}

function getStatus(
  url: URL,
  timeoutMs: number,
  opts: HttpCheckOptions,
): Promise<{ status: number; location?: string } | { detail: string }> {
  return new Promise((resolve) => {
    let timedOut = false;
    const get = url.protocol === 'https:' ? https.get : http.get;
    // agent: false: a new connection per check, so a listener that stopped accepting is seen.
    const req = get(url, { agent: false, headers: { 'user-agent': 'medic-trigger', connection: 'close' } }, (res) => {
      clearTimeout(timer);
      resolve({ status: res.statusCode ?? 0, location: res.headers.location });
      res.destroy();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      req.destroy(new Error('timeout'));
    }, timeoutMs);
    const abort = () => req.destroy(new Error('aborted'));
    opts.signal?.addEventListener('abort', abort, { once: true });
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ detail: describeError(err, opts.timeoutMs, timedOut) });
    });
    req.on('close', () => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', abort);
    });
  });
}
