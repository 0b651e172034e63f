// The machine itself: who this worker is (with the kernel's boot id, which changes on every
// boot, so a workflow can tell that a reboot happened) and the reboot, guarded by a dry-run flag.
import { promises as fs } from 'node:fs';
import { execArgv } from './exec';
import { cancellation } from './context';

export interface NodeIdentity {
  node: string;
  datacenter: string;
  nodeType: string;
  bootId: string;
  pid: number;
}

export interface RebootSettings {
  rebootDryRun: boolean;
  rebootCommand: readonly string[];
  maxOutputBytes: number;
}

export interface RebootResult {
  dryRun: boolean;
  /** The boot id before the reboot; after it, nodeIdentity() answers with another one. */
  bootId: string;
  argv: string[];
}

export const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

export async function readBootId(file: string): Promise<string> {
  return (await fs.readFile(file, 'utf8')).trim();
}

export async function reboot(settings: RebootSettings, bootIdFile: string, log: (m: string) => void): Promise<RebootResult> {
  const bootId = await readBootId(bootIdFile);
  const argv = [...settings.rebootCommand];
  if (settings.rebootDryRun) {
    log(`reboot_dry_run = true: not running ${argv.join(' ')}`);
    return { dryRun: true, bootId, argv };
  }
  const r = await execArgv(argv, { timeoutMs: 60_000, maxOutputBytes: settings.maxOutputBytes, signal: cancellation() });
  if (r.exitCode !== 0)
    throw new Error(`reboot command ${argv[0]} failed: exit ${r.exitCode ?? r.signal}: ${r.stderr.trim().slice(0, 500)}`);
  return { dryRun: false, bootId, argv };
}
