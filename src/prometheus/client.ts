// Prometheus HTTP API: instant and range queries at times the daemon chooses (points of its
// evaluation grid), with the answer checked before it is believed.

/** One series of an instant query: its labels and value. */
export interface Series {
  labels: Record<string, string>;
  value: string;
}

/** A series over a range of grid points: its value at each point where it was returned. */
export interface SeriesHistory {
  labels: Record<string, string>;
  points: Array<[number, string]>;
}

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

const bad = (why: string): never => {
  throw new PrometheusError('bad_response', `unexpected answer from Prometheus: ${why}`);
};

/** The `data.result` list of a successful answer of the given result type. */
function resultList(body: unknown, resultType: 'vector' | 'matrix'): unknown[] {
  if (typeof body !== 'object' || body === null) bad('not a JSON object');
  const b = body as { status?: unknown; error?: unknown; errorType?: unknown; data?: { resultType?: unknown; result?: unknown } };
  if (b.status === 'error')
    throw new PrometheusError('query_error', `${String(b.errorType ?? 'error')}: ${String(b.error ?? 'unknown')}`);
  if (b.status !== 'success') bad(`status ${JSON.stringify(b.status)}`);
  if (!b.data || typeof b.data !== 'object') bad('no data');
  // A scalar answer (e.g. `vector(1) > 0` written as `1 > 0`) has no series to act on.
  if (b.data!.resultType !== resultType)
    bad(`resultType ${JSON.stringify(b.data!.resultType)}; trigger queries must return an instant vector`);
  if (!Array.isArray(b.data!.result)) bad('data.result is not a list');
  return b.data!.result as unknown[];
}

function readLabels(metric: unknown, i: number): Record<string, string> {
  if (typeof metric !== 'object' || metric === null) bad(`result[${i}].metric is not an object`);
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(metric as Record<string, unknown>)) {
    if (typeof v !== 'string') bad(`result[${i}].metric.${k} is not a string`);
    labels[k] = v as string;
  }
  return labels;
}

const isSample = (v: unknown): v is [number, string] =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'string';

/** Reads `{status, data: {resultType: "vector", result: [{metric, value: [ts, "v"]}]}}`. */
export function parseInstantVector(body: unknown): Series[] {
  return resultList(body, 'vector').map((r, i) => {
    const item = r as { metric?: unknown; value?: unknown };
    const labels = readLabels(item?.metric, i);
    if (!isSample(item.value)) bad(`result[${i}].value is not [time, "value"]`);
    return { labels, value: (item.value as [number, string])[1] };
  });
}

/** Reads `{status, data: {resultType: "matrix", result: [{metric, values: [[ts, "v"], ...]}]}}`; times in ms. */
export function parseRangeMatrix(body: unknown): SeriesHistory[] {
  return resultList(body, 'matrix').map((r, i) => {
    const item = r as { metric?: unknown; values?: unknown };
    const labels = readLabels(item?.metric, i);
    if (!Array.isArray(item.values)) bad(`result[${i}].values is not a list`);
    const points = (item.values as unknown[]).map((v, j): [number, string] => {
      if (!isSample(v)) bad(`result[${i}].values[${j}] is not [time, "value"]`);
      return [Math.round((v as [number, string])[0] * 1000), (v as [number, string])[1]];
    });
    return { labels, points };
  });
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

async function post(
  address: string,
  api: string,
  params: Record<string, string>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<unknown> {
  const url = `${address}${api}`;
  const timeout = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...params, timeout: `${Math.max(1, Math.floor(timeoutMs / 1000))}s` }),
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
  return body;
}

/** The query evaluated at `time` (ms since the epoch): the daemon passes grid points, never "now". */
export async function queryInstant(
  address: string,
  query: string,
  time: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Series[]> {
  return parseInstantVector(await post(address, '/api/v1/query', { query, time: seconds(time) }, timeoutMs, signal));
}

/** The query evaluated at every grid point from `start` to `end` (ms), as a range query does. */
export async function queryRange(
  address: string,
  query: string,
  range: { start: number; end: number; step: number },
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<SeriesHistory[]> {
  const params = { query, start: seconds(range.start), end: seconds(range.end), step: seconds(range.step) };
  return parseRangeMatrix(await post(address, '/api/v1/query_range', params, timeoutMs, signal));
}
