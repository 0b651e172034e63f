// Prometheus instant query, to verify that a condition has cleared (or still holds).
import { InvalidRequestError, NotConfiguredError, PrometheusQueryError } from './errors';
import { cancellation } from './context';
import type { PrometheusQueryConfig } from '../src/config/worker';

export interface PrometheusRequest {
  query: string;
  timeoutMs?: number;
}

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export interface PrometheusResult {
  query: string;
  resultType: string;
  samples: Sample[];
}

interface ApiAnswer {
  status?: string;
  error?: string;
  errorType?: string;
  data?: { resultType?: string; result?: unknown };
}

export async function prometheusQuery(
  fetchImpl: typeof fetch,
  config: PrometheusQueryConfig | undefined,
  req: PrometheusRequest,
): Promise<PrometheusResult> {
  if (!config) throw new NotConfiguredError('this worker has no prometheus { address = ... } block in worker.hcl');
  if (typeof req.query !== 'string' || req.query.trim() === '') throw new InvalidRequestError('query must not be empty');
  const timeoutMs = Math.min(req.timeoutMs ?? config.timeoutMs, config.timeoutMs);
  const url = new URL(`${config.address}/api/v1/query`);
  const signals = [AbortSignal.timeout(timeoutMs), cancellation()].filter((s): s is AbortSignal => s !== undefined);
  let res: Response;
  try {
    res = await fetchImpl(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: req.query, timeout: `${Math.ceil(timeoutMs / 1000)}s` }).toString(),
      signal: AbortSignal.any(signals),
    });
  } catch (err) {
    if (cancellation()?.aborted) throw err;
    const e = err as Error & { cause?: { code?: string; message?: string } };
    throw new PrometheusQueryError(
      `cannot reach Prometheus at ${config.address}: ${e.cause?.code ?? e.cause?.message ?? e.message}`,
    );
  }
  let answer: ApiAnswer;
  try {
    answer = (await res.json()) as ApiAnswer;
  } catch {
    throw new PrometheusQueryError(`Prometheus answered ${res.status} without JSON`);
  }
  if (answer.status !== 'success') {
    const message = `Prometheus refused the query (${answer.errorType ?? res.status}): ${answer.error ?? 'no reason given'}`;
    // A 400 is a bad query: retrying cannot fix it.
    if (res.status === 400) throw new InvalidRequestError(message);
    throw new PrometheusQueryError(message);
  }
  const resultType = answer.data?.resultType ?? 'unknown';
  const result = answer.data?.result;
  if (resultType === 'scalar' && Array.isArray(result))
    return { query: req.query, resultType, samples: [{ labels: {}, value: Number(result[1]) }] };
  if (resultType !== 'vector' || !Array.isArray(result)) {
    throw new InvalidRequestError(`query must return an instant vector, got ${resultType}`);
  }
  const samples = (result as Array<{ metric?: Record<string, string>; value?: [number, string] }>).map((r) => ({
    labels: r.metric ?? {},
    value: Number(r.value?.[1]),
  }));
  return { query: req.query, resultType, samples };
}
