// Where medic's own files are: the package root (found from this file, in src/ or dist/src/)
// and the machine-local state directory `.medic/` (binaries, dev data, dev certificates).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isSingleExecutable } from './single-executable/embedded';

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'medic') return (root = dir);
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find medic's package.json above ${__dirname}`);
    dir = up;
  }
}

/**
 * Machine-local state: $MEDIC_HOME, else `.medic/` in the package root (never committed). The
 * packaged executable has no package root: systemd's $STATE_DIRECTORY, else ~/.medic.
 */
export function stateDir(...parts: string[]): string {
  return path.join(process.env.MEDIC_HOME ?? defaultStateDir(), ...parts);
}

function defaultStateDir(): string {
  if (!isSingleExecutable()) return path.join(packageRoot(), '.medic');
  return process.env.STATE_DIRECTORY?.split(':')[0] ?? path.join(os.homedir(), '.medic');
}

/**
 * What is built once per machine and shared by every checkout of it (the temporal CLI, Go
 * tools): $MEDIC_CACHE_DIR, else $XDG_CACHE_HOME/medic, else ~/.cache/medic. A fresh clone and
 * CI find there what an earlier checkout built.
 */
export function machineCacheDir(...parts: string[]): string {
  const base = process.env.MEDIC_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'medic');
  return path.join(base, ...parts);
}

/** The default config directory: ./config in a checkout, /etc/medic on an installed host. */
export function defaultConfigDir(): string {
  const local = path.resolve('config');
  return fs.existsSync(path.join(local, 'workflows')) || fs.existsSync(path.join(local, 'coordinator.hcl'))
    ? local
    : '/etc/medic';
}
