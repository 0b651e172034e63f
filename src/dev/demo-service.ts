// The demo that `medic dev` heals: a tiny HTTP service whose /health fails while a stale lock
// file sits in its directory (the classic leftover of a crashed run). `medic demo break` leaves
// such a lock; the healDemo runbook removes it with an allow-listed executable (/usr/bin/unlink)
// and its http_check step observes the service answering again. Its /metrics says whether it is
// healthy, labelled with what the runbook needs (node, directory, port): the trigger daemon's demo
// rule (config/triggers/demo.hcl) starts healDemo from it. `medic demo break --hard` leaves a lock
// the runbook cannot remove (a directory), so the run escalates; `medic demo fix` clears either.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { Gauge, Registry } from 'prom-client';
import { parseListen } from '../config/coordinator';
import { stateDir } from '../paths';
import { EXIT, type Command } from '../command/command';

export const DEMO_WORKFLOW = 'healDemo';
export const DEMO_LOCK = 'stale.lock';

/** Where `medic dev` keeps its data unless told otherwise (--data-dir). */
export function defaultDevDataDir(): string {
  return stateDir('dev');
}

export function demoDir(dataDir: string): string {
  return path.join(dataDir, 'demo');
}

/** Where the demo runs, as labels of its health metric: the trigger rule fills its target from them. */
export interface DemoLabels {
  node?: string;
  datacenter?: string;
  node_type?: string;
}

export const DEMO_METRIC = 'medic_demo_healthy';

function demoRegistry(lock: string, labels: Record<string, string>): Registry {
  const registry = new Registry();
  new Gauge({
    name: DEMO_METRIC,
    help: '1 while the demo service answers /health with 200, 0 while its stale lock is there',
    labelNames: Object.keys(labels),
    registers: [registry],
    collect() {
      this.set(labels, fs.existsSync(lock) ? 0 : 1);
    },
  });
  return registry;
}

/**
 * Serves GET /health until `signal` aborts: 200 "ok", or 503 while the stale lock exists; and
 * GET /metrics: medic_demo_healthy{node,datacenter,node_type,demo_dir,port}.
 */
export async function serveDemo(opts: {
  host: string;
  port: number;
  dir: string;
  signal: AbortSignal;
  labels?: DemoLabels;
}): Promise<string> {
  fs.mkdirSync(opts.dir, { recursive: true });
  const lock = path.join(opts.dir, DEMO_LOCK);
  const labels = Object.fromEntries(
    Object.entries({ ...opts.labels, demo_dir: opts.dir, port: String(opts.port) }).filter(([, v]) => v),
  ) as Record<string, string>;
  const registry = demoRegistry(lock, labels);
  const server = http.createServer((req, res) => {
    if (req.url === '/metrics') {
      void registry.metrics().then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body));
      return;
    }
    if (req.url !== '/health') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    // Checked on every request: the fault and its repair are both on disk, outside this process.
    if (fs.existsSync(lock)) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end(`unhealthy: stale lock ${lock}\n`);
    } else {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, resolve);
  });
  const url = `http://${opts.host}:${opts.port}/health`;
  opts.signal.addEventListener('abort', () => {
    server.close();
    server.closeAllConnections();
  });
  await new Promise<void>((resolve) => server.once('close', resolve));
  return url;
}

/**
 * Leaves the stale lock that makes the demo service unhealthy: a file the runbook unlinks, or
 * (hard) a directory, which unlink refuses, so the runbook fails and escalates.
 */
export function breakDemo(dir: string, hard = false): string {
  fixDemo(dir);
  fs.mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, DEMO_LOCK);
  const note = `left by medic demo break${hard ? ' --hard' : ''} at ${new Date().toISOString()}\n`;
  if (hard) {
    fs.mkdirSync(lock);
    fs.writeFileSync(path.join(lock, 'README'), note);
  } else fs.writeFileSync(lock, note);
  return lock;
}

/** Removes the stale lock, whichever kind; true when there was one. */
export function fixDemo(dir: string): boolean {
  const lock = path.join(dir, DEMO_LOCK);
  const there = fs.existsSync(lock);
  fs.rmSync(lock, { recursive: true, force: true });
  return there;
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'The medic dev demo service: `demo break` makes it unhealthy, medic dev heals it on its own.',
  usage: 'demo break [--hard]|fix|serve [--data-dir DIR] [--listen HOST:PORT]',
  details:
    'break: leaves a stale lock in DIR/demo/ (default .medic/dev/demo/), so the demo service answers 503;\n' +
    '  medic dev sees it in Prometheus and its trigger daemon starts healDemo, which removes the lock.\n' +
    '  --hard: a lock the runbook cannot remove (a directory), so healDemo escalates: a page in medic dev.\n' +
    'fix: removes the lock by hand (after a hard break).\n' +
    'serve: runs the demo service (medic dev starts it for you).',
  options: {
    'data-dir': { type: 'string', valueName: 'DIR', description: "medic dev's data directory (default .medic/dev)" },
    hard: { type: 'boolean', description: 'break: a fault the runbook cannot heal, to see an escalation' },
    listen: { type: 'string', valueName: 'HOST:PORT', description: 'serve: where to listen (default 127.0.0.1:8090)' },
    node: { type: 'string', valueName: 'N', description: 'serve: node label of its metric (the node to heal)' },
    datacenter: { type: 'string', valueName: 'DC', description: 'serve: datacenter label of its metric' },
    'node-type': { type: 'string', valueName: 'T', description: 'serve: node_type label of its metric' },
  },
  allowPositionals: true,
  async run(ctx) {
    const dir = demoDir((ctx.values['data-dir'] as string | undefined) ?? defaultDevDataDir());
    const [verb, ...extra] = ctx.positionals;
    if (extra.length) {
      ctx.stderr.write(`medic demo: unexpected ${JSON.stringify(extra[0])}\n`);
      return EXIT.usage;
    }
    if (verb === 'break') {
      const hard = ctx.values.hard === true;
      const lock = breakDemo(dir, hard);
      ctx.stdout.write(
        hard
          ? `demo service broken hard: ${lock} is a directory the runbook cannot unlink; watch medic dev escalate (medic demo fix clears it)\n`
          : `demo service broken: stale lock ${lock}; its /health answers 503 until medic heals it\n`,
      );
      return EXIT.ok;
    }
    if (verb === 'fix') {
      ctx.stdout.write(fixDemo(dir) ? `removed ${path.join(dir, DEMO_LOCK)}\n` : 'demo service was not broken\n');
      return EXIT.ok;
    }
    if (verb === 'serve') {
      const text = (ctx.values.listen as string | undefined) ?? '127.0.0.1:8090';
      const listen = parseListen(text);
      if (!listen) {
        ctx.stderr.write(`medic demo: --listen ${JSON.stringify(text)} is not host:port\n`);
        return EXIT.usage;
      }
      const v = ctx.values as Record<string, string | undefined>;
      const labels = { node: v.node, datacenter: v.datacenter, node_type: v['node-type'] };
      const served = serveDemo({ ...listen, dir, signal: ctx.signal, labels });
      ctx.stderr.write(
        `medic demo: serving http://${listen.host}:${listen.port}/health (lock file ${path.join(dir, DEMO_LOCK)})\n`,
      );
      await served;
      return EXIT.ok;
    }
    ctx.stderr.write(`medic demo: say "break", "fix" or "serve"\n`);
    return EXIT.usage;
  },
};
