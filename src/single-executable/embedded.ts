// Single executable (packaging/sea.ts): finds the files embedded in the medic binary (workflow
// bundle, Temporal's native core-bridge addon, the HCL parser's WASM, build facts) at run time.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isMainThread } from 'node:worker_threads';

/** Names of the assets packaging/sea.ts embeds; the one list both sides use. */
export const EMBEDDED = {
  buildInfo: 'build-info.json',
  /** The web console's script and style sheet (src/coordinator/console/assets/). */
  consoleScript: 'console.js',
  consoleStyle: 'console.css',
  coreBridge: 'core-bridge.node',
  hclWasm: 'hcl2json.wasm.gz',
  /** The lean (role node) worker's trimmed Temporal API descriptor (src/worker/lean/build-descriptor.ts). */
  leanApi: 'temporal-api-lean.json',
  ledgerBundle: 'ledger-bundle.js',
  /**
   * The roles' code (coordinator, worker, trigger, dev, validate, temporal: fastify, the Temporal
   * SDK, the HCL parser), bundled apart from the executable's main script so that a client verb
   * (status, list, version) parses none of it; and V8's code cache of it, made at build time.
   */
  roles: 'medic-roles.cjs',
  rolesCodeCache: 'medic-roles.cjs.cache',
  sourceMapWasm: 'source-map-mappings.wasm',
  workflowBundle: 'workflow-bundle.js',
  workflowManifest: 'workflow-bundle.manifest.json',
  workflowThread: 'workflow-worker-thread.js',
} as const;

export class EmbeddedAssetError extends Error {
  override name = 'EmbeddedAssetError';
}

interface SeaModule {
  isSea(): boolean;
  getAsset(key: string): ArrayBuffer;
}

let sea: SeaModule | null | undefined;

function seaModule(): SeaModule | null {
  if (sea !== undefined) return sea;
  try {
    // node:sea exists from Node 20.12; isSea() is false when running from a checkout.
    const mod = require('node:sea') as SeaModule;
    sea = mod.isSea() ? mod : null;
  } catch {
    sea = null;
  }
  return sea;
}

/** True when this process is the packaged medic executable, not `node dist/cmd/medic.js`. */
export function isSingleExecutable(): boolean {
  return seaModule() !== null;
}

/** The bytes of an embedded asset. */
export function embeddedAsset(name: string): Buffer {
  const mod = seaModule();
  if (!mod) throw new EmbeddedAssetError(`asset ${name} requested outside the medic executable`);
  try {
    return Buffer.from(mod.getAsset(name));
  } catch (err) {
    throw new EmbeddedAssetError(
      `the medic executable has no embedded ${name} (${(err as Error).message}); rebuild it with npm run package`,
    );
  }
}

let privateDir: string | undefined;

const RUN_DIR = /^medic-run-(\d+)-/;
const SHARED_DIR_ENV = 'MEDIC_EMBEDDED_DIR';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the directories of medic processes that died without cleaning up (SIGKILL, OOM). */
function sweepStale(base: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(base);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(RUN_DIR.exec(name)?.[1]);
    if (pid && pid !== process.pid && !alive(pid)) {
      try {
        fs.rmSync(path.join(base, name), { recursive: true, force: true });
      } catch {}
    }
  }
}

/**
 * A directory only this process uses (mode 0700, fresh name with its pid), removed at exit;
 * those of dead medic processes are swept first, so a crash loop does not fill the disk. Under
 * $STATE_DIRECTORY when systemd provides one (/var/lib/medic/<role>: /tmp may be mounted
 * noexec, which would stop the native addon from loading), else under the temp directory.
 */
function extractDir(): string {
  if (privateDir) return privateDir;
  // A worker thread (workflow_threads) uses its process's directory: one copy of each file.
  const shared = process.env[SHARED_DIR_ENV]?.split(':');
  if (!isMainThread && shared?.[0] === String(process.pid) && shared[1]) return (privateDir = shared.slice(1).join(':'));
  const bases = [process.env.MEDIC_EXTRACT_DIR, process.env.STATE_DIRECTORY?.split(':')[0], os.tmpdir()];
  const errors: string[] = [];
  for (const base of bases) {
    if (!base) continue;
    try {
      sweepStale(base);
      privateDir = fs.mkdtempSync(path.join(base, `medic-run-${process.pid}-`));
      const dir = privateDir;
      process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
      // Keyed by pid, so child processes (which inherit the environment) make their own.
      process.env[SHARED_DIR_ENV] = `${process.pid}:${dir}`;
      return dir;
    } catch (err) {
      errors.push(`${base}: ${(err as Error).message}`);
    }
  }
  throw new EmbeddedAssetError(`cannot create a directory for the embedded files (${errors.join('; ')}); set MEDIC_EXTRACT_DIR`);
}

const extracted = new Map<string, string>();

/** Writes an embedded asset to the private directory once per process and returns its path. */
export function embeddedFile(name: string): string {
  const known = extracted.get(name);
  if (known) return known;
  const file = path.join(extractDir(), name);
  try {
    fs.writeFileSync(file, embeddedAsset(name), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // The main thread wrote it before it started this worker thread; nobody else can write here.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || isMainThread) throw err;
  }
  extracted.set(name, file);
  return file;
}

/** The admission ledger's workflow bundle (the coordinator's ledger worker). */
export function embeddedLedgerBundle(): string {
  return embeddedFile(EMBEDDED.ledgerBundle);
}

/** The workflow bundle and its manifest, side by side, as the worker expects them. */
export function embeddedWorkflowBundle(): string {
  embeddedFile(EMBEDDED.workflowManifest);
  return embeddedFile(EMBEDDED.workflowBundle);
}

/**
 * Loads the embedded native addon: the executable cannot `require` a file inside itself, so
 * the addon is written to the private directory and opened from there. The file stays until
 * exit: workflow threads load the same one.
 */
export function loadEmbeddedAddon(name: string): unknown {
  const mod = { exports: {} as unknown };
  process.dlopen(mod, embeddedFile(name));
  return mod.exports;
}

let roles: Record<string, () => unknown> | undefined;

/**
 * The module `key` of the roles bundle (packaging/sea.ts): the bundle is compiled once, on the
 * first call, with its embedded code cache, and shares the executable's `require` (built-in
 * modules only: everything else is inside the bundle).
 */
export function embeddedRole(key: string, req: NodeJS.Require): unknown {
  if (!roles) {
    const vm = req('node:vm') as typeof import('node:vm');
    const { wrap } = req('node:module') as { wrap(source: string): string };
    let cachedData: Buffer | undefined;
    try {
      cachedData = embeddedAsset(EMBEDDED.rolesCodeCache);
    } catch {}
    const script = new vm.Script(wrap(embeddedAsset(EMBEDDED.roles).toString('utf8')), {
      filename: path.join(path.dirname(process.execPath), EMBEDDED.roles),
      cachedData,
    });
    if (script.cachedDataRejected && process.env.MEDIC_DEBUG)
      process.stderr.write(`medic: V8 rejected the code cache of ${EMBEDDED.roles}; compiling it in full\n`);
    const mod = { exports: {} as Record<string, () => unknown> };
    (script.runInThisContext() as (...args: unknown[]) => void).call(
      mod.exports,
      mod.exports,
      req,
      mod,
      process.execPath,
      path.dirname(process.execPath),
    );
    roles = mod.exports;
  }
  const load = roles[key];
  if (!load)
    throw new EmbeddedAssetError(`the medic executable's roles bundle has no module ${key}; rebuild it with npm run package`);
  return load();
}

export interface BuildInfo {
  version: string;
  commit: string;
  buildDate: string;
  temporalSdk: string;
}

/** The build facts packaging/sea.ts embedded, or undefined outside the executable. */
export function embeddedBuildInfo(): BuildInfo | undefined {
  return isSingleExecutable() ? (JSON.parse(embeddedAsset(EMBEDDED.buildInfo).toString('utf8')) as BuildInfo) : undefined;
}
