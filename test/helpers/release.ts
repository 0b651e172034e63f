// An earlier release of medic, built from this repository's history for upgrade tests: its tree
// from `git archive`, this checkout's node_modules, its own tsc build and bundles. Built once per
// machine and commit into ~/.cache/medic/releases/<commit>/ (CI's fresh clones share it).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from './medic-process';

/**
 * The release the upgrade tests start from: the last commit before the ledgers were versioned
 * (the landed main of 2026-12-06, what "v0.1.0" ran). MEDIC_UPGRADE_FROM overrides it.
 */
export const PREVIOUS_RELEASE = 'ee27e62b09ec3badd784d15350e6eec2c06ea9c8';

function cacheRoot(): string {
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'medic', 'releases');
}

/** dist/cmd/medic.js of `commit`, built if this machine has not built it yet. */
export function buildRelease(commit = process.env.MEDIC_UPGRADE_FROM ?? PREVIOUS_RELEASE, log = (_: string) => {}): string {
  const dir = path.join(cacheRoot(), commit);
  const medic = path.join(dir, 'dist', 'cmd', 'medic.js');
  const modules = path.join(dir, 'node_modules');
  if (fs.existsSync(path.join(dir, '.built'))) {
    // The checkout that built it may be gone: its packages are this checkout's.
    fs.rmSync(modules, { force: true });
    fs.symlinkSync(path.join(ROOT, 'node_modules'), modules, 'dir');
    return medic;
  }
  try {
    execFileSync('git', ['-C', ROOT, 'cat-file', '-e', `${commit}^{commit}`], { stdio: 'pipe' });
  } catch {
    throw new Error(
      `commit ${commit} (the release to upgrade from) is not in this clone's history: a shallow clone cannot run the upgrade test (git fetch --unshallow)`,
    );
  }
  log(`building medic ${commit.slice(0, 12)} into ${dir} (once per machine)`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const tar = execFileSync('git', ['-C', ROOT, 'archive', '--format=tar', commit], { maxBuffer: 1 << 30 });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), modules, 'dir');
  const run = (args: string[]): void => void execFileSync(process.execPath, args, { cwd: dir, stdio: 'pipe', timeout: 600_000 });
  run([path.join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json']);
  run([path.join(dir, 'dist', 'src', 'temporal', 'bundle-workflows.js')]);
  // Build steps later releases added (their `npm run build` runs them), where the release has them.
  for (const step of [
    ['worker', 'lean', 'build-descriptor.js'],
    ['coordinator', 'console', 'copy-assets.js'],
  ]) {
    const script = path.join(dir, 'dist', 'src', ...step);
    if (fs.existsSync(script)) run([script]);
  }
  fs.writeFileSync(path.join(dir, '.built'), `${new Date().toISOString()}\n`);
  return medic;
}
