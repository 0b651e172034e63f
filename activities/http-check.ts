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

export async function httpCheck(fetchImpl: typeof fetch, req: HttpCheckRequest): Promise<HttpCheckResult> {
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    throw new InvalidRequestError(`${JSON.stringify(req.url)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidRequestError(`${req.url} must use http or https`);
  const expectStatus = req.expectStatus ?? 200;
  const timeoutMs = req.timeoutMs ?? 10_000;
  const started = Date.now();
  const signals = [AbortSignal.timeout(timeoutMs), cancellation()].filter((s): s is AbortSignal => s !== undefined);
  const done = (healthy: boolean, detail: string, status?: number): HttpCheckResult => ({
    url: req.url,
    healthy,
    ...(status !== undefined && { status }),
    detail,
    durationMs: Date.now() - started,
  });
  try {
    const res = await fetchImpl(url, { method: 'GET', redirect: 'manual', signal: AbortSignal.any(signals) });
    const body = (await res.text()).slice(0, BODY_KEPT);
    if (res.status !== expectStatus) return done(false, `status ${res.status}, expected ${expectStatus}`, res.status);
    if (req.expectBody !== undefined && !body.includes(req.expectBody)) {
      return done(false, `body does not contain ${JSON.stringify(req.expectBody)}`, res.status);
    }
    return done(true, `status ${res.status}`, res.status);
  } catch (err) {
    if (cancellation()?.aborted) throw err;
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const reason =
      e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    return done(false, reason);
  }
}
