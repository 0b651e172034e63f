// Provisions the `temporal` CLI that runs the dev server (tests, benchmarks, `medic dev`):
// .medic/bin/temporal, else the one this machine built before (the machine cache, see
// machineCacheDir), else one on PATH, else built from its Go module into the machine cache and
// linked from .medic/bin, else downloaded by @temporalio/testing into .medic/bin/download.
// goInstall serves every Go binary medic builds (Prometheus for medic dev too).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { machineCacheDir, stateDir } from '../paths';

export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';
/** Makes .medic/bin/NAME point at the machine's copy, so the checkout finds it directly next time. */
export function linkIntoCheckout(target: string, name: string): string {
  const link = stateDir('bin', name);
  try {
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.rmSync(link, { force: true });
    fs.symlinkSync(target, link);
    return link;
  } catch {
    return target;
  }
}

export class TemporalBinaryError extends Error {
  override name = 'TemporalBinaryError';
}

export function executable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export function onPath(name: string): string | undefined {
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
  const built = goToolPath(TEMPORAL_CLI_MODULE);
  if (executable(built)) return linkIntoCheckout(built, 'temporal');
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

export type Progress = (line: string) => void;

/** The Go toolchain: on PATH or in its usual place; undefined when absent. */
export function findGo(): string | undefined {
  return onPath('go') ?? (executable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
}

/**
 * Where this machine keeps the binary it built from a Go module (`path/cmd/name@version`): one
 * directory per module and version in the machine cache, so a new pin never reuses an old build.
 */
export function goToolPath(module: string): string {
  return machineCacheDir('tools', module.replace(/[/@]/g, '_'), path.basename(module.replace(/@.*$/, '')));
}

/**
 * Runs `go install MODULE` into the machine cache (shared by every checkout on this machine),
 * reporting a heartbeat with the count of modules downloaded; returns goToolPath(module). Serves
 * every Go binary medic builds: the temporal CLI, Prometheus for medic dev, nfpm, crane, helm.
 */
export async function goInstall(go: string, module: string, progress: Progress): Promise<string> {
  const target = goToolPath(module);
  const name = path.basename(target);
  // A private GOBIN, renamed into place at the end: two checkouts building at once never see half a binary.
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const bin = fs.mkdtempSync(target + '.build-');
  progress(`building ${name}: go install ${module} (into ${path.dirname(target)}); the first build takes a few minutes`);
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
      else {
        fs.rmSync(bin, { recursive: true, force: true });
        reject(new TemporalBinaryError(`go install failed (exit ${code}):\n${tail}`));
      }
    });
  });
  fs.renameSync(path.join(bin, name), target);
  fs.rmSync(bin, { recursive: true, force: true });
  progress(`built ${target} in ${Math.round((Date.now() - started) / 1000)}s`);
  return target;
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
  return go ? linkIntoCheckout(await goInstall(go, TEMPORAL_CLI_MODULE, progress), 'temporal') : sdkDownload(progress);
}
