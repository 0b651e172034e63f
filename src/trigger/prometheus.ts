// Prometheus HTTP API: instant queries, with the answer checked before it is believed.
import type { Series } from './rule-state';

export type PrometheusErrorKind = 'unreachable' | 'timeout' | 'http_status' | 'bad_response' | 'query_error';

export class PrometheusError extends Error {
  override name = 'PrometheusError';
  constructor(
    readonly kind: PrometheusErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** Reads `{status, data: {resultType: "vector", result: [{metric, value: [ts, "v"]}]}}`. */
export function parseInstantVector(body: unknown): Series[] {
  const bad = (why: string): never => {
    throw new PrometheusError('bad_response', `unexpected answer from Prometheus: ${why}`);
  };
  if (typeof body !== 'object' || body === null) bad('not a JSON object');
  const b = body as { status?: unknown; error?: unknown; errorType?: unknown; data?: { resultType?: unknown; result?: unknown } };
  if (b.status === 'error')
    throw new PrometheusError('query_error', `${String(b.errorType ?? 'error')}: ${String(b.error ?? 'unknown')}`);
  if (b.status !== 'success') bad(`status ${JSON.stringify(b.status)}`);
  if (!b.data || typeof b.data !== 'object') bad('no data');
  const { resultType, result } = b.data!;
  // A scalar answer (e.g. `vector(1) > 0` written as `1 > 0`) has no series to act on.
  if (resultType !== 'vector') bad(`resultType ${JSON.stringify(resultType)}; trigger queries must return an instant vector`);
  if (!Array.isArray(result)) bad('data.result is not a list');
  return (result as unknown[]).map((r, i) => {
    const item = r as { metric?: unknown; value?: unknown };
    if (typeof item?.metric !== 'object' || item.metric === null) bad(`result[${i}].metric is not an object`);
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(item.metric as Record<string, unknown>)) {
      if (typeof v !== 'string') bad(`result[${i}].metric.${k} is not a string`);
      labels[k] = v as string;
    }
    if (!Array.isArray(item.value) || item.value.length !== 2 || typeof item.value[1] !== 'string')
      bad(`result[${i}].value is not [time, "value"]`);
    return { labels, value: (item.value as [number, string])[1] };
  });
}

export async function queryInstant(address: string, query: string, timeoutMs: number, signal?: AbortSignal): Promise<Series[]> {
  const url = `${address}/api/v1/query`;
  const timeout = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query, timeout: `${Math.max(1, Math.floor(timeoutMs / 1000))}s` }),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
  } catch (err) {
    if (timeout.aborted) throw new PrometheusError('timeout', `no answer from ${address} within ${timeoutMs} ms`);
    throw new PrometheusError(
      'unreachable',
      `cannot reach ${address}: ${(err as Error).cause ? String((err as Error & { cause: Error }).cause.message) : (err as Error).message}`,
    );
  }
  let body: unknown;
  try {
    const text = await res.text();
    body = JSON.parse(text);
  } catch {
    if (timeout.aborted) throw new PrometheusError('timeout', `no answer from ${address} within ${timeoutMs} ms`);
    throw new PrometheusError(
      res.ok ? 'bad_response' : 'http_status',
      `${address} answered HTTP ${res.status} with a body that is not JSON`,
    );
  }
  // Prometheus answers bad queries with 400 and a JSON error body: report its message.
  if (!res.ok && (body as { status?: unknown })?.status !== 'error')
    throw new PrometheusError('http_status', `${address} answered HTTP ${res.status}`);
  return parseInstantVector(body);
}
