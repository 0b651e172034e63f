// A small mTLS HTTPS client for tests and benches (node:https; keep-alive agent per identity).
import * as https from 'node:https';

export interface ClientTls {
  ca: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
}

export function tlsAgent(tls: ClientTls, maxSockets = 10): https.Agent {
  return new https.Agent({ keepAlive: true, maxSockets, ca: tls.ca, cert: tls.cert, key: tls.key });
}

export interface HttpsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

/** A JSON request; `raw` sends that body as it is, with `headers` (a form a signature covers). */
export function request(
  agent: https.Agent,
  method: string,
  url: string,
  body?: unknown,
  raw?: { body: string; headers: Record<string, string> },
): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const payload = raw ? raw.body : body === undefined ? undefined : JSON.stringify(body);
    const req = https.request(
      url,
      {
        method,
        agent,
        headers: raw
          ? { ...raw.headers, 'content-length': Buffer.byteLength(raw.body) }
          : payload
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: () => JSON.parse(text) });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}
