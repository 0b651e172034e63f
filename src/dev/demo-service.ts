// The demo that `medic dev` heals: a tiny HTTP service whose /health fails while a stale lock
// file sits in its directory (the classic leftover of a crashed run). `medic demo break` leaves
// such a lock; the healDemo runbook removes it with an allow-listed executable (/usr/bin/unlink)
// and its http_check step observes the service answering again.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { parseListen } from '../config/coordinator';
import { stateDir } from '../paths';
import { EXIT, type Command } from '../cli/command';

export const DEMO_WORKFLOW = 'healDemo';
export const DEMO_LOCK = 'stale.lock';

/** Where `medic dev` keeps its data unless told otherwise (--data-dir). */
export function defaultDevDataDir(): string {
  return stateDir('dev');
}

export function demoDir(dataDir: string): string {
  return path.join(dataDir, 'demo');
}

/** Serves GET /health until `signal` aborts: 200 "ok", or 503 while the stale lock exists. */
export async function serveDemo(opts: { host: string; port: number; dir: string; signal: AbortSignal }): Promise<string> {
  fs.mkdirSync(opts.dir, { recursive: true });
  const lock = path.join(opts.dir, DEMO_LOCK);
  const server = http.createServer((req, res) => {
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

/** Leaves the stale lock that makes the demo service unhealthy. */
export function breakDemo(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, DEMO_LOCK);
  fs.writeFileSync(lock, `left by medic demo break at ${new Date().toISOString()}\n`);
  return lock;
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'The medic dev demo service: `demo break` makes it unhealthy, the healDemo workflow heals it.',
  usage: 'demo break|serve [--data-dir DIR] [--listen HOST:PORT]',
  details:
    'break: leaves a stale lock in DIR/demo/ (default .medic/dev/demo/), so the demo service answers 503.\n' +
    'serve: runs the demo service (medic dev starts it for you).',
  options: {
    'data-dir': { type: 'string', valueName: 'DIR', description: "medic dev's data directory (default .medic/dev)" },
    listen: { type: 'string', valueName: 'HOST:PORT', description: 'serve: where to listen (default 127.0.0.1:8090)' },
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
      const lock = breakDemo(dir);
      ctx.stdout.write(`demo service broken: stale lock ${lock}; its /health answers 503 until healed\n`);
      return EXIT.ok;
    }
    if (verb === 'serve') {
      const text = (ctx.values.listen as string | undefined) ?? '127.0.0.1:8090';
      const listen = parseListen(text);
      if (!listen) {
        ctx.stderr.write(`medic demo: --listen ${JSON.stringify(text)} is not host:port\n`);
        return EXIT.usage;
      }
      const served = serveDemo({ ...listen, dir, signal: ctx.signal });
      ctx.stderr.write(
        `medic demo: serving http://${listen.host}:${listen.port}/health (lock file ${path.join(dir, DEMO_LOCK)})\n`,
      );
      await served;
      return EXIT.ok;
    }
    ctx.stderr.write(`medic demo: say "break" or "serve"\n`);
    return EXIT.usage;
  },
};
