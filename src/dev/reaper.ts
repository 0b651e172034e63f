// The watchdog that makes `medic dev`'s children die with it, however it dies (SIGKILL included).
// `medic dev` starts this small process first, holding the write end of its stdin, and tells it
// each child's pid. When that pipe closes without a "release" line (dev is gone: killed, crashed,
// or its terminal closed), it stops every child's process group, SIGTERM then SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

/** How long the children get after SIGTERM before SIGKILL: ports must be free within 10 s. */
export const REAP_GRACE_MS = 3000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Signals a child's process group (each child leads its own), else the child alone. */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/** Stops every pid's group: SIGTERM, then SIGKILL to whatever is left after `graceMs`. */
export async function reap(pids: number[], graceMs = REAP_GRACE_MS): Promise<void> {
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids) signal(pid, 'SIGKILL');
}

/** The watchdog process: reads "watch PID", "forget PID" and "release" lines from stdin. */
function watchdogMain(): void {
  const pids = new Set<number>();
  let released = false;
  // Its own terminal signals are not its business: dev decides, or dev's death does.
  for (const sig of ['SIGINT', 'SIGHUP', 'SIGTERM'] as const) process.on(sig, () => undefined);
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const [verb, arg] = line.trim().split(' ');
    const pid = Number(arg);
    if (verb === 'watch' && Number.isInteger(pid) && pid > 1) pids.add(pid);
    else if (verb === 'forget') pids.delete(pid);
    else if (verb === 'release') released = true;
  });
  lines.on('close', () => {
    if (released) process.exit(0);
    void reap([...pids]).then(() => process.exit(0));
  });
}

export interface Watchdog {
  watch(pid: number): void;
  forget(pid: number): void;
  /** dev stopped its children itself: the watchdog exits without touching anything. */
  release(): void;
}

/** Starts the watchdog process for the calling process. */
export function startWatchdog(): Watchdog {
  const child: ChildProcess = spawn(process.execPath, [path.join(__dirname, 'reaper.js')], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  child.unref();
  const stdin = child.stdin!;
  stdin.on('error', () => undefined);
  // The pipe must not keep dev alive; its write end closes when dev's process ends.
  (stdin as unknown as { unref?: () => void }).unref?.();
  const send = (line: string): void => void (stdin.writable && stdin.write(line + '\n'));
  return {
    watch: (pid) => send(`watch ${pid}`),
    forget: (pid) => send(`forget ${pid}`),
    release: () => {
      send('release');
      stdin.end();
    },
  };
}

if (require.main === module) watchdogMain();
