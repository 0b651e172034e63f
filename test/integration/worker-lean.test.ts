// The per-server worker's lean start: `medic worker` with role node runs on the lean runtime
// (src/worker/lean/: gRPC and a trimmed API descriptor) and loads none of the Temporal SDK's
// worker, proto root or client, none of the other roles' libraries (fastify, prom-client), no
// workflow code and no HCL parser (that runs in a child that exits), and keeps V8's young
// generation at its initial size.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnMedic, writeWorkerConfig } from '../helpers/medic-process';
import { tempDir } from '../helpers/medic-worker';
import { freePort } from '../../src/temporal/dev-server';

/** Preloaded into the worker: at exit, writes the modules it loaded and the size of V8's new space. */
const PROBE = `
process.on('exit', () => {
  const v8 = require('node:v8');
  require('node:fs').writeFileSync(process.env.LEAN_PROBE_OUT + '.' + process.pid, JSON.stringify({
    modules: Object.keys(require.cache),
    newSpace: v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size,
  }));
});
`;

describe('medic worker, role node', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir('lean');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['worker.hcl', ['role = "node"'], []],
    ['--role', ['role = "both"'], ['--role', 'node']],
  ])(
    'loads only what an activity-only worker needs and keeps the young generation small (role from %s)',
    async (_from, hcl, flags) => {
      fs.writeFileSync(path.join(dir, 'probe.js'), PROBE);
      // Temporal is unreachable, so the worker stays in its connect loop: everything it loads
      // before polling (the engine, the activities) is loaded by then.
      const configDir = writeWorkerConfig(
        path.join(dir, 'config'),
        ['datacenter = "dc1"', 'node_type = "generic"', 'node = "lean"', ...hcl, 'reboot_dry_run = true'].join('\n'),
        `temporal {\n  address = "127.0.0.1:${await freePort()}"\n}\n`,
      );
      const out = path.join(dir, 'probe');
      const p = spawnMedic(['worker', '--config', configDir, ...flags], {
        NODE_OPTIONS: `--require ${path.join(dir, 'probe.js')}`,
        LEAN_PROBE_OUT: out,
      });
      await p.waitFor(/cannot reach Temporal; retrying/, 60_000);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);

      const report = JSON.parse(fs.readFileSync(`${out}.${p.child.pid}`, 'utf8')) as { modules: string[]; newSpace: number };
      const loaded = (pattern: RegExp) => report.modules.filter((m) => pattern.test(m));
      // It did load the worker's own parts, so the list is the real one...
      expect(loaded(/[\\/]@grpc[\\/]grpc-js[\\/]/).length).toBeGreaterThan(0);
      expect(loaded(/[\\/]src[\\/]worker[\\/]lean[\\/]worker\.(ts|js)$/)).toHaveLength(1);
      expect(loaded(/[\\/]activities[\\/]index\.(ts|js)$/)).toHaveLength(1);
      expect(loaded(/[\\/]@temporalio[\\/]activity[\\/]/).length).toBeGreaterThan(0);
      // ...and none of the SDK's worker (native core), its full API root or its client...
      expect(loaded(/[\\/]@temporalio[\\/](worker|proto|client|core-bridge)[\\/]/)).toEqual([]);
      expect(loaded(/[\\/]src[\\/]worker[\\/](sdk-engine|medic-worker)\.(ts|js)$/)).toEqual([]);
      // ...and none of the rest.
      expect(loaded(/[\\/]node_modules[\\/](fastify|@fastify|prom-client|@cdktn|node-forge)[\\/]/)).toEqual([]);
      expect(loaded(/[\\/]workflows[\\/][^\\/]+\.(ts|js)$/)).toEqual([]);
      // The command table is a list of loaders: no command's code comes with it.
      expect(loaded(/[\\/]src[\\/](coordinator|trigger|dev)[\\/]/)).toEqual([]);
      expect(loaded(/[\\/]src[\\/]cli[\\/](?!commands\.js$)/)).toEqual([]);
      // V8's new space grows to 2 x 16 MB while the SDK loads unless held (src/worker/run.ts V8_FLAGS).
      expect(report.newSpace).toBeLessThanOrEqual(8 * 1024 * 1024);
    },
    120_000,
  );
});
