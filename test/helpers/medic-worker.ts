// A real medic worker (three queues, src/worker/medic-worker.ts) inside the test process, with
// real activities except the ones a test replaces because they would touch the machine.
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createActivities, type Activities, type ActivitySettings } from '../../activities';
import { createMedicWorker, type MedicWorker } from '../../src/worker/medic-worker';
import { testSettings } from './activity-settings';
import { connectWorkerConnection, unique, workflowBundle } from './temporal';

export { testSettings };

// Quiet SDK logs (worker state changes) in test output; warnings and errors still show.
// cmd/ does the same with shutdownSignals: [] so the SDK never handles signals itself.
try {
  Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
} catch {}

export interface TestWorker extends MedicWorker {
  node: string;
  datacenter: string;
  nodeType: string;
  /** Shuts down and waits until every queue has drained. */
  stop(): Promise<void>;
}

export type TestWorkerOptions = {
  node?: string;
  datacenter?: string;
  nodeType?: string;
  settings?: Partial<ActivitySettings>;
  /** Replacements for activities that would touch the machine (systemctl, reboot). */
  fakes?: Partial<Activities>;
  bootIdFile?: string;
  shutdownGraceMs?: number;
  /** Default "default"; a file with a namespace of its own (./namespace.ts) passes it. */
  namespace?: string;
};

export async function startTestWorker(opts: TestWorkerOptions = {}): Promise<TestWorker> {
  const node = opts.node ?? unique('node');
  const datacenter = opts.datacenter ?? unique('dc');
  const nodeType = opts.nodeType ?? 'generic';
  const settings = testSettings(node, datacenter, nodeType, opts.settings);
  const connection = await connectWorkerConnection();
  const worker = await createMedicWorker({
    config: {
      node,
      datacenter,
      nodeType,
      shutdownGraceMs: opts.shutdownGraceMs ?? 2000,
      maxConcurrentActivities: 4,
      temporal: { address: '', namespace: opts.namespace ?? 'default' },
    },
    connection,
    bundlePath: workflowBundle().codePath,
    activities: { ...createActivities({ settings, bootIdFile: opts.bootIdFile }), ...opts.fakes },
  });
  const running = worker.run();
  return {
    ...worker,
    node,
    datacenter,
    nodeType,
    async stop() {
      worker.shutdown();
      await running.catch(() => undefined);
      await connection.close();
    },
  };
}

/** A fresh temporary directory (on tmpfs when there is one, so disk usage moves only with us). */
export function tempDir(prefix: string): string {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  return fs.mkdtempSync(path.join(base, `medic-${prefix}-`));
}

/**
 * For activity tests: a temporary directory per test (made before each, removed after), shell
 * scripts written into it, and activities with test settings whose boot id file lives there.
 */
export function activitySandbox(prefix: string) {
  let dir = '';
  beforeEach(() => {
    dir = tempDir(prefix);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }));
  return {
    dir: () => dir,
    script(name: string, body: string): string {
      const p = path.join(dir, name);
      fs.writeFileSync(p, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
      return p;
    },
    acts: (extra: Partial<ActivitySettings> = {}) =>
      createActivities({ settings: testSettings('n1', 'dc1', 'web', extra), bootIdFile: path.join(dir, 'boot_id') }),
  };
}
