// Provisions the `temporal` CLI that runs the dev server (tests, benchmarks, `medic dev`):
// one on PATH, else .medic/bin/temporal, else built from its Go module into .medic/bin,
// else downloaded by @temporalio/testing into .medic/bin/download.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stateDir } from '../paths';

export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

export class TemporalBinaryError extends Error {
  override name = 'TemporalBinaryError';
}

function executable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && executable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** An already available binary, without building or downloading anything. */
export function findTemporalBinary(): string | undefined {
  const explicit = process.env.MEDIC_TEMPORAL_BIN;
  if (explicit) return executable(explicit) ? explicit : undefined;
  const cached = stateDir('bin', 'temporal');
  if (executable(cached)) return cached;
  const downloaded = findDownloaded();
  return downloaded ?? onPath('temporal');
}

function findDownloaded(): string | undefined {
  const dir = stateDir('bin', 'download');
  if (!fs.existsSync(dir)) return undefined;
  for (const f of fs.readdirSync(dir).sort().reverse()) {
    if (f.startsWith('temporal') && executable(path.join(dir, f))) return path.join(dir, f);
  }
  return undefined;
}

/** The Go toolchain: on PATH, else the official tarball's /usr/local/go. */
export function findGo(): string | undefined {
  return onPath('go') ?? (executable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
}

export type Progress = (line: string) => void;

/**
 * Runs `go install module` with GOBIN=bin, reporting a heartbeat with the count of modules
 * downloaded; returns the installed binary (the module path's last element). Also used by
 * packaging/tools.ts for nfpm, crane and helm.
 */
export async function goInstall(go: string, module: string, bin: string, progress: Progress): Promise<string> {
  const name = path.basename(module.replace(/@.*$/, ''));
  fs.mkdirSync(bin, { recursive: true });
  progress(`building ${name}: go install ${module} (GOBIN=${bin}); the first build takes a few minutes`);
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(go, ['install', module], {
      env: { ...process.env, GOBIN: bin, GOFLAGS: process.env.GOFLAGS ?? '-mod=mod' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let downloads = 0;
    let tail = '';
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString();
      tail = (tail + text).slice(-4000);
      downloads += (text.match(/go: downloading/g) ?? []).length;
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const beat = setInterval(() => {
      progress(`  ... ${Math.round((Date.now() - started) / 1000)}s, ${downloads} modules downloaded`);
    }, 15_000);
    child.on('error', (err) => {
      clearInterval(beat);
      reject(new TemporalBinaryError(`cannot run ${go}: ${err.message}`));
    });
    child.on('close', (code) => {
      clearInterval(beat);
      if (code === 0) resolve();
      else reject(new TemporalBinaryError(`go install failed (exit ${code}):\n${tail}`));
    });
  });
  progress(`built ${path.join(bin, name)} in ${Math.round((Date.now() - started) / 1000)}s`);
  return path.join(bin, name);
}

/** Lets @temporalio/testing download its pinned CLI, then keeps it in .medic/bin/download. */
async function sdkDownload(progress: Progress): Promise<string> {
  const downloadDir = stateDir('bin', 'download');
  fs.mkdirSync(downloadDir, { recursive: true });
  progress(`no Go toolchain: downloading the temporal CLI through @temporalio/testing into ${downloadDir}`);
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'cached-download', downloadDir } },
  });
  await env.teardown();
  const found = findDownloaded();
  if (!found) throw new TemporalBinaryError(`the SDK download left no temporal binary in ${downloadDir}`);
  return found;
}

/** Returns a usable temporal binary, building or downloading it once if none is present. */
export async function ensureTemporalBinary(progress: Progress = (l) => process.stderr.write(l + '\n')): Promise<string> {
  const found = findTemporalBinary();
  if (found) return found;
  if (process.env.MEDIC_TEMPORAL_BIN) {
    throw new TemporalBinaryError(`MEDIC_TEMPORAL_BIN=${process.env.MEDIC_TEMPORAL_BIN} is not an executable file`);
  }
  const go = findGo();
  return go ? goInstall(go, TEMPORAL_CLI_MODULE, stateDir('bin'), progress) : sdkDownload(progress);
}
