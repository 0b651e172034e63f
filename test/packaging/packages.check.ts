// The packages `npm run package` built (dist/pkg/), checked from the outside: package metadata
// and contents, lintian, the extracted executable with no Node.js reachable, the systemd units,
// the OCI image run in a chroot as its non-root user, the Helm chart, and the executable's
// worker running real workflows from its embedded bundle and native addon.
// Run by `npm run test:package` (after `npm run package`), not by `npm test`.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { toolPath } from '../../packaging/tools';
import { generalQueue, nodeQueue } from '../../src/naming/task-queues';
import type { RunbookStep } from '../../workflows/shared/input';
import { connectClient, temporalAddress, unique } from '../helpers/temporal';

const ROOT = path.join(__dirname, '..', '..');
const PKG = path.join(ROOT, 'dist', 'pkg');
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const DEB = path.join(PKG, `medic_${VERSION}_amd64.deb`);
const RPM = path.join(PKG, `medic-${VERSION}-1.x86_64.rpm`);
const TARBALL = path.join(PKG, `medic_${VERSION}_linux_amd64.tar.gz`);
const IMAGE = path.join(PKG, `medic_${VERSION}_oci.tar`);
const UNITS = ['medic-coordinator.service', 'medic-trigger.service', 'medic-worker.service'];

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): { code: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: opts.env ?? process.env, cwd: opts.cwd, maxBuffer: 1 << 26 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

function onPath(name: string): boolean {
  return run('sh', ['-c', `command -v ${name}`]).code === 0;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-pkgcheck-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('the .deb', () => {
  const root = path.join(tmp, 'deb');
  beforeAll(() => {
    fs.mkdirSync(root);
    execFileSync('dpkg-deb', ['-x', DEB, root]);
  });

  it('says what it is and what it needs', () => {
    const info = run('dpkg-deb', ['--info', DEB]).out;
    expect(info).toMatch(/Package: medic\n/);
    expect(info).toMatch(new RegExp(`Version: ${VERSION.replace(/\./g, '\\.')}\\n`));
    expect(info).toMatch(/Architecture: amd64/);
    expect(info).toMatch(/Depends: .*libc6/);
    for (const script of ['postinst', 'prerm', 'postrm']) expect(info).toContain(script);
  });

  it('holds the executable, the three units and /etc/medic as conffiles, and nothing from the checkout', () => {
    const contents = run('dpkg-deb', ['--contents', DEB]).out;
    const files = contents
      .split('\n')
      .map((l) => l.split(/\s+/).pop() ?? '')
      .filter((f) => f && !f.endsWith('/'));
    expect(files).toContain('./usr/bin/medic');
    for (const u of UNITS) expect(files).toContain(`./usr/lib/systemd/system/${u}`);
    expect(files).toEqual(
      expect.arrayContaining(['./etc/medic/coordinator.hcl', './etc/medic/worker.hcl', './etc/medic/workflows/cleanDisk.hcl']),
    );
    expect(files.filter((f) => /node_modules|dist\/|\.ts$/.test(f))).toEqual([]);
    const conffiles = execFileSync('dpkg-deb', ['--info', DEB, 'conffiles'], { encoding: 'utf8' }).trim().split('\n').sort();
    expect(conffiles).toEqual(
      files
        .filter((f) => f.startsWith('./etc/medic/'))
        .map((f) => f.slice(1))
        .sort(),
    );
  });

  it('makes the medic user only in its maintainer script, and enables no unit', () => {
    const postinst = execFileSync('dpkg-deb', ['--info', DEB, 'postinst'], { encoding: 'utf8' });
    expect(postinst).toMatch(/adduser --system/);
    expect(postinst).not.toMatch(/systemctl (enable|start)/);
    const postrm = execFileSync('dpkg-deb', ['--info', DEB, 'postrm'], { encoding: 'utf8' });
    // /etc/medic is dpkg's to remove (conffiles, on purge only); the script never deletes it.
    expect(postrm).not.toMatch(/rm [^\n]*\/etc\/medic/);
  });

  const lintian = onPath('lintian');
  (lintian ? it : it.skip)('passes lintian without errors', () => {
    const { code, out } = run('lintian', ['--fail-on', 'error', '--tag-display-limit', '0', DEB]);
    process.stdout.write(`lintian:\n${out}`);
    expect(out).not.toMatch(/^E: /m);
    expect(code).toBe(0);
  });

  it('runs `medic version` with no Node.js reachable (env -i PATH=/nonexistent)', () => {
    const { code, out } = run('env', ['-i', 'PATH=/nonexistent', path.join(root, 'usr/bin/medic'), 'version'], { cwd: tmp });
    expect(out).toMatch(new RegExp(`^medic ${VERSION.replace(/\./g, '\\.')} \\(Temporal SDK 1\\.\\d+\\.\\d+, Node\\.js 20\\.`));
    expect(out).toMatch(/\ncommit [0-9a-f]{12}(-dirty)?, built \d{4}-\d\d-\d\dT/);
    expect(code).toBe(0);
  });

  it('validates its own /etc/medic with no Node.js reachable', () => {
    const { code, out } = run(
      'env',
      ['-i', 'PATH=/nonexistent', path.join(root, 'usr/bin/medic'), 'validate', '--config', path.join(root, 'etc/medic')],
      {
        cwd: tmp,
      },
    );
    expect(out).toMatch(/ok: coordinator .* 0 errors/);
    expect(code).toBe(0);
  });

  const analyze = onPath('systemd-analyze');
  (analyze ? it : it.skip)('ships units that pass systemd-analyze verify', () => {
    // Verified as installed, except ExecStart points at the extracted executable.
    const units = path.join(tmp, 'units');
    fs.mkdirSync(units);
    for (const u of UNITS) {
      const text = fs.readFileSync(path.join(root, 'usr/lib/systemd/system', u), 'utf8');
      fs.writeFileSync(path.join(units, u), text.replaceAll('/usr/bin/medic', path.join(root, 'usr/bin/medic')));
    }
    const { code, out } = run('systemd-analyze', ['verify', ...UNITS.map((u) => path.join(units, u))]);
    expect(out).toBe('');
    expect(code).toBe(0);
  });
});

describe('the .rpm and the .tar.gz', () => {
  it('the .rpm is an RPM package of the executable', () => {
    const head = Buffer.alloc(4);
    const fd = fs.openSync(RPM, 'r');
    fs.readSync(fd, head, 0, 4, 0);
    fs.closeSync(fd);
    expect(head.toString('hex')).toBe('edabeedb');
    expect(fs.statSync(RPM).size).toBeGreaterThan(20 << 20);
    if (onPath('rpm')) expect(run('rpm', ['-qlp', RPM]).out).toContain('/usr/bin/medic');
  });

  it('the .tar.gz holds the same files as the .deb', () => {
    const list = (out: string): string[] =>
      out
        .split('\n')
        .map((l) => l.split(/\s+/).pop()!.replace(/^\.\//, ''))
        .filter((f) => f && !f.endsWith('/'))
        .sort();
    expect(list(run('tar', ['-tzf', TARBALL]).out)).toEqual(list(run('dpkg-deb', ['--contents', DEB]).out));
  });
});

describe('the OCI image', () => {
  const layout = path.join(tmp, 'oci');
  const rootfs = path.join(tmp, 'rootfs');
  const blob = (digest: string): string => path.join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
  const json = <T>(file: string): T => JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  let config: { config: { User: string; Entrypoint: string[]; Cmd: string[] } };

  beforeAll(() => {
    fs.mkdirSync(layout);
    fs.mkdirSync(rootfs);
    execFileSync('tar', ['-xf', IMAGE, '-C', layout]);
    const index = json<{ manifests: Array<{ digest: string }> }>(path.join(layout, 'index.json'));
    const manifest = json<{ config: { digest: string }; layers: Array<{ digest: string }> }>(blob(index.manifests[0]!.digest));
    config = json(blob(manifest.config.digest));
    for (const layer of manifest.layers) execFileSync('tar', ['-xzf', blob(layer.digest), '-C', rootfs]);
  });

  it('runs as a non-root user with medic as its entrypoint', () => {
    expect(config.config.User).toBe('10001:10001');
    expect(config.config.Entrypoint).toEqual(['/usr/bin/medic']);
    expect(fs.readFileSync(path.join(rootfs, 'etc/passwd'), 'utf8')).toMatch(/^medic:x:10001:10001:/m);
    expect(fs.existsSync(path.join(rootfs, 'etc/ssl/certs/ca-certificates.crt'))).toBe(true);
  });

  it('its entrypoint runs in a chroot as that user (no Node.js, only the libraries it ships)', () => {
    const argv = [...config.config.Entrypoint, ...config.config.Cmd];
    const chroot = run('sh', ['-c', 'command -v chroot || echo /usr/sbin/chroot']).out.trim();
    // An empty environment: nothing from this machine's PATH or Node.js reaches the process.
    const { code, out } =
      process.getuid?.() === 0
        ? run(chroot, ['--userspec=10001:10001', rootfs, ...argv], { env: {} })
        : run('unshare', ['--user', '--map-root-user', chroot, rootfs, ...argv], { env: {} });
    expect(out).toMatch(new RegExp(`^medic ${VERSION.replace(/\./g, '\\.')} `));
    expect(code).toBe(0);
  });

  it('is a valid image for crane', () => {
    const { code, out } = run(toolPath('crane'), ['validate', '--tarball', IMAGE]);
    expect(out).not.toMatch(/FAIL/);
    expect(code).toBe(0);
  });
});

describe('the Helm chart', () => {
  const chart = path.join(ROOT, 'deploy', 'helm', 'medic');
  const helm = (...args: string[]) => run(toolPath('helm'), args);

  it('passes helm lint', () => {
    const { code, out } = helm('lint', '--strict', chart);
    expect(out).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(code).toBe(0);
  });

  it('renders two coordinators with a disruption budget, and a trigger', () => {
    const { code, out } = helm('template', 'medic', chart);
    expect(code).toBe(0);
    expect(out).toMatch(/kind: Deployment\nmetadata:\n {2}name: medic-coordinator\n[\s\S]*?replicas: 2/);
    expect(out).toMatch(/kind: PodDisruptionBudget[\s\S]*?minAvailable: 1/);
    expect(out).toMatch(/name: medic-trigger/);
    expect(out).toMatch(/args: \["coordinator", "--config", "\/etc\/medic"\]/);
    expect(out).not.toMatch(/kind: Certificate/);
  });

  it('asks cert-manager for the certificates when told to', () => {
    const { code, out } = helm(
      'template',
      'medic',
      chart,
      '--set',
      'coordinator.tls.certManager.enabled=true',
      '--set',
      'trigger.tls.certManager.enabled=true',
    );
    expect(code).toBe(0);
    expect(out.match(/kind: Certificate\n/g)).toHaveLength(2);
    expect(out).toMatch(/uris:\n\s+- spiffe:\/\/example\.com\/trigger\/k8s/);
  });

  it('refuses a single coordinator replica', () => {
    const { code, out } = helm('template', 'medic', chart, '--set', 'coordinator.replicas=1');
    expect(out).toMatch(/coordinator\.replicas must be at least 2/);
    expect(code).not.toBe(0);
  });
});

describe('the executable as a coordinator', () => {
  it('serves the web console from its embedded script and style sheet', async () => {
    const config = path.join(tmp, unique('sea-console'));
    fs.mkdirSync(config);
    fs.writeFileSync(
      path.join(config, 'coordinator.hcl'),
      `server_config {\n  listen = "127.0.0.1:0"\n  enable_tls = false\n  route_rule {\n    name = "console_sign_in"\n` +
        `    method = "GET"\n    route_patterns = ["/ui/assets/*"]\n    allow_public = true\n  }\n}\n` +
        `temporal {\n  address = "${temporalAddress()}"\n}\n`,
    );
    const { spawn } = await import('node:child_process');
    const child = spawn(path.join(PKG, 'medic'), ['coordinator', '--config', config, '--insecure-no-tls'], {
      env: { PATH: '/nonexistent', MEDIC_EXTRACT_DIR: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    try {
      const port = await new Promise<string>((resolve, reject) => {
        const look = (): void => {
          const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
          if (m) resolve(m[1]!);
          else if (child.exitCode !== null) reject(new Error(`coordinator exited ${child.exitCode}:\n${out}`));
          else setTimeout(look, 100);
        };
        look();
      });
      for (const name of ['console.js', 'console.css']) {
        const res = await fetch(`http://127.0.0.1:${port}/ui/assets/${name}`);
        expect([name, res.status]).toEqual([name, 200]);
        expect(await res.text()).toBe(fs.readFileSync(path.join(ROOT, 'src', 'coordinator', 'console', 'assets', name), 'utf8'));
      }
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }, 60_000);
});

describe('the executable as a worker', () => {
  let client: Client;
  let close: () => Promise<void>;
  beforeAll(async () => ({ client, close } = await connectClient()));
  afterAll(() => close());

  it.each([false, true])(
    'runs workflows from its embedded bundle and native addon (workflow_threads = %s)',
    async (threads) => {
      const node = unique('sea');
      const config = path.join(tmp, node);
      fs.mkdirSync(config);
      fs.writeFileSync(
        path.join(config, 'worker.hcl'),
        `worker {\n  datacenter = "${unique('dc')}"\n  node_type = "generic"\n  node = "${node}"\n  workflow_threads = ${threads}\n` +
          `  allowed_commands = ["/usr/bin/true"]\n  reboot_dry_run = true\n}\ntemporal {\n  address = "${temporalAddress()}"\n}\n`,
      );
      const extract = path.join(tmp, `${node}-extract`);
      // What a SIGKILLed medic leaves behind: the next one sweeps it.
      const dead = spawnSync('true').pid;
      fs.mkdirSync(path.join(extract, `medic-run-${dead}-left`), { recursive: true });
      fs.writeFileSync(path.join(extract, `medic-run-${dead}-left`, 'core-bridge.node'), 'stale');
      const { spawn } = await import('node:child_process');
      const child = spawn(path.join(PKG, 'medic'), ['worker', '--config', config], {
        env: { PATH: '/nonexistent', MEDIC_EXTRACT_DIR: extract },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      try {
        const steps: RunbookStep[] = [{ name: 'true', kind: 'command', command: '/usr/bin/true', args: [] }];
        const handle = await client.workflow.start('runbook', {
          taskQueue: nodeQueue(node),
          workflowId: unique('sea'),
          args: [{ workflow: 'seaCheck', target: { node }, params: {}, steps }],
        });
        await expect(
          Promise.race([handle.result(), exited.then((c) => Promise.reject(new Error(`worker exited ${c}:\n${out}`)))]),
        ).resolves.toBeDefined();
        // One private directory for the process (its workflow threads share it), with the files it unpacked.
        const dirs = fs.readdirSync(extract);
        expect(dirs).toEqual([expect.stringMatching(new RegExp(`^medic-run-${child.pid}-`))]);
        const dir = dirs[0];
        expect(fs.readdirSync(path.join(extract, dir!)).sort()).toEqual(
          threads
            ? ['core-bridge.node', 'workflow-bundle.js', 'workflow-bundle.manifest.json', 'workflow-worker-thread.js']
            : ['core-bridge.node', 'workflow-bundle.js', 'workflow-bundle.manifest.json'],
        );
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
      // A clean stop removes the private directory.
      expect(fs.readdirSync(extract)).toEqual([]);
    },
    120_000,
  );

  it('runs a per-server worker (role node) on its lean runtime, beside a general worker', async () => {
    const [node, dc] = [unique('sea-node'), unique('dc')];
    const { spawn } = await import('node:child_process');
    const start = (role: string) => {
      const config = path.join(tmp, `${node}-${role}`);
      fs.mkdirSync(config);
      fs.writeFileSync(
        path.join(config, 'worker.hcl'),
        `worker {\n  datacenter = "${dc}"\n  node_type = "generic"\n  node = "${role === 'node' ? node : `${node}-general`}"\n  role = "${role}"\n` +
          `  allowed_commands = ["/usr/bin/true"]\n  reboot_dry_run = true\n}\ntemporal {\n  address = "${temporalAddress()}"\n}\n`,
      );
      const extract = path.join(tmp, `${node}-${role}-extract`);
      const child = spawn(path.join(PKG, 'medic'), ['worker', '--config', config], {
        env: { PATH: '/nonexistent', MEDIC_EXTRACT_DIR: extract },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      return { child, extract, exited, out: () => out };
    };
    const workers = [start('node'), start('general')];
    try {
      const steps: RunbookStep[] = [{ name: 'true', kind: 'command', command: '/usr/bin/true', args: [] }];
      const handle = await client.workflow.start('runbook', {
        taskQueue: generalQueue(dc),
        workflowId: unique('sea'),
        args: [{ workflow: 'seaCheck', target: { node, datacenter: dc }, params: {}, steps, activityQueue: nodeQueue(node) }],
      });
      await expect(handle.result()).resolves.toMatchObject({ outcome: 'healed' });
      expect(workers[0]!.out()).toMatch(/msg="polling" queues="medic:[^"]+:generic,medic:node:/);
      // The lean runtime never loads the SDK's native addon, so it never unpacks it.
      const { extract } = workers[0]!;
      const unpacked = fs.existsSync(extract) ? fs.readdirSync(extract, { recursive: true }).map(String) : [];
      expect(unpacked.filter((f) => f.endsWith('core-bridge.node'))).toEqual([]);
    } finally {
      for (const w of workers) w.child.kill('SIGTERM');
      expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0]);
    }
  }, 120_000);
});
