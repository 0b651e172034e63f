// The SDK's gRPC retry interceptor, made safe to close a connection under: a retry scheduled
// before close() fires on the closed channel and throws "Channel has been shut down" from a
// timer, an uncaught exception (it failed test files in CI, and could end a stopping process).
import type { Connection } from '@temporalio/client';
import { defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';

type Interceptor = ReturnType<typeof makeGrpcRetryInterceptor>;

export interface ClosableRetry {
  /** The SDK's default retry, except that nothing is retried once close() began. */
  interceptor: Interceptor;
  /** Stops retrying, waits out a retry already scheduled (at most the SDK's 6 s), then closes. */
  close(connection: Connection): Promise<void>;
}

export function closableRetry(): ClosableRetry {
  const base = defaultGrpcRetryOptions();
  let closing = false;
  /** When the last scheduled retry fires. */
  let retriesUntil = 0;
  return {
    interceptor: makeGrpcRetryInterceptor({
      retryableDecider: (attempt, status) => !closing && base.retryableDecider(attempt, status),
      delayFunction: (attempt, status) => {
        const ms = base.delayFunction(attempt, status);
        retriesUntil = Math.max(retriesUntil, Date.now() + ms);
        return ms;
      },
    }),
    async close(connection) {
      closing = true;
      const wait = retriesUntil - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait + 20));
      await connection.close();
    },
  };
}
