// Temporal's WorkflowService as the lean worker speaks it: @grpc/grpc-js unary calls, messages
// encoded with protobufjs/light from the trimmed descriptor (build-descriptor.ts), TLS/mTLS and
// the API key from the `temporal` block, as the SDK's connection would send them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Root, type Type } from 'protobufjs/light';
import type { TemporalConfig } from '../../config/temporal';
import { packageRoot } from '../../paths';
import { EMBEDDED, embeddedAsset, isSingleExecutable } from '../../single-executable/embedded';
import { temporalApiKey, temporalTls } from '../../temporal/tls';

export const WORKFLOW_SERVICE = 'temporal.api.workflowservice.v1.WorkflowService';

/** The only calls the lean worker makes. */
export const LEAN_METHODS = [
  'GetSystemInfo',
  'PollActivityTaskQueue',
  'RecordActivityTaskHeartbeat',
  'RespondActivityTaskCompleted',
  'RespondActivityTaskFailed',
  'RespondActivityTaskCanceled',
] as const;
export type LeanMethod = (typeof LEAN_METHODS)[number];

/** dist/temporal-api-lean.json, written by `npm run build`. */
export function leanDescriptorPath(): string {
  return path.join(packageRoot(), 'dist', EMBEDDED.leanApi);
}

/** Thrown when the descriptor is missing: a checkout that was not built. */
export class LeanDescriptorError extends Error {
  override name = 'LeanDescriptorError';
}

function readDescriptor(): unknown {
  if (isSingleExecutable()) return JSON.parse(embeddedAsset(EMBEDDED.leanApi).toString('utf8'));
  const file = leanDescriptorPath();
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new LeanDescriptorError(
      `cannot read the Temporal API descriptor ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); rebuild with npm run build`,
    );
  }
}

/** A protobuf message as protobufjs converts it: camelCase fields, int64 as numbers, bytes as Buffer. */
export type Message = Record<string, unknown>;

interface Codec {
  path: string;
  serialize: (m: Message) => Buffer;
  deserialize: (b: Buffer) => Message;
}

function codecs(): Record<LeanMethod, Codec> {
  const root = Root.fromJSON(readDescriptor() as Parameters<typeof Root.fromJSON>[0]);
  const service = root.lookupService(WORKFLOW_SERVICE);
  const codec = (t: Type) => ({
    serialize: (m: Message) => Buffer.from(t.encode(t.fromObject(m)).finish()),
    deserialize: (b: Buffer) => t.toObject(t.decode(b), { longs: Number }) as Message,
  });
  return Object.fromEntries(
    LEAN_METHODS.map((name) => {
      const m = service.methods[name]!;
      m.resolve();
      const req = codec(m.resolvedRequestType!);
      const res = codec(m.resolvedResponseType!);
      return [name, { path: `/${WORKFLOW_SERVICE}/${name}`, serialize: req.serialize, deserialize: res.deserialize }];
    }),
  ) as Record<LeanMethod, Codec>;
}

/** A gRPC error as grpc-js reports it (code: grpc.status). */
export type CallError = Error & { code?: number; details?: string };

export const STATUS = grpc.status;

export interface CallOptions {
  /** Gives up (DEADLINE_EXCEEDED) after this long. */
  timeoutMs: number;
  /** Cancels the call (CANCELLED). */
  signal?: AbortSignal;
}

/** One channel to the frontend; calls are unary and share it. */
export class WorkflowServiceClient {
  private readonly client: grpc.Client;
  private readonly codecs = codecs();
  private readonly apiKey: (() => string) | undefined;

  constructor(private readonly config: TemporalConfig) {
    const tls = temporalTls(config);
    this.apiKey = temporalApiKey(config);
    const credentials = tls
      ? grpc.credentials.createSsl(
          tls.serverRootCACertificate ? Buffer.from(tls.serverRootCACertificate) : null,
          tls.clientCertPair ? Buffer.from(tls.clientCertPair.key) : null,
          tls.clientCertPair ? Buffer.from(tls.clientCertPair.crt) : null,
        )
      : grpc.credentials.createInsecure();
    this.client = new grpc.Client(config.address, credentials, {
      ...(tls?.serverNameOverride && {
        'grpc.ssl_target_name_override': tls.serverNameOverride,
        'grpc.default_authority': tls.serverNameOverride,
      }),
      // A long poll holds the connection for a minute: pings find a dead peer sooner.
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 15_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.max_receive_message_length': 128 * 1024 * 1024,
      // Reconnects back off with jitter of their own (grpc-js: 1 s doubling to 120 s, +-20 %).
      'grpc.initial_reconnect_backoff_ms': 1000,
      'grpc.max_reconnect_backoff_ms': 30_000,
    });
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set('temporal-namespace', this.config.namespace);
    md.set('client-name', 'medic-lean-worker');
    if (this.apiKey) md.set('authorization', `Bearer ${this.apiKey()}`);
    return md;
  }

  call(method: LeanMethod, request: Message, opts: CallOptions): Promise<Message> {
    const c = this.codecs[method];
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) return reject(Object.assign(new Error('cancelled before the call'), { code: STATUS.CANCELLED }));
      const call = this.client.makeUnaryRequest(
        c.path,
        c.serialize,
        c.deserialize,
        request,
        this.metadata(),
        { deadline: Date.now() + opts.timeoutMs },
        (err, value) => {
          opts.signal?.removeEventListener('abort', cancel);
          if (err) reject(err);
          else resolve(value ?? {});
        },
      );
      const cancel = (): void => call.cancel();
      opts.signal?.addEventListener('abort', cancel, { once: true });
    });
  }

  close(): void {
    this.client.close();
  }
}
