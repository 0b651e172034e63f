// API-key authentication (Temporal Cloud) in the temporal block: the key file is resolved next
// to the config, implies TLS, is sent as the SDK's apiKey, and a rotated key is picked up.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfigDir } from '../../src/config/load';
import { WORKFLOW_TYPES } from '../../src/temporal/workflow-types';
import { temporalConnection } from '../../src/temporal/tls';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-api-key-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

async function workerTemporal(block: string) {
  fs.writeFileSync(path.join(dir, 'worker.hcl'), `worker {\n  datacenter = "dc1"\n  node_type = "web"\n}\n${block}`);
  const { config, diagnostics } = await loadConfigDir(dir, { workflowTypes: WORKFLOW_TYPES });
  return { temporal: config.worker?.temporal, diagnostics };
}

it('reads api_key_file relative to the config file and connects with TLS and that key', async () => {
  fs.writeFileSync(path.join(dir, 'api-key'), 'key-one\n', { mode: 0o600 });
  const { temporal } = await workerTemporal(
    'temporal {\n  address = "ns.a1b2c.tmprl.cloud:7233"\n  namespace = "ns.a1b2c"\n  api_key_file = "api-key"\n}\n',
  );
  expect(temporal).toEqual({
    address: 'ns.a1b2c.tmprl.cloud:7233',
    namespace: 'ns.a1b2c',
    apiKeyFile: path.join(dir, 'api-key'),
  });
  const conn = temporalConnection(temporal!);
  expect(conn.tls).toEqual({});
  expect(conn.apiKey!()).toBe('key-one');
});

it('picks up a rotated key without a restart', async () => {
  const file = path.join(dir, 'api-key');
  fs.writeFileSync(file, 'old-key');
  const { temporal } = await workerTemporal(`temporal {\n  address = "127.0.0.1:7233"\n  api_key_file = "${file}"\n}\n`);
  const apiKey = temporalConnection(temporal!).apiKey!;
  expect(apiKey()).toBe('old-key');
  fs.writeFileSync(file, 'new-key');
  fs.utimesSync(file, new Date(), new Date(Date.now() + 5_000));
  expect(apiKey()).toBe('new-key');
});

it('without tls or api key the connection is plaintext and anonymous', async () => {
  const { temporal } = await workerTemporal('temporal {\n  address = "127.0.0.1:7233"\n}\n');
  expect(temporalConnection(temporal!)).toEqual({ address: '127.0.0.1:7233' });
});
