// HTTP health check: one GET, expected status and body text, bounded time. An unhealthy answer
// is a result, not an error: the workflow decides what "still unhealthy" means.
import { InvalidRequestError } from './errors';
import { cancellation } from './context';

export interface HttpCheckRequest {
  url: string;
  /** Default 200. */
  expectStatus?: number;
  /** Text the body must contain. */
  expectBody?: string;
  timeoutMs?: number;
}

export interface HttpCheckResult {
  url: string;
  healthy: boolean;
  status?: number;
  /** Why it is unhealthy, or a short confirmation. */
  detail: string;
  durationMs: number;
}

const BODY_KEPT = 64 * 1024;

/** What one GET answered: its status and the start of its body, or why there was no answer. */
export interface HttpAnswer {
  status?: number;
  body: string;
  /** No answer: timeout, refused connection, ... */
  error?: string;
}

/** One GET of an http(s) URL (no redirects followed), bounded in time and in the body kept. */
export async function httpGet(
  fetchImpl: typeof fetch,
  rawUrl: string,
  timeoutMs: number,
  bodyKept = BODY_KEPT,
): Promise<HttpAnswer> {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new InvalidRequestError(`${JSON.stringify(rawUrl)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidRequestError(`${rawUrl} must use http or https`);
  const signals = [AbortSignal.timeout(timeoutMs), cancellation()].filter((s): s is AbortSignal => s !== undefined);
  try {
    const res = await fetchImpl(url, { method: 'GET', redirect: 'manual', signal: AbortSignal.any(signals) });
    return { status: res.status, body: (await res.text()).slice(0, bodyKept) };
  } catch (err) {
    if (cancellation()?.aborted) throw err;
    const e = err as Error & { cause?: { code?: string; message?: string } };
    return {
      body: '',
      error: e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message),
    };
  }
}

export async function httpCheck(fetchImpl: typeof fetch, req: HttpCheckRequest): Promise<HttpCheckResult> {
  const expectStatus = req.expectStatus ?? 200;
  const timeoutMs = req.timeoutMs ?? 10_000;
  const started = Date.now();
  const done = (healthy: boolean, detail: string, status?: number): HttpCheckResult => ({
    url: req.url,
    healthy,
    ...(status !== undefined && { status }),
    detail,
    durationMs: Date.now() - started,
  });
  const res = await httpGet(fetchImpl, req.url, timeoutMs);
  if (res.status === undefined) return done(false, res.error ?? 'no answer');
  if (res.status !== expectStatus) return done(false, `status ${res.status}, expected ${expectStatus}`, res.status);
  if (req.expectBody !== undefined && !res.body.includes(req.expectBody)) {
    return done(false, `body does not contain ${JSON.stringify(req.expectBody)}`, res.status);
  }
  return done(true, `status ${res.status}`, res.status);
}
