// The pieces of `medic dev` that are pure or local: its Prometheus config (checked by promtool),
// reading the trigger daemon's "workflow started" line, the demo service's metric, and the
// watchdog that stops children when their parent dies.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { executionUrl, startedByTrigger } from '../../src/dev/command';
import { breakDemo, fixDemo, serveDemo } from '../../src/dev/demo-service';
import { devPrometheusArgs, devPrometheusConfig, medicRulesFile } from '../../src/dev/prometheus';
import { reap } from '../../src/dev/reaper';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-dev-unit-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("medic dev's Prometheus config", () => {
  it('passes promtool check config, with medic-rules.yml loaded', async () => {
    fs.writeFileSync(path.join(tmp, 'ca.pem'), '');
    const config = devPrometheusConfig(
      {
        demo: '127.0.0.1:8090',
        coordinator: '127.0.0.1:8443',
        worker: '127.0.0.1:9464',
        trigger: '127.0.0.1:9465',
        caFile: path.join(tmp, 'ca.pem'),
      },
      medicRulesFile(),
    );
    const args = devPrometheusArgs(path.join(tmp, 'prom'), '127.0.0.1:9090', config);
    const file = args.find((a) => a.startsWith('--config.file='))!.split('=')[1]!;
    const out = await new Promise<string>((resolve) =>
      execFile('/usr/bin/promtool', ['check', 'config', file], (err, stdout, stderr) =>
        resolve(`${err ? 'FAILED ' : ''}${stdout}${stderr}`),
      ),
    );
    expect(out).not.toContain('FAILED');
    expect(out).toContain('SUCCESS');
    for (const job of ['medic-demo', 'medic-coordinator', 'medic-worker', 'medic-trigger']) expect(config).toContain(job);
  });
});

describe('startedByTrigger', () => {
  it("reads the trigger daemon's workflow-started log line", () => {
    const line = JSON.stringify({
      time: '2026-01-01T00:00:00Z',
      level: 'info',
      component: 'trigger',
      msg: 'workflow started',
      rule: 'demo_unhealthy',
      workflow: 'healDemo',
      workflow_id: 'healDemo:host1:abc',
    });
    expect(startedByTrigger(line)).toEqual({ workflowId: 'healDemo:host1:abc', workflow: 'healDemo', rule: 'demo_unhealthy' });
    expect(executionUrl('http://127.0.0.1:8233', 'healDemo:host1:abc')).toBe(
      'http://127.0.0.1:8233/namespaces/default/workflows/healDemo%3Ahost1%3Aabc',
    );
  });

  it.each(['not json', '{"msg":"series firing"}', '{"msg":"workflow started"}', '{broken'])('ignores %s', (line) => {
    expect(startedByTrigger(line)).toBeUndefined();
  });
});

describe('the demo service', () => {
  it('exports medic_demo_healthy with the labels the demo rule needs, 0 while broken (soft or hard)', async () => {
    const dir = path.join(tmp, 'demo');
    const stop = new AbortController();
    const net = await import('node:net');
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const served = serveDemo({
      host: '127.0.0.1',
      port,
      dir,
      signal: stop.signal,
      labels: { node: 'host1', datacenter: 'dev1', node_type: 'generic' },
    });
    const metrics = async (): Promise<string> => {
      for (;;) {
        const text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
          (r) => r.text(),
          () => undefined,
        );
        if (text !== undefined) return text;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      const sample = (text: string): string => text.split('\n').find((l) => l.startsWith('medic_demo_healthy{'))!;
      expect(sample(await metrics())).toBe(
        `medic_demo_healthy{node="host1",datacenter="dev1",node_type="generic",demo_dir="${dir}",port="${port}"} 1`,
      );
      breakDemo(dir);
      expect(sample(await metrics())).toMatch(/ 0$/);
      expect(fs.statSync(path.join(dir, 'stale.lock')).isFile()).toBe(true);
      breakDemo(dir, true);
      expect(fs.statSync(path.join(dir, 'stale.lock')).isDirectory()).toBe(true);
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(503);
      expect(fixDemo(dir)).toBe(true);
      expect(sample(await metrics())).toMatch(/ 1$/);
      expect(fixDemo(dir)).toBe(false);
    } finally {
      stop.abort();
      await served;
    }
  });
});

describe("the watchdog's reap", () => {
  it('stops a process group that ignores SIGTERM, with SIGKILL after the grace period', async () => {
    // A shell that ignores TERM, with a child of its own in the same group.
    const child = spawn('/bin/sh', ['-c', 'trap "" TERM; sleep 300 & wait'], { detached: true, stdio: 'ignore' });
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await new Promise((r) => child.once('spawn', r));
    await reap([child.pid!], 500);
    await gone;
    // Nothing left in its group (the killed sleep may stay a zombie for a moment, until reaped).
    const groupAlive = (): boolean => {
      try {
        process.kill(-child.pid!, 0);
        return true;
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 10_000;
    while (groupAlive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(groupAlive()).toBe(false);
  });
});

describe('the trigger flags medic dev passes', () => {
  const trigger = (args: string[]): Promise<{ code: number; stderr: string }> =>
    new Promise((resolve) =>
      execFile(
        process.execPath,
        [path.resolve(__dirname, '../../dist/cmd/medic.js'), 'trigger', ...args],
        (err, _stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stderr }),
      ),
    );

  it.each([
    [['--poll-interval', 'soon'], '--poll-interval "soon" is not a positive duration like 1s'],
    [['--poll-interval', '0s'], '--poll-interval "0s" is not a positive duration like 1s'],
    [['--prometheus-address', 'ftp://x'], '--prometheus-address "ftp://x" is not http://host:port'],
  ])('refuses %p with a usage error that names the flag', async (args, message) => {
    const r = await trigger(args);
    expect(r.stderr).toContain(message);
    expect(r.code).toBe(2);
  });
});
