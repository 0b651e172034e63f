// Secret params against a real coordinator and Temporal: with temporal.payload_key_file, the
// start's input is encrypted in history (a client without the key sees no secret), the key's
// data converter reads it back, and neither the audit log nor GET /v1/workflows shows a secret.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { loadDataConverter } from '@temporalio/common/lib/internal-non-workflow';
import { medicDataConverter } from '../../src/temporal/data-converter';
import { MASK } from '../../src/params/schema';
import { ADMIN, testCoordinator, trigger, workflowConfig, type TestCoordinator } from '../helpers/coordinator';
import { connectClient, temporalAddress, unique } from '../helpers/temporal';

const SECRET = 'hunter2secretvalue';
const DEFAULT_SECRET = 'lockeddefaultsecret';

let dir: string;
let keyFile: string;
let c: TestCoordinator;
let client: Client;
let closeClient: () => Promise<void>;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-payload-key-'));
  keyFile = path.join(dir, 'payload.key');
  fs.writeFileSync(keyFile, randomBytes(32).toString('hex'), { mode: 0o400 });
  c = await testCoordinator(
    [
      workflowConfig('secretPing', {
        params: { api_key: DEFAULT_SECRET },
        paramSchema: {
          token: { type: 'string', pattern: '[a-z0-9]+', settable: true, secret: true, list: false },
          api_key: { type: 'string', default: DEFAULT_SECRET, settable: false, secret: true, list: false },
        },
      }),
    ],
    { config: { temporal: { address: temporalAddress(), namespace: 'default', payloadKeyFile: keyFile } } },
  );
  ({ client, close: closeClient } = await connectClient());
});

afterAll(async () => {
  await c.close();
  await closeClient();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('secret params', () => {
  it('are encrypted in Temporal history, readable with the key only, and printed nowhere', async () => {
    const res = await trigger(c.app, 'secretPing', { target: { node: unique('secret') }, params: { token: SECRET } });
    expect(res.statusCode).toBe(202);
    expect(res.body).not.toContain(SECRET);

    const history = await client.workflow.getHandle(res.json().workflow_id).fetchHistory();
    const payload = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    const rawText = Buffer.from(JSON.stringify(history)).toString() + Buffer.from(payload.data!).toString('latin1');
    expect(rawText).not.toContain(SECRET);
    expect(rawText).not.toContain(DEFAULT_SECRET);
    expect(new TextDecoder().decode(payload.metadata!.encoding!)).toBe('binary/medic-aes256gcm');

    const converter = loadDataConverter(medicDataConverter(keyFile));
    const [decoded] = await converter.payloadCodecs[0]!.decode([payload]);
    const input = converter.payloadConverter.fromPayload<{ params: Record<string, string> }>(decoded!);
    expect(input.params).toEqual({ token: SECRET, api_key: DEFAULT_SECRET });

    const workflows = await c.app.inject({ url: '/v1/workflows', headers: { 'x-test-identity': ADMIN } });
    expect(workflows.body).not.toContain(DEFAULT_SECRET);
    expect(workflows.json().workflows[0].params).toEqual({ api_key: MASK });
    expect(JSON.stringify(c.audit)).not.toContain(SECRET);
    expect(c.logs.join('\n')).not.toContain(SECRET);
  });

  it('never repeat a refused secret value in the error', async () => {
    const res = await trigger(c.app, 'secretPing', { target: { node: 'h1' }, params: { token: 'NOT-lower case secret' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().details.field).toBe('params.token');
    expect(res.body).not.toContain('NOT-lower');
  });
});
