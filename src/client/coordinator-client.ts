// Talks to the coordinator over HTTPS with a client certificate, as every caller does
// (trigger daemon, CLI). One keep-alive agent per client; answers are classified so callers
// can decide between "done", "wait for Retry-After", "fix your config" and "retry later".
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';

export interface CoordinatorClientOptions {
  /** https://host:port (http:// only for a coordinator started with TLS disabled in dev). */
  address: string;
  certFile?: string;
  keyFile?: string;
  caFile?: string;
  serverName?: string;
  timeoutMs?: number;
}

export interface TriggerRequest {
  target: { node?: string; datacenter?: string; node_type?: string };
  params?: Record<string, string>;
  reason?: string;
  idempotency_key?: string;
  /** Pass a change freeze (identities in the freeze's force_uris only). */
  force?: boolean;
}

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

export type TriggerOutcome =
  | { kind: 'started'; status: number; workflowId: string; runId?: string; taskQueue?: string; body: unknown }
  | { kind: 'refused'; status: 429; retryAfterMs: number; message: string; body: unknown }
  | { kind: 'rejected'; status: number; message: string; body: unknown }
  | { kind: 'unavailable'; status?: number; message: string };

export class CoordinatorClient {
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;

  constructor(readonly options: CoordinatorClientOptions) {
    this.url = new URL(options.address);
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.agent =
      this.url.protocol === 'https:'
        ? new https.Agent({
            keepAlive: true,
            cert: options.certFile ? fs.readFileSync(options.certFile) : undefined,
            key: options.keyFile ? fs.readFileSync(options.keyFile) : undefined,
            ca: options.caFile ? fs.readFileSync(options.caFile) : undefined,
            servername: options.serverName,
          })
        : new http.Agent({ keepAlive: true });
  }

  close(): void {
    this.agent.destroy();
  }

  /** One request with a JSON body; network failures reject with the reason in one line. */
  request(method: string, path: string, body?: unknown): Promise<HttpAnswer> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const lib = this.url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(
        new URL(path, this.url),
        {
          method,
          agent: this.agent,
          timeout: this.timeoutMs,
          headers: {
            accept: 'application/json',
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {}
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err) => reject(new Error(`cannot reach the coordinator at ${this.url.origin}: ${err.message}`)));
      req.end(payload);
    });
  }

  async trigger(workflow: string, request: TriggerRequest, opts: { dryRun?: boolean } = {}): Promise<TriggerOutcome> {
    const path = `/v1/workflows/${encodeURIComponent(workflow)}/executions${opts.dryRun ? '?dry_run=true' : ''}`;
    let answer: HttpAnswer;
    try {
      answer = await this.request('POST', path, request);
    } catch (err) {
      return { kind: 'unavailable', message: (err as Error).message };
    }
    return classify(answer);
  }
}

function messageOf(body: unknown, status: number): string {
  const b = body as { message?: unknown; error?: unknown } | undefined;
  return typeof b?.message === 'string' ? b.message : typeof b?.error === 'string' ? b.error : `HTTP ${status}`;
}

/** Retry-After in seconds (or an HTTP date) -> milliseconds from now; at least one second. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number {
  const h = Array.isArray(header) ? header[0] : header;
  if (!h) return 60_000;
  const seconds = Number(h);
  if (Number.isFinite(seconds)) return Math.max(1000, seconds * 1000);
  const at = Date.parse(h);
  return Number.isFinite(at) ? Math.max(1000, at - now) : 60_000;
}

export function classify(answer: HttpAnswer): TriggerOutcome {
  const { status, body } = answer;
  if (status >= 200 && status < 300) {
    const b = (body ?? {}) as { workflow_id?: string; run_id?: string; task_queue?: string };
    return { kind: 'started', status, workflowId: b.workflow_id ?? '', runId: b.run_id, taskQueue: b.task_queue, body };
  }
  if (status === 429)
    return {
      kind: 'refused',
      status,
      retryAfterMs: retryAfterMs(answer.headers['retry-after']),
      message: messageOf(body, status),
      body,
    };
  if (status >= 500 || status === 408) return { kind: 'unavailable', status, message: messageOf(body, status) };
  return { kind: 'rejected', status, message: messageOf(body, status), body };
}
