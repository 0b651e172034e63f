// A private PostgreSQL 15 cluster on loopback in a temporary directory, run as an unprivileged
// user when we are root (initdb and postgres refuse root), stopped by its pid.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort } from '../../../src/temporal/dev-server';

export const POSTGRES_BIN = process.env.MEDIC_POSTGRES_BIN ?? '/usr/lib/postgresql/15/bin';
/** The superuser initdb creates; trust authentication on loopback only. */
export const POSTGRES_USER = 'temporal';

export interface Postgres {
  host: string;
  port: number;
  pid: number;
  dataDir: string;
  stop(): Promise<void>;
}

/** uid/gid of `nobody` when running as root (postgres refuses root), else nothing to change. */
function unprivileged(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('nobody:'));
  if (!line) throw new Error('running as root and there is no `nobody` user to run PostgreSQL as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Creates and starts the cluster in `dir` (created, owned by the unprivileged user). */
export async function startPostgres(dir: string, log: (line: string) => void = () => {}): Promise<Postgres> {
  const initdb = path.join(POSTGRES_BIN, 'initdb');
  if (!fs.existsSync(initdb)) throw new Error(`${initdb} is missing: install Debian's postgresql-15 (or set MEDIC_POSTGRES_BIN)`);
  const as = unprivileged();
  const dataDir = path.join(dir, 'pgdata');
  fs.mkdirSync(dir, { recursive: true });
  fs.mkdirSync(dataDir, { mode: 0o700 });
  if (as) {
    fs.chmodSync(dir, 0o755);
    fs.chownSync(dataDir, as.uid, as.gid);
  }
  const init = spawnSync(initdb, ['-D', dataDir, '-U', POSTGRES_USER, '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], {
    ...as,
    cwd: dataDir,
    encoding: 'utf8',
  });
  if (init.status !== 0) throw new Error(`initdb failed (${init.status}):\n${init.stdout}${init.stderr}`);

  const host = '127.0.0.1';
  const port = await freePort(host);
  const child: ChildProcess = spawn(
    path.join(POSTGRES_BIN, 'postgres'),
    [
      '-D',
      dataDir,
      '-p',
      String(port),
      '-c',
      `listen_addresses=${host}`,
      '-c',
      `unix_socket_directories=${dataDir}`,
      // Temporal's services each keep a pool (20 + visibility) and the tests add restarts.
      '-c',
      'max_connections=400',
      '-c',
      'shared_buffers=128MB',
    ],
    { ...as, cwd: dataDir, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let out = '';
  const onData = (b: Buffer): void => {
    out = (out + b.toString()).slice(-8000);
    for (const line of b.toString().split('\n')) if (line.trim()) log(line);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 60_000;
  while (!/ready to accept connections/.test(out)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`postgres exited before it was ready:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`postgres not ready within 60 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    port,
    pid: child.pid!,
    dataDir,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // SIGINT: PostgreSQL's fast shutdown (rolls back open transactions, exits at once).
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.kill('SIGINT');
      await gone;
      clearTimeout(timer);
    },
  };
}
