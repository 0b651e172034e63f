// Runs `temporal server start-dev` as a child process on loopback, with medic's search
// attributes registered, and waits until its frontend answers. Used by the test suite,
// the benchmarks and `medic dev`.
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_TYPES } from '../naming/search-attributes';

export interface DevServerOptions {
  binary: string;
  ip?: string;
  /** Frontend gRPC port; a free one when omitted. */
  port?: number;
  /** Web UI port; no UI when omitted. */
  uiPort?: number;
  /** Prometheus /metrics port; a random free one when omitted. */
  metricsPort?: number;
  /** SQLite file for data that outlives the process; in memory when omitted. */
  dbFile?: string;
  namespace?: string;
  readyTimeoutMs?: number;
  /** Receives the server's output lines (it logs at warn level and above). */
  log?: (line: string) => void;
}

export interface DevServer {
  address: string;
  namespace: string;
  uiUrl?: string;
  metricsUrl?: string;
  pid: number;
  /** Resolves with the exit code (or null after a signal) when the server process ends. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

export class DevServerError extends Error {
  override name = 'DevServerError';
}

/** A TCP port that was free a moment ago on `host`. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** True when nothing accepts connections on host:port. */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function waitReady(
  address: string,
  namespace: string,
  child: ChildProcess,
  timeoutMs: number,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new EarlyExitError(`temporal dev server exited with code ${child.exitCode} before it was ready:\n${output()}`);
    }
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await conn.workflowService.describeNamespace({ namespace });
        return;
      } finally {
        await conn.close();
      }
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new DevServerError(`temporal dev server at ${address} not ready after ${timeoutMs} ms: ${String(last)}\n${output()}`);
}

/**
 * Starts the dev server. The server picks free ports of its own for its HTTP API and metrics;
 * when one of those is taken between its choice and its bind it exits at once, so an early
 * exit is retried (twice) before it is reported.
 */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      if (!(err instanceof EarlyExitError) || attempt >= 3) throw err;
      opts.log?.(`temporal dev server exited during start-up (attempt ${attempt}); starting it again`);
    }
  }
}

/** The server process ended before it answered. */
class EarlyExitError extends DevServerError {}

async function startOnce(opts: DevServerOptions): Promise<DevServer> {
  const ip = opts.ip ?? '127.0.0.1';
  const port = opts.port ?? (await freePort(ip));
  const namespace = opts.namespace ?? 'default';
  const args = ['server', 'start-dev', '--ip', ip, '--port', String(port), '--log-format', 'text'];
  if (opts.uiPort) args.push('--ui-port', String(opts.uiPort));
  else args.push('--headless');
  if (opts.dbFile) args.push('--db-filename', opts.dbFile);
  if (opts.metricsPort) args.push('--metrics-port', String(opts.metricsPort));
  if (namespace !== 'default') args.push('--namespace', namespace);
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTE_TYPES)) args.push('--search-attribute', `${name}=${type}`);
  // One partition per task queue (the server's default is 4): a ledger's workflow task on the
  // normal queue waited 0.5-4 s for a poll to reach its partition, the whole admission tail in
  // bench:history (p99 1.1-4 s; 0.15 s with one). Clusters set it for the ledger queue (docs/operations/production.md).
  for (const key of ['matching.numTaskqueueReadPartitions', 'matching.numTaskqueueWritePartitions'])
    args.push('--dynamic-config-value', `${key}=1`);

  // Its own process group: a Ctrl-C in the terminal reaches the owner (medic dev, jest), which
  // stops the server after the processes that use it.
  const child = spawn(opts.binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });
  // The first lines say why a server failed (a Go panic's reason comes before its long trace).
  let head = '';
  let tail = '';
  const onData = (chunk: Buffer): void => {
    const text = chunk.toString();
    if (head.length < 2000) head = (head + text).slice(0, 2000);
    tail = (tail + text).slice(-2000);
    if (opts.log) for (const line of text.split('\n')) if (line.trim()) opts.log(line);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) => reject(new DevServerError(`cannot start ${opts.binary}: ${err.message}`)));
  });
  await spawned;

  const address = `${ip.includes(':') ? `[${ip}]` : ip}:${port}`;
  try {
    await waitReady(address, namespace, child, opts.readyTimeoutMs ?? 60_000, () =>
      head === tail ? head : `${head}\n...\n${tail}`,
    );
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  return {
    address,
    namespace,
    uiUrl: opts.uiPort ? `http://${ip}:${opts.uiPort}` : undefined,
    metricsUrl: opts.metricsPort ? `http://${ip}:${opts.metricsPort}/metrics` : undefined,
    pid: child.pid!,
    exited,
    stop: () => stopChild(child),
  };
}
