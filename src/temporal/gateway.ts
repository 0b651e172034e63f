// The coordinator's link to Temporal. It connects in the background with backoff, so the
// coordinator serves (and answers 503 to triggers) while Temporal is down instead of crashing;
// after the first connection gRPC reconnects by itself and each call has a deadline.
import { InterceptingCall } from '@grpc/grpc-js';
import { medicDataConverter } from './data-converter';
import { Client, Connection, isGrpcServiceError, type ClientOptions, type ConnectionOptions } from '@temporalio/client';
import type { TemporalConfig } from '../config/temporal';
import { diagnoseTemporalTls, refusedCredentials, TemporalTlsError } from './tls-diagnosis';
import { temporalConnection } from './tls';
import { closableRetry, type ClosableRetry } from './closable-retry';

/** Thrown when a trigger needs Temporal and there is no connection (yet), or it did not answer in time. */
export class TemporalUnavailableError extends Error {
  override name = 'TemporalUnavailableError';
}

export interface TemporalGatewayOptions {
  /** Deadline of one trigger's Temporal calls together. */
  callTimeoutMs?: number;
  /** How long /readyz trusts its last probe. */
  readyCacheMs?: number;
  onConnected?: (connected: boolean) => void;
  log?: (message: string) => void;
  /** Called (and connecting stops) when a certificate problem makes Temporal unreachable for good. */
  onFatal?: (err: TemporalTlsError) => void;
  /** Client interceptors of the admission client (tests inject lost replies with them). */
  interceptors?: ClientOptions['interceptors'];
  /** Called with the method name ("StartWorkflowExecution") of every gRPC call admission makes: what a trigger costs. */
  onCall?: (method: string) => void;
  /** Called when that call ends, with its duration: where a trigger's time goes. */
  onCallDone?: (method: string, seconds: number) => void;
}

type GrpcInterceptor = NonNullable<ConnectionOptions['interceptors']>[number];

/** Counts each call by method and times it to its status, then hands it on unchanged. */
function countingInterceptor(
  onCall: (method: string) => void,
  onDone: (method: string, seconds: number) => void = () => {},
): GrpcInterceptor {
  return (options, nextCall) => {
    const method = options.method_definition.path.split('/').pop() ?? 'unknown';
    onCall(method);
    const began = process.hrtime.bigint();
    // nextCall gives the InterceptingCall grpc-js expects; its declared type is the narrower interface.
    return new InterceptingCall(nextCall(options) as InterceptingCall, {
      start(metadata, listener, next) {
        next(metadata, {
          onReceiveStatus(status, done) {
            onDone(method, Number(process.hrtime.bigint() - began) / 1e9);
            done(status);
          },
        });
      },
    }) as ReturnType<GrpcInterceptor>;
  };
}

/** gRPC statuses that mean "Temporal is not there or too slow", answered as 503. */
// (gRPC status codes: CANCELLED 1, DEADLINE_EXCEEDED 4, UNAVAILABLE 14.)
const UNAVAILABLE = new Set<number>([1, 4, 14]);

export function isTemporalUnavailable(err: unknown): boolean {
  if (err instanceof TemporalUnavailableError) return true;
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  for (const e of [err, cause]) {
    if (isGrpcServiceError(e) && UNAVAILABLE.has(e.code)) return true;
  }
  return false;
}

export function connectionOptions(config: TemporalConfig): ConnectionOptions {
  return { ...temporalConnection(config), connectTimeout: 5_000 };
}

export class TemporalGateway {
  private current?: {
    connection: Connection;
    retry: ClosableRetry;
    client: Client;
    visibility: Client;
    visibilityConnection: Connection;
  };
  private closed = false;
  private lastProbe?: { at: number; ok: boolean };
  private connecting?: Promise<void>;
  /** Ends the backoff sleep of the connect loop early (on close). */
  private wake?: () => void;
  readonly callTimeoutMs: number;

  private constructor(
    readonly config: TemporalConfig,
    private readonly opts: TemporalGatewayOptions,
  ) {
    this.callTimeoutMs = opts.callTimeoutMs ?? 10_000;
  }

  /** Starts connecting in the background, retrying with backoff until it succeeds or close() is called. */
  static connectInBackground(config: TemporalConfig, opts: TemporalGatewayOptions = {}): TemporalGateway {
    const g = new TemporalGateway(config, opts);
    g.connecting = g.connectLoop();
    return g;
  }

  /** Connects once and fails if Temporal is unreachable (for tools and tests). */
  static async connect(config: TemporalConfig, opts: TemporalGatewayOptions = {}): Promise<TemporalGateway> {
    const g = new TemporalGateway(config, opts);
    await g.connectOnce();
    return g;
  }

  get connected(): boolean {
    return this.current !== undefined;
  }

  get namespace(): string {
    return this.config.namespace;
  }

  private async connectOnce(): Promise<void> {
    const counting = this.opts.onCall ? [countingInterceptor(this.opts.onCall, this.opts.onCallDone)] : [];
    const retry = closableRetry();
    const connection = await Connection.connect({
      ...connectionOptions(this.config),
      interceptors: [...counting, retry.interceptor],
    });
    // Visibility calls go over a second connection without the SDK's retry interceptor: when
    // the namespace's visibility rate limit refuses a count, admission goes on without it
    // (the leases decide) instead of waiting out retries.
    const visibilityConnection = await Connection.connect({ ...connectionOptions(this.config), interceptors: counting }).catch(
      async (err: unknown) => {
        await connection.close();
        throw err;
      },
    );
    if (this.closed) {
      await Promise.all([connection.close(), visibilityConnection.close()]);
      return;
    }
    const namespace = this.config.namespace;
    const dataConverter = medicDataConverter(this.config.payloadKeyFile);
    this.current = {
      connection,
      retry,
      client: new Client({ connection, namespace, dataConverter, interceptors: this.opts.interceptors }),
      visibilityConnection,
      visibility: new Client({ connection: visibilityConnection, namespace, dataConverter }),
    };
    this.opts.onConnected?.(true);
    this.opts.log?.(`connected to Temporal at ${this.config.address} (namespace ${this.config.namespace})`);
  }

  private async connectLoop(): Promise<void> {
    let delay = 250;
    let attempt = 0;
    while (!this.closed && !this.current) {
      attempt += 1;
      try {
        await this.connectOnce();
        return;
      } catch (err) {
        // A certificate problem does not heal by retrying: stop and say which file and why.
        const why = await diagnoseTemporalTls(this.config).catch(() => undefined);
        if (why) {
          this.opts.onFatal?.(new TemporalTlsError(`cannot connect to Temporal at ${this.config.address}: ${why}`));
          return;
        }
        // Say it once clearly, then every tenth attempt, not on every retry.
        if (attempt === 1 || attempt % 10 === 0) {
          const refused = refusedCredentials(err, this.config);
          this.opts.log?.(
            refused
              ? `${refused} (attempt ${attempt}); retrying (a rotated key file is re-read), triggers answer 503 meanwhile`
              : `cannot reach Temporal at ${this.config.address} (attempt ${attempt}): ${(err as Error).message}; retrying, triggers answer 503 meanwhile`,
          );
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  /** The client, or TemporalUnavailableError while there is no connection. */
  client(): Client {
    if (!this.current) throw new TemporalUnavailableError(`not connected to Temporal at ${this.config.address}`);
    return this.current.client;
  }

  /** Runs `fn` with a client for visibility queries (no retries) and a deadline. */
  async visibility<T>(fn: (client: Client) => Promise<T>, timeoutMs: number): Promise<T> {
    if (!this.current) throw new TemporalUnavailableError(`not connected to Temporal at ${this.config.address}`);
    const { visibility, visibilityConnection } = this.current;
    return visibilityConnection.withDeadline(Date.now() + timeoutMs, () => fn(visibility));
  }

  /** Runs `fn` with one deadline on every Temporal call it makes. */
  async withDeadline<T>(fn: (client: Client) => Promise<T>, timeoutMs = this.callTimeoutMs): Promise<T> {
    const client = this.client();
    return this.current!.connection.withDeadline(Date.now() + timeoutMs, () => fn(client));
  }

  /** Temporal answers for our namespace; cached for a moment so /readyz probes stay cheap. */
  async ready(): Promise<boolean> {
    if (!this.current) return false;
    const now = Date.now();
    if (this.lastProbe && now - this.lastProbe.at < (this.opts.readyCacheMs ?? 2_000)) return this.lastProbe.ok;
    let ok: boolean;
    try {
      await this.withDeadline((c) => c.workflowService.describeNamespace({ namespace: this.config.namespace }), 2_000);
      ok = true;
    } catch {
      ok = false;
    }
    this.lastProbe = { at: Date.now(), ok };
    return ok;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    await this.connecting?.catch(() => undefined);
    const c = this.current;
    this.current = undefined;
    if (c) {
      this.opts.onConnected?.(false);
      await Promise.all([c.retry.close(c.connection), c.visibilityConnection.close()]);
    }
  }
}
