// The machine itself: who this worker is (with the kernel's boot id, which changes on every
// boot, so a workflow can tell that a reboot happened) and the reboot, guarded by a dry-run flag
// and by the boot id: a reboot asked for one boot never runs in the next one.
import { promises as fs } from 'node:fs';
import { execArgv } from './exec';
import { activityContext, cancellation, heartbeat } from './context';

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

export interface RebootRequest {
  /** The boot id the caller saw before deciding to reboot; a different one now means "already rebooted". */
  bootId?: string;
}

export interface RebootResult {
  dryRun: boolean;
  /** True when the node had already rebooted since `bootId` was seen: nothing was run this time. */
  alreadyRebooted?: boolean;
  /** The boot id before the reboot; after it, nodeIdentity() answers with another one. */
  bootId: string;
  argv: string[];
}

export const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

export async function readBootId(file: string): Promise<string> {
  return (await fs.readFile(file, 'utf8')).trim();
}

export async function reboot(
  settings: RebootSettings,
  bootIdFile: string,
  log: (m: string) => void,
  req: RebootRequest = {},
): Promise<RebootResult> {
  const now = await readBootId(bootIdFile);
  // The boot id this reboot is about: the caller's, else the one an earlier attempt of this same
  // activity recorded in its heartbeat before running the command.
  const recorded = activityContext()?.info.heartbeatDetails as { bootId?: string } | undefined;
  const expected = req.bootId ?? recorded?.bootId ?? now;
  const argv = [...settings.rebootCommand];
  if (expected !== now) {
    log(`boot id is ${now}, not ${expected}: the node has rebooted already; not rebooting again`);
    return { dryRun: settings.rebootDryRun, alreadyRebooted: true, bootId: expected, argv };
  }
  heartbeat({ bootId: now });
  if (settings.rebootDryRun) {
    log(`reboot_dry_run = true: not running ${argv.join(' ')}`);
    return { dryRun: true, bootId: now, argv };
  }
  const r = await execArgv(argv, { timeoutMs: 60_000, maxOutputBytes: settings.maxOutputBytes, signal: cancellation() });
  if (r.exitCode !== 0)
    throw new Error(`reboot command ${argv[0]} failed: exit ${r.exitCode ?? r.signal}: ${r.stderr.trim().slice(0, 500)}`);
  return { dryRun: false, bootId: now, argv };
}
