// `medic worker` as a real process: graceful drain on SIGTERM, a SIGKILL mid-activity survived by
// starting a new worker, retrying while Temporal is unreachable, /metrics, and refusing to start
// misregistered.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { startCaptureServer } from '../helpers/capture-server';
import { generalQueue, nodeQueue } from '../../src/naming/task-queues';
import type { RunbookStep } from '../../workflows/shared/input';
import { metricsUrlOf, spawnMedic, writeWorkerConfig, type MedicProcess } from '../helpers/medic-process';
import { tempDir } from '../helpers/medic-worker';
import { connectClient, eventually, temporalAddress, unique, workflowBundle } from '../helpers/temporal';

describe('medic worker process', () => {
  let client: Client;
  let closeClient: () => Promise<void>;
  let dir: string;
  const procs: MedicProcess[] = [];

  beforeAll(async () => {
    ({ client, close: closeClient } = await connectClient());
  });
  beforeEach(() => {
    dir = tempDir('proc');
  });
  afterEach(async () => {
    for (const p of procs.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  afterAll(() => closeClient());

  function worker(
    node: string,
    extra: { grace?: string; address?: string; metrics?: string; dc?: string; flags?: string[]; allowed?: string } = {},
  ): MedicProcess {
    const configDir = writeWorkerConfig(
      path.join(dir, `config-${procs.length}`),
      [
        `datacenter = "${extra.dc ?? unique('dc')}"`,
        'node_type = "generic"',
        `node = "${node}"`,
        `shutdown_grace = "${extra.grace ?? '30s'}"`,
        `allowed_commands = [${extra.allowed ?? '"/usr/bin/sleep"'}]`,
        'reboot_dry_run = true',
        extra.metrics ? `metrics_listen = "${extra.metrics}"` : '',
      ].join('\n'),
      `temporal {\n  address = "${extra.address ?? temporalAddress()}"\n}\n`,
    );
    const p = spawnMedic([
      'worker',
      '--config',
      configDir,
      '--workflow-bundle',
      workflowBundle().codePath,
      ...(extra.flags ?? []),
    ]);
    procs.push(p);
    return p;
  }

  function sleepStep(seconds: number): RunbookStep[] {
    return [{ name: 'sleep', kind: 'command', command: '/usr/bin/sleep', args: [String(seconds)] }];
  }

  function startRunbook(node: string, steps: RunbookStep[]): Promise<WorkflowHandle> {
    return client.workflow.start('runbook', {
      taskQueue: nodeQueue(node),
      workflowId: unique('proc'),
      args: [{ workflow: 'sleepy', target: { node }, params: {}, steps }],
    });
  }

  async function activityRunning(handle: WorkflowHandle): Promise<void> {
    await eventually(
      async () =>
        (await handle.describe()).raw.pendingActivities?.some((a) => a.state === 2 /* PENDING_ACTIVITY_STATE_STARTED */)
          ? true
          : undefined,
      30_000,
      'the activity to start',
    );
  }

  async function events(handle: WorkflowHandle) {
    return (await handle.fetchHistory()).events ?? [];
  }

  it('finishes the running activity on SIGTERM, then exits 0', async () => {
    const node = unique('drain');
    const p = worker(node);
    await p.waitFor(/msg="polling"/);
    const handle = await startRunbook(node, sleepStep(3));
    await activityRunning(handle);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.output()).toMatch(/msg="stopping: draining running activities" grace=30s/);
    // The activity completed during the drain, before the process went away.
    expect((await events(handle)).some((e) => e.activityTaskCompletedEventAttributes)).toBe(true);
    await handle.terminate();
  });

  it('exits 0 after the grace period even if an activity is still running, leaving it to be retried', async () => {
    const node = unique('grace');
    const p = worker(node, { grace: '1s' });
    await p.waitFor(/msg="polling"/);
    const handle = await startRunbook(node, sleepStep(120));
    await activityRunning(handle);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect((await events(handle)).some((e) => e.activityTaskCompletedEventAttributes)).toBe(false);
    await handle.terminate();
  });

  it('completes the workflow on a new worker after the first is SIGKILLed mid-activity', async () => {
    const node = unique('kill');
    const first = worker(node);
    await first.waitFor(/msg="polling"/);
    // Long enough that the step cannot finish before the kill on a loaded machine.
    const handle = await startRunbook(node, sleepStep(10));
    await activityRunning(handle);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');

    const second = worker(node);
    await second.waitFor(/msg="polling"/);
    const result = await handle.result();
    expect(result.steps[0]).toMatchObject({ name: 'sleep', ok: true });
    // The heartbeat timeout noticed the dead worker; the retry ran on the new process.
    // (The first started event is the step's; after it comes the page resolve of the healed run.)
    const started = (await events(handle)).filter((e) => e.activityTaskStartedEventAttributes);
    const step = started[0]!.activityTaskStartedEventAttributes!;
    expect(step.attempt).toBe(2);
    expect(step.identity).toBe(`${second.child.pid}@${node}`);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 180_000);

  it('escalates "node unreachable" when the node worker is SIGKILLed mid-remediation: never hangs', async () => {
    const [node, dc] = [unique('dead'), unique('dc')];
    const sink = await startCaptureServer();
    try {
      const nodeWorker = worker(node, { dc, flags: ['--role', 'node'] });
      const general = worker(unique('general'), { dc, flags: ['--role', 'general', '--escalation-url', `${sink.url}/page`] });
      await Promise.all([nodeWorker.waitFor(/msg="polling"/), general.waitFor(/msg="polling"/)]);
      expect(nodeWorker.output()).toMatch(new RegExp(`queues="medic:${dc}:generic,medic:node:${node}"`));
      const handle = await client.workflow.start('runbook', {
        taskQueue: generalQueue(dc),
        workflowId: unique('dead'),
        workflowExecutionTimeout: '5m',
        args: [
          {
            workflow: 'sleepy',
            target: { node, datacenter: dc },
            params: { node_wait: '3s' },
            steps: sleepStep(120),
            activityQueue: nodeQueue(node),
          },
        ],
      });
      await activityRunning(handle);
      nodeWorker.child.kill('SIGKILL');
      const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect((err.cause as ApplicationFailure).type).toBe('Escalated');
      expect(err.cause!.message).toContain('node unreachable');
      const page = await eventually(async () => sink.requests.find((r) => r.path === '/page'));
      expect(page.json).toMatchObject({ event_action: 'trigger', dedup_key: `medic/sleepy/${node}`, outcome: 'escalated' });
    } finally {
      await sink.close();
    }
  }, 180_000);

  it('reloads worker.hcl on SIGHUP without dropping the running activity', async () => {
    const node = unique('hup');
    const p = worker(node);
    await p.waitFor(/msg="polling"/);
    const handle = await startRunbook(node, sleepStep(4));
    await activityRunning(handle);
    // The new file allows one more command; the running sleep must finish all the same.
    const hcl = path.join(dir, 'config-0', 'worker.hcl');
    fs.writeFileSync(hcl, fs.readFileSync(hcl, 'utf8').replace('["/usr/bin/sleep"]', '["/usr/bin/sleep", "/usr/bin/true"]'));
    p.child.kill('SIGHUP');
    await p.waitFor(/msg="reloaded worker.hcl"/);
    await expect(handle.result()).resolves.toMatchObject({ outcome: 'healed' });
    const next = await startRunbook(node, [{ name: 'true', kind: 'command', command: '/usr/bin/true', args: [] }]);
    await expect(next.result()).resolves.toMatchObject({ outcome: 'healed' });
    // A broken file is refused and the old settings stay.
    fs.writeFileSync(hcl, 'worker {');
    p.child.kill('SIGHUP');
    await p.waitFor(/msg="reload failed; the previous worker.hcl stays in force"/);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  }, 120_000);

  it('retries while Temporal is unreachable, then polls once it answers, with /metrics up', async () => {
    // Temporal "down": a listener (port 0) that drops every connection until it "comes up" as a
    // proxy to the test run's dev server.
    const [host, port] = temporalAddress().split(':');
    const sockets: net.Socket[] = [];
    let up = false;
    const proxy = net.createServer((sock) => {
      if (!up) return void sock.destroy();
      const upstream = net.connect(Number(port), host);
      sockets.push(sock, upstream);
      sock.pipe(upstream).pipe(sock);
      sock.on('error', () => upstream.destroy());
      upstream.on('error', () => sock.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyPort = (proxy.address() as net.AddressInfo).port;
    const node = unique('late');
    const p = worker(node, { address: `127.0.0.1:${proxyPort}`, metrics: '127.0.0.1:0' });
    try {
      await p.waitFor(/cannot reach Temporal; retrying".*attempt=2/);
      expect(p.child.exitCode).toBeNull();
      up = true;
      await p.waitFor(/msg="polling"/, 40_000);
      expect(p.output()).toMatch(/msg="connected to Temporal"/);
      const metricsUrl = await metricsUrlOf(p);
      const ping = await client.workflow.execute('ping', { taskQueue: nodeQueue(node), workflowId: unique('ping') });
      expect(ping.taskQueue).toBe(nodeQueue(node));

      const gauge = new RegExp(`medic_worker_task_queues\\{[^}]*node="${node}"[^}]*\\} 3`);
      // Metrics recorded from JavaScript reach the exporter on its next collection, not at once.
      const metrics = await eventually(
        async () => {
          const text = await (await fetch(metricsUrl)).text();
          return gauge.test(text) ? text : undefined;
        },
        20_000,
        'the medic gauge on /metrics',
      );
      expect(metrics).toContain(`task_queue="${nodeQueue(node)}"`);

      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    } finally {
      p.child.kill('SIGKILL');
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('refuses to start when the workflow bundle has no manifest to check registration against', async () => {
    const configDir = writeWorkerConfig(path.join(dir, 'bad'), 'datacenter = "dc1"\nnode_type = "t"\nnode = "n1"');
    const p = spawnMedic(['worker', '--config', configDir, '--workflow-bundle', path.join(dir, 'missing.js')]);
    procs.push(p);
    expect(await p.exited).toBe(1);
    expect(p.output()).toContain('cannot read the workflow bundle manifest');
  });

  it('refuses to start when a workflow config names a type the worker does not register', async () => {
    const configDir = writeWorkerConfig(path.join(dir, 'bad'), 'datacenter = "dc1"\nnode_type = "t"\nnode = "n1"');
    fs.mkdirSync(path.join(configDir, 'workflows'));
    fs.writeFileSync(path.join(configDir, 'workflows', 'fixDns.hcl'), 'workflow = "fixDns"\ntask_queue_target = "node"\n');
    const p = spawnMedic(['worker', '--config', configDir, '--workflow-bundle', workflowBundle().codePath]);
    procs.push(p);
    expect(await p.exited).toBe(1);
    expect(p.output()).toContain('workflow type \\"fixDns\\" is not exported by workflows/');
  });
});
