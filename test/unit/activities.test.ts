// Activities, each on its own: real child processes, real files in a temporary directory, real
// HTTP on loopback. MockActivityEnvironment supplies the activity context (heartbeats, cancellation).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { PERMANENT_ERRORS } from '../../activities/errors';
import { validUnitName } from '../../activities/systemd';
import { globToRegExp } from '../../activities/disk';
import { PERMANENT_ERROR_TYPES } from '../../workflows/activity-options';
import { startCaptureServer, vector, type CaptureServer } from '../helpers/capture-server';
import { activitySandbox } from '../helpers/medic-worker';
import { freePort } from '../../src/temporal/dev-server';
import { waitFor } from '../helpers/wait';

const sandbox = activitySandbox('unit');
const { script, acts } = sandbox;

describe('runCommand', () => {
  it('runs nothing when allowed_commands is empty (deny by default)', async () => {
    await expect(acts().runCommand({ command: '/usr/bin/echo', args: ['hi'] })).rejects.toMatchObject({
      name: 'CommandNotAllowedError',
      message: expect.stringContaining('allowed_commands is empty'),
    });
  });

  it('refuses commands not on the list, relative names and ".." tricks', async () => {
    const a = acts({ allowedCommands: ['/usr/bin/echo'] });
    for (const command of ['/usr/bin/rm', 'echo', '/usr/bin/../bin/echo', '/usr/bin/echo; rm -rf /']) {
      await expect(a.runCommand({ command })).rejects.toMatchObject({ name: 'CommandNotAllowedError' });
    }
  });

  it('passes arguments as argv, never through a shell', async () => {
    const r = await acts({ allowedCommands: ['/usr/bin/echo'] }).runCommand({
      command: '/usr/bin/echo',
      args: ['$(id)', '; rm -rf /', '`x`', '"q"'],
    });
    expect(r).toMatchObject({ exitCode: 0, timedOut: false, truncated: false, stdout: '$(id) ; rm -rf / `x` "q"\n' });
  });

  it('returns a non-zero exit status instead of throwing', async () => {
    const r = await acts({ allowedCommands: ['/usr/bin/false'] }).runCommand({ command: '/usr/bin/false' });
    expect(r.exitCode).toBe(1);
  });

  it('kills a command that overruns its timeout', async () => {
    const r = await acts({ allowedCommands: ['/usr/bin/sleep'] }).runCommand({
      command: '/usr/bin/sleep',
      args: ['30'],
      timeoutMs: 300,
    });
    expect(r).toMatchObject({ timedOut: true, exitCode: null, signal: 'SIGKILL' });
  });

  it('caps the timeout at command_timeout', async () => {
    const r = await acts({ allowedCommands: ['/usr/bin/sleep'], commandTimeoutMs: 200 }).runCommand({
      command: '/usr/bin/sleep',
      args: ['30'],
      timeoutMs: 60_000,
    });
    expect(r.timedOut).toBe(true);
  });

  it('keeps at most max_output_bytes of output and says it cut the rest', async () => {
    const r = await acts({ allowedCommands: ['/usr/bin/seq'], maxOutputBytes: 100 }).runCommand({
      command: '/usr/bin/seq',
      args: ['100000'],
    });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toHaveLength(100);
    expect(r.truncated).toBe(true);
  });

  it('heartbeats while the command runs and kills it when the activity is cancelled', async () => {
    const env = new MockActivityEnvironment();
    let beats = 0;
    env.on('heartbeat', () => (beats += 1));
    const a = acts({ allowedCommands: ['/usr/bin/sleep'] });
    const running = env.run(a.runCommand, { command: '/usr/bin/sleep', args: ['30'] });
    await waitFor('two heartbeats', () => (beats >= 2 ? true : undefined), 15_000, 20);
    env.cancel();
    await expect(running).rejects.toThrow();
    expect(beats).toBeGreaterThanOrEqual(2);
  });
});

describe('systemdUnit', () => {
  it.each([
    ['nginx', 'nginx.service'],
    ['nginx.service', 'nginx.service'],
    ['getty@tty1.service', 'getty@tty1.service'],
    ['docker.socket', 'docker.socket'],
    ['app-1.2', 'app-1.2.service'],
  ])('accepts the unit name %s as %s', (name, unit) => expect(validUnitName(name)).toBe(unit));

  it.each(['', '-H evil', '--root=/', 'a b', 'nginx;reboot', '../../etc/passwd', '*', 'x.bogus', 'a'.repeat(300)])(
    'refuses the unit name %j',
    (name) => expect(() => validUnitName(name)).toThrow(expect.objectContaining({ name: 'InvalidUnitError' })),
  );

  it('runs systemctl ACTION -- UNIT and reports the unit state afterwards', async () => {
    const calls = path.join(sandbox.dir(), 'calls');
    const systemctl = script(
      'systemctl',
      `echo "$@" >> ${calls}\nif [ "$1" = show ]; then echo ActiveState=active; echo SubState=running; fi`,
    );
    const r = await acts({ systemctl }).systemdUnit({ action: 'restart', unit: 'nginx' });
    expect(r).toMatchObject({
      unit: 'nginx.service',
      actionExitCode: 0,
      activeState: 'active',
      subState: 'running',
      active: true,
    });
    expect(fs.readFileSync(calls, 'utf8').trim().split('\n')).toEqual([
      'restart --no-ask-password -- nginx.service',
      'show --property=ActiveState,SubState -- nginx.service',
    ]);
  });

  it('reports a failed restart and a failed unit without throwing', async () => {
    const systemctl = script(
      'systemctl',
      'if [ "$1" = show ]; then echo ActiveState=failed; echo SubState=failed; else echo "Job failed" >&2; exit 1; fi',
    );
    const r = await acts({ systemctl }).systemdUnit({ action: 'restart', unit: 'nginx' });
    expect(r).toMatchObject({ actionExitCode: 1, actionError: 'Job failed', active: false, activeState: 'failed' });
  });
});

describe('httpCheck', () => {
  let server: CaptureServer;
  beforeAll(async () => {
    server = await startCaptureServer((req) =>
      req.path === '/ok'
        ? { status: 200, body: 'all good' }
        : req.path === '/slow'
          ? { status: 200, delayMs: 800 }
          : { status: 503, body: 'down' },
    );
  });
  afterAll(() => server.close());

  it('is healthy on the expected status and body', async () => {
    await expect(acts().httpCheck({ url: `${server.url}/ok`, expectBody: 'good' })).resolves.toMatchObject({
      healthy: true,
      status: 200,
    });
  });

  it.each([
    ['a wrong status', '/down', {}, 'status 503, expected 200'],
    ['a body without the expected text', '/ok', { expectBody: 'perfect' }, 'body does not contain "perfect"'],
    ['no answer in time', '/slow', { timeoutMs: 200 }, 'no answer within 200 ms'],
  ])('is unhealthy on %s', async (_what, p, extra, detail) => {
    await expect(acts().httpCheck({ url: `${server.url}${p}`, ...extra })).resolves.toMatchObject({ healthy: false, detail });
  });

  it('is unhealthy when nothing listens', async () => {
    const port = await freePort();
    await expect(acts().httpCheck({ url: `http://127.0.0.1:${port}/` })).resolves.toMatchObject({
      healthy: false,
      detail: 'ECONNREFUSED',
    });
  });

  it('refuses non-HTTP URLs', async () => {
    await expect(acts().httpCheck({ url: 'file:///etc/passwd' })).rejects.toMatchObject({ name: 'InvalidRequestError' });
  });
});

describe('prometheusQuery', () => {
  let server: CaptureServer;
  beforeAll(async () => {
    server = await startCaptureServer((req) =>
      req.body.includes('bad')
        ? { status: 400, body: { status: 'error', errorType: 'bad_data', error: 'parse error' } }
        : { status: 200, body: vector([{ instance: 'n1' }, { instance: 'n2' }], '0.97') },
    );
  });
  afterAll(() => server.close());

  it('returns the samples of an instant vector', async () => {
    const r = await acts({ prometheus: { address: server.url, timeoutMs: 2000 } }).prometheusQuery({ query: 'disk_used > 0.9' });
    expect(r.samples).toEqual([
      { labels: { instance: 'n1' }, value: 0.97 },
      { labels: { instance: 'n2' }, value: 0.97 },
    ]);
    expect(new URLSearchParams(server.requests[0]!.body).get('query')).toBe('disk_used > 0.9');
  });

  it('treats a refused query as permanent and an unreachable Prometheus as retryable', async () => {
    await expect(
      acts({ prometheus: { address: server.url, timeoutMs: 2000 } }).prometheusQuery({ query: 'bad(' }),
    ).rejects.toMatchObject({
      name: 'InvalidRequestError',
    });
    await expect(
      acts({ prometheus: { address: `http://127.0.0.1:${await freePort()}`, timeoutMs: 2000 } }).prometheusQuery({ query: 'up' }),
    ).rejects.toMatchObject({
      name: 'PrometheusQueryError',
    });
    await expect(acts().prometheusQuery({ query: 'up' })).rejects.toMatchObject({ name: 'NotConfiguredError' });
  });
});

describe('drain, undrain and notify hooks', () => {
  it('runs a command hook with the event in MEDIC_* variables, not in argv', async () => {
    const out = path.join(sandbox.dir(), 'env');
    const hook = script('hook', `echo "$MEDIC_EVENT|$MEDIC_NODE|$MEDIC_DATACENTER|$MEDIC_MESSAGE|$#" > ${out}`);
    const a = acts({ hooks: { drain: { kind: 'command', argv: [hook], timeoutMs: 5000 } } });
    await expect(a.drainNode({ message: 'reboot; rm -rf /' })).resolves.toMatchObject({ event: 'drain', delivered: true });
    expect(fs.readFileSync(out, 'utf8')).toBe('drain|n1|dc1|reboot; rm -rf /|0\n');
  });

  it('posts JSON to a webhook hook, with its headers', async () => {
    const server = await startCaptureServer();
    try {
      const a = acts({
        hooks: { notify: { kind: 'webhook', url: `${server.url}/n`, headers: { authorization: 'Bearer t' }, timeoutMs: 5000 } },
      });
      await a.notify({ message: 'disk full', severity: 'critical' });
      expect(server.requests[0]!.json).toEqual({
        event: 'notify',
        node: 'n1',
        datacenter: 'dc1',
        nodeType: 'web',
        message: 'disk full',
        severity: 'critical',
      });
      expect(server.requests[0]!.headers.authorization).toBe('Bearer t');
    } finally {
      await server.close();
    }
  });

  it('fails (retryably) when the hook fails, and permanently when there is none', async () => {
    const a = acts({ hooks: { undrain: { kind: 'command', argv: [script('bad', 'echo nope >&2; exit 3')], timeoutMs: 5000 } } });
    await expect(a.undrainNode({ message: 'x' })).rejects.toMatchObject({
      name: 'HookFailedError',
      message: expect.stringContaining('exit 3: nope'),
    });
    await expect(a.drainNode({ message: 'x' })).rejects.toMatchObject({ name: 'NotConfiguredError' });
  });
});

describe('reboot', () => {
  it('runs nothing under reboot_dry_run and answers with the boot id', async () => {
    fs.writeFileSync(path.join(sandbox.dir(), 'boot_id'), 'abc\n');
    const marker = path.join(sandbox.dir(), 'rebooted');
    const a = acts({ rebootDryRun: true, rebootCommand: [script('reboot', `touch ${marker}`)] });
    await expect(a.reboot()).resolves.toMatchObject({ dryRun: true, bootId: 'abc' });
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('runs the reboot command when not a dry run', async () => {
    fs.writeFileSync(path.join(sandbox.dir(), 'boot_id'), 'abc\n');
    const marker = path.join(sandbox.dir(), 'rebooted');
    await expect(
      acts({ rebootDryRun: false, rebootCommand: [script('reboot', `touch ${marker}`)] }).reboot(),
    ).resolves.toMatchObject({ dryRun: false });
    expect(fs.existsSync(marker)).toBe(true);
  });
});

describe('cleanFiles', () => {
  const DAY = 86_400_000;
  function file(p: string, ageDays: number): string {
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, 'x'.repeat(100));
    const t = new Date(Date.now() - ageDays * DAY);
    fs.utimesSync(p, t, t);
    return p;
  }

  it('removes only old files matching a pattern, never following or removing symlinks', async () => {
    const root = path.join(sandbox.dir(), 'logs');
    const outside = path.join(sandbox.dir(), 'precious');
    file(path.join(root, 'a.gz'), 10);
    file(path.join(root, 'deep', 'b.gz'), 10);
    file(path.join(root, 'new.gz'), 1);
    file(path.join(root, 'keep.txt'), 10);
    file(path.join(outside, 'c.gz'), 10);
    fs.symlinkSync(outside, path.join(root, 'link-dir'));
    fs.symlinkSync(path.join(outside, 'c.gz'), path.join(root, 'link.gz'));
    const r = await acts({ cleanupPaths: [root] }).cleanFiles({ path: root, patterns: ['*.gz'], olderThanMs: 7 * DAY });
    expect(r).toMatchObject({ filesRemoved: 2, bytesFreed: 200, filesKept: 1, errors: [] });
    expect(fs.readdirSync(root).sort()).toEqual(['deep', 'keep.txt', 'link-dir', 'link.gz', 'new.gz']);
    expect(fs.existsSync(path.join(outside, 'c.gz'))).toBe(true);
  });

  it('counts without removing in a dry run', async () => {
    const root = path.join(sandbox.dir(), 'logs');
    file(path.join(root, 'a.gz'), 10);
    const r = await acts({ cleanupPaths: [root] }).cleanFiles({ path: root, patterns: ['*.gz'], olderThanMs: DAY, dryRun: true });
    expect(r).toMatchObject({ filesRemoved: 1, dryRun: true });
    expect(fs.existsSync(path.join(root, 'a.gz'))).toBe(true);
  });

  it('refuses paths outside cleanup_paths, with ".." or through a symlink that escapes', async () => {
    const root = path.join(sandbox.dir(), 'logs');
    const outside = path.join(sandbox.dir(), 'etc');
    file(path.join(outside, 'x.gz'), 10);
    fs.mkdirSync(root, { recursive: true });
    fs.symlinkSync(outside, path.join(root, 'escape'));
    const a = acts({ cleanupPaths: [root] });
    for (const p of [outside, `${root}/../etc`, path.join(root, 'escape'), 'logs', '/']) {
      await expect(a.cleanFiles({ path: p, patterns: ['*.gz'], olderThanMs: 0 })).rejects.toMatchObject({
        name: 'PathNotAllowedError',
      });
    }
    await expect(acts().cleanFiles({ path: root, patterns: ['*.gz'], olderThanMs: 0 })).rejects.toMatchObject({
      message: expect.stringContaining('cleanup_paths is empty'),
    });
    expect(fs.existsSync(path.join(outside, 'x.gz'))).toBe(true);
  });

  it('accepts only file-name globs as patterns', () => {
    expect(globToRegExp('*.log.?').test('app.log.1')).toBe(true);
    expect(globToRegExp('*.log.?').test('app.log.10')).toBe(false);
    for (const bad of ['../*', '/etc/*', '', '..', 'a/b'])
      expect(() => globToRegExp(bad)).toThrow(expect.objectContaining({ name: 'InvalidRequestError' }));
  });
});

describe('diskUsage and nodeIdentity', () => {
  it('reads usage with statfs and the boot id from the kernel file', async () => {
    const u = await acts().diskUsage({ path: sandbox.dir() });
    expect(u.totalBytes).toBeGreaterThan(0);
    expect(u.usedRatio).toBeGreaterThanOrEqual(0);
    fs.writeFileSync(path.join(sandbox.dir(), 'boot_id'), 'b-1\n');
    await expect(acts().nodeIdentity()).resolves.toMatchObject({ node: 'n1', datacenter: 'dc1', nodeType: 'web', bootId: 'b-1' });
  });
});

describe('permanent errors', () => {
  it('are the ones workflows tell Temporal not to retry', () => {
    const names = PERMANENT_ERRORS.map((E) => new E('x').name);
    expect(PERMANENT_ERROR_TYPES.filter((t) => t !== 'TemplateError').sort()).toEqual(names.sort());
  });
});
