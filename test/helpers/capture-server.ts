// A loopback HTTP server for tests: it records every request (hooks' webhooks, health checks,
// Prometheus queries) and answers with whatever the test's handler says.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Captured {
  method: string;
  path: string;
  body: string;
  json?: unknown;
  headers: http.IncomingHttpHeaders;
}

export type Reply = { status: number; body?: string | object; delayMs?: number };

export interface CaptureServer {
  url: string;
  requests: Captured[];
  /** The requests to one path, parsed as JSON. */
  posted<T = Record<string, string>>(path: string): T[];
  close(): Promise<void>;
}

export async function startCaptureServer(
  handler: (req: Captured) => Reply = () => ({ status: 200, body: 'ok' }),
): Promise<CaptureServer> {
  const requests: Captured[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = body ? JSON.parse(body) : undefined;
      } catch {}
      const captured: Captured = { method: req.method ?? '', path: req.url ?? '', body, json, headers: req.headers };
      requests.push(captured);
      const reply = handler(captured);
      const send = (): void => {
        const text = typeof reply.body === 'object' ? JSON.stringify(reply.body) : (reply.body ?? '');
        res.writeHead(reply.status, { 'content-type': typeof reply.body === 'object' ? 'application/json' : 'text/plain' });
        res.end(text);
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs);
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    posted: <T>(path: string) => requests.filter((r) => r.path === path).map((r) => r.json as T),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Prometheus's instant-query answer with one sample per label set. */
export function vector(series: Array<Record<string, string>>, value = '1'): object {
  return { status: 'success', data: { resultType: 'vector', result: series.map((metric) => ({ metric, value: [0, value] })) } };
}
