// A small HTTP listener for daemons without their own web server (trigger, worker):
// GET /metrics in the Prometheus text format and GET /healthz.
import * as http from 'node:http';
import type { Registry } from 'prom-client';
import { parseListen } from '../config/coordinator';

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

export async function serveMetrics(
  registry: Registry,
  listen: string,
  healthy: () => boolean = () => true,
): Promise<MetricsServer> {
  const where = parseListen(listen);
  if (!where) throw new Error(`metrics listen address ${JSON.stringify(listen)} is not host:port`);
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (req.url === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else if (req.url === '/healthz') {
      const ok = healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ok }));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new Error(`metrics port ${listen} is already in use`) : err),
    );
    server.listen(where.port, where.host, resolve);
  });
  const { port } = server.address() as { port: number };
  const host = where.host.includes(':') ? `[${where.host}]` : where.host;
  return {
    url: `http://${host}:${port}/metrics`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
