// One HTTP/1.1 request written byte for byte over a socket, so no client library normalises the path first.
import * as net from 'node:net';

export interface RawAnswer {
  status: number;
  /** The body, parsed when it is JSON (else undefined). */
  json?: Record<string, unknown>;
  body: string;
}

export function rawRequest(
  port: number,
  method: string,
  target: string,
  opts: { body?: string; headers?: Record<string, string> } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      const at = text.indexOf('\r\n\r\n');
      const body = at === -1 ? '' : text.slice(at + 4);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      resolve({ status, json, body });
    });
    const headers: Record<string, string> = { Host: '127.0.0.1', Connection: 'close', ...opts.headers };
    if (opts.body) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = String(Buffer.byteLength(opts.body));
    }
    const head = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.write(`${method} ${target} HTTP/1.1\r\n${head}\r\n${opts.body ?? ''}`);
  });
}
