// The Temporal server and its SQL schema tool, built once per machine from the Go module into
// the user's cache directory (outside any checkout), with the PostgreSQL schemas beside them.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const TEMPORAL_SERVER_VERSION = 'v1.32.1';
const MODULE = 'go.temporal.io/server';

export interface ClusterBinaries {
  /** `temporal-server` (the module's cmd/server). */
  server: string;
  /** `temporal-sql-tool` (the module's cmd/tools/sql). */
  sqlTool: string;
  /** schema/postgresql/v12 of the module: temporal/ and visibility/. */
  schemaDir: string;
}

/** ${XDG_CACHE_HOME:-~/.cache}/medic/temporal-server/<version>, or MEDIC_TEMPORAL_SERVER_CACHE. */
export function clusterCacheDir(): string {
  if (process.env.MEDIC_TEMPORAL_SERVER_CACHE) return process.env.MEDIC_TEMPORAL_SERVER_CACHE;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'medic', 'temporal-server', TEMPORAL_SERVER_VERSION);
}

function cached(dir: string): ClusterBinaries {
  return { server: path.join(dir, 'server'), sqlTool: path.join(dir, 'sql'), schemaDir: path.join(dir, 'schema') };
}

function complete(b: ClusterBinaries): boolean {
  return [b.server, b.sqlTool, path.join(b.schemaDir, 'temporal', 'schema.sql')].every((f) => fs.existsSync(f));
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (b: Buffer): void => {
      out += b.toString();
      for (const line of b.toString().split('\n')) if (line.trim()) log(line);
    };
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', keep);
    child.on('error', (err) => reject(new Error(`cannot run ${cmd}: ${err.message}`)));
    child.on('exit', (code) =>
      code === 0 ? resolve(out.trim()) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out.slice(-3000)}`)),
    );
  });
}

/**
 * The cached binaries, building them first when missing (about 10 minutes on a cold Go cache,
 * seconds on a warm one). Progress goes to `log`: Go's download lines and a line every 30 s.
 */
export async function ensureClusterBinaries(log: (line: string) => void = () => {}): Promise<ClusterBinaries> {
  const dir = clusterCacheDir();
  const want = cached(dir);
  if (complete(want)) return want;
  const go = process.env.GO ?? 'go';
  await run(go, ['version'], {}, () => {}).catch(() => {
    throw new Error(
      `Go is needed to build the Temporal server ${TEMPORAL_SERVER_VERSION} (or put server, sql and schema/ in ${dir})`,
    );
  });
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  // Built into a scratch directory and renamed into place, so a killed build leaves no half cache.
  const scratch = fs.mkdtempSync(`${dir}.building-`);
  const started = Date.now();
  log(`building ${MODULE} ${TEMPORAL_SERVER_VERSION} (server, sql tool) into ${dir}; ~10 min on a cold Go cache`);
  const ticker = setInterval(() => log(`still building (${Math.round((Date.now() - started) / 1000)} s)`), 30_000);
  try {
    await run(
      go,
      ['install', `${MODULE}/cmd/server@${TEMPORAL_SERVER_VERSION}`, `${MODULE}/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`],
      { GOBIN: scratch, GOFLAGS: '-mod=mod' },
      log,
    );
    const modCache = await run(go, ['env', 'GOMODCACHE'], {}, () => {});
    const schema = path.join(modCache, `${MODULE}@${TEMPORAL_SERVER_VERSION}`, 'schema', 'postgresql', 'v12');
    fs.cpSync(schema, path.join(scratch, 'schema'), { recursive: true });
    // The module cache is read-only; the copy must not be, or the next rebuild cannot replace it.
    for (const f of fs.readdirSync(path.join(scratch, 'schema'), { recursive: true, withFileTypes: true })) {
      fs.chmodSync(path.join(f.parentPath, f.name), f.isDirectory() ? 0o755 : 0o644);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(scratch, dir);
  } catch (err) {
    fs.rmSync(scratch, { recursive: true, force: true });
    throw err;
  } finally {
    clearInterval(ticker);
  }
  log(`built in ${Math.round((Date.now() - started) / 1000)} s`);
  return want;
}
