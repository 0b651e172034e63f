// "Never harm twice", attacked: a timed-out command's grandchildren die with it, a retried reboot
// on a node that already rebooted does not reboot again, and a cleanup never follows a symlink,
// even one swapped in by a racing process while it runs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { MockActivityEnvironment } from '@temporalio/testing';
import { activitySandbox } from '../helpers/medic-worker';

const sandbox = activitySandbox('harm');
const { script, acts } = sandbox;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('exec timeout', () => {
  it('kills the whole process group: a sleeper spawned by the command dies too, and the result comes back', async () => {
    const pidFile = path.join(sandbox.dir(), 'grandchild.pid');
    // The grandchild inherits stdout: before process groups, the result waited for it to exit.
    const cmd = script('spawner', `/usr/bin/sleep 300 &\necho $! > ${pidFile}\n/usr/bin/sleep 300`);
    const r = await acts({ allowedCommands: [cmd] }).runCommand({ command: cmd, timeoutMs: 1000 });
    expect(r).toMatchObject({ timedOut: true, exitCode: null });
    const grandchild = Number(fs.readFileSync(pidFile, 'utf8'));
    await until(() => !alive(grandchild));
  });

  it('kills the process group when the activity is cancelled', async () => {
    const pidFile = path.join(sandbox.dir(), 'grandchild.pid');
    const cmd = script('spawner', `/usr/bin/sleep 300 &\necho $! > ${pidFile}\nwait`);
    const env = new MockActivityEnvironment();
    const running = env.run(acts({ allowedCommands: [cmd] }).runCommand, { command: cmd });
    await until(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim() !== '');
    env.cancel();
    await expect(running).rejects.toThrow();
    await until(() => !alive(Number(fs.readFileSync(pidFile, 'utf8'))));
  });
});

describe('reboot guard', () => {
  it('does not reboot when the boot id changed since the caller saw it', async () => {
    fs.writeFileSync(path.join(sandbox.dir(), 'boot_id'), 'second-boot\n');
    const marker = path.join(sandbox.dir(), 'rebooted');
    const a = acts({ rebootDryRun: false, rebootCommand: [script('reboot', `touch ${marker}`)] });
    await expect(a.reboot({ bootId: 'first-boot' })).resolves.toMatchObject({ alreadyRebooted: true, bootId: 'first-boot' });
    expect(fs.existsSync(marker)).toBe(false);
    await expect(a.reboot({ bootId: 'second-boot' })).resolves.toMatchObject({ dryRun: false, bootId: 'second-boot' });
    expect(fs.existsSync(marker)).toBe(true);
  });

  it('records the boot id in its heartbeat first; a retry after the node rebooted runs nothing', async () => {
    fs.writeFileSync(path.join(sandbox.dir(), 'boot_id'), 'first-boot\n');
    const marker = path.join(sandbox.dir(), 'rebooted');
    const a = acts({ rebootDryRun: false, rebootCommand: [script('reboot', `echo x >> ${marker}`)] });
    const beats: unknown[] = [];
    const first = new MockActivityEnvironment();
    first.on('heartbeat', (d: unknown) => beats.push(d));
    await first.run(a.reboot, {});
    expect(beats).toContainEqual({ bootId: 'first-boot' });
    // The reply was lost; the node rebooted; Temporal retries with the last heartbeat's details.
    fs.writeFileSync(path.join(sandbox.dir(), 'boot_id'), 'second-boot\n');
    const retry = new MockActivityEnvironment({ heartbeatDetails: { bootId: 'first-boot' }, attempt: 2 });
    await expect(retry.run(a.reboot, {})).resolves.toMatchObject({ alreadyRebooted: true });
    expect(fs.readFileSync(marker, 'utf8')).toBe('x\n');
  });
});

describe('cleanup against a racing symlink swapper', () => {
  const DAY = 86_400_000;
  function oldFile(p: string): void {
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, 'x');
    const t = new Date(Date.now() - 10 * DAY);
    fs.utimesSync(p, t, t);
  }

  it('never removes a file outside the cleanup path, whatever is swapped in while it runs', async () => {
    const root = path.join(sandbox.dir(), 'logs');
    const secret = path.join(sandbox.dir(), 'secret');
    for (let i = 0; i < 20; i++) oldFile(path.join(secret, `precious-${i}.log`));
    fs.mkdirSync(path.join(root, 'sub'), { recursive: true });
    // A swapper flips logs/sub between a real directory and a symlink to secret/, as fast as it can.
    const swapper = spawn(
      '/bin/sh',
      ['-c', `cd ${root} && while true; do mv sub sub.real; ln -s ${secret} sub; rm sub; mv sub.real sub; done`],
      { stdio: 'ignore', detached: true },
    );
    const gone = new Promise((resolve) => swapper.once('exit', resolve));
    try {
      const a = acts({ cleanupPaths: [root] });
      for (let round = 0; round < 150; round++) {
        for (let i = 0; i < 5; i++) {
          try {
            oldFile(path.join(root, 'sub', `junk-${i}.log`));
          } catch {
            // sub is mid-swap; next round
          }
        }
        await a.cleanFiles({ path: root, patterns: ['*.log'], olderThanMs: DAY });
      }
    } finally {
      // The whole group: a mv or ln running when the shell dies would go on writing into the sandbox.
      process.kill(-swapper.pid!, 'SIGKILL');
      await gone;
    }
    // (Junk written through the symlink by this test lands in secret/ too: outside, so never removed.)
    const left = fs.readdirSync(secret);
    for (let i = 0; i < 20; i++) expect(left).toContain(`precious-${i}.log`);
  }, 120_000);
});
