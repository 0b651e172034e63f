import { parseInstantVector, PrometheusError } from '../../src/prometheus/client';
import { backoffMs } from '../../src/trigger/backoff';
import { classify, retryAfterMs } from '../../src/client/coordinator-client';

describe('parseInstantVector', () => {
  it('reads series labels and values', () => {
    expect(
      parseInstantVector({
        status: 'success',
        data: { resultType: 'vector', result: [{ metric: { __name__: 'up', instance: 'h:1' }, value: [1700000000.1, '0'] }] },
      }),
    ).toEqual([{ labels: { __name__: 'up', instance: 'h:1' }, value: '0' }]);
  });

  it.each([
    ['a string', 'hello', 'bad_response'],
    ['null', null, 'bad_response'],
    ['a query error', { status: 'error', errorType: 'bad_data', error: 'parse error' }, 'query_error'],
    ['a scalar', { status: 'success', data: { resultType: 'scalar', result: [1, '1'] } }, 'bad_response'],
    [
      'a broken series',
      { status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: 'x' }] } },
      'bad_response',
    ],
    [
      'a non-string label',
      { status: 'success', data: { resultType: 'vector', result: [{ metric: { a: 1 }, value: [1, '1'] }] } },
      'bad_response',
    ],
  ])('refuses %s with kind %s', (_what, body, kind) => {
    try {
      parseInstantVector(body);
      throw new Error('accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(PrometheusError);
      expect((err as PrometheusError).kind).toBe(kind);
    }
  });
});

describe('backoffMs', () => {
  it('grows exponentially up to the cap, with jitter below the ceiling', () => {
    const top = (n: number) => backoffMs(n, 1000, 60_000, () => 1);
    expect([0, 1, 2, 3, 10].map(top)).toEqual([1000, 2000, 4000, 8000, 60_000]);
    expect(backoffMs(3, 1000, 60_000, () => 0)).toBe(500);
    expect(backoffMs(3, 1000, 60_000, () => 0.5)).toBe(4000);
  });
});

describe('coordinator answers', () => {
  it('reads Retry-After as seconds or a date, with sane fallbacks', () => {
    expect(retryAfterMs('30')).toBe(30_000);
    expect(retryAfterMs('0')).toBe(1000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 0)).toBe(10_000);
    expect(retryAfterMs(undefined)).toBe(60_000);
    expect(retryAfterMs('soon')).toBe(60_000);
  });

  it.each([
    [202, 'started'],
    [200, 'started'],
    [429, 'refused'],
    [400, 'rejected'],
    [403, 'rejected'],
    [404, 'rejected'],
    [408, 'unavailable'],
    [500, 'unavailable'],
    [503, 'unavailable'],
  ])('classifies HTTP %d as %s', (status, kind) => {
    expect(classify({ status, headers: {}, body: { workflow_id: 'w', message: 'm' } }).kind).toBe(kind);
  });
});
