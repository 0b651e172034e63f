// A secret param's value in Temporal history, event by event: a real `medic worker` process runs a
// runbook whose first step echoes the secret (its activity completes) and whose second puts it in
// a URL the activity refuses (its activity fails), with temporal.payload_key_file set on both
// sides. Every payload of every event is decoded with the project's data converter; the value
// may appear only in the inputs that must carry it (the start, the activities' requests), never
// in a result, a failure or anything else, and nowhere in the history as stored.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { loadDataConverter } from '@temporalio/common/lib/internal-non-workflow';
import { MASK } from '../../src/params/schema';
import { medicDataConverter } from '../../src/temporal/data-converter';
import type { RunbookStep } from '../../workflows/shared/input';
import { testCoordinator, trigger, workflowConfig, type TestCoordinator } from '../helpers/coordinator';
import { spawnMedic, writeWorkerConfig, type MedicProcess } from '../helpers/medic-process';
import { tempDir } from '../helpers/medic-worker';
import { connectClient, temporalAddress, unique, workflowBundle } from '../helpers/temporal';

const TOKEN = `tok${Date.now().toString(36)}x${randomBytes(6).toString('hex')}`;
/** A param that is not secret: it shows that the decoded text is what the test reads. */
const LABEL = `lbl${randomBytes(6).toString('hex')}`;

const steps: RunbookStep[] = [
  { name: 'show', kind: 'command', command: '/usr/bin/echo', args: ['token={{params.token}}', 'label={{params.label}}'] },
  // http_check refuses the scheme before any request: InvalidRequestError (not retried) naming the URL.
  { name: 'check', kind: 'http_check', url: 'ftp://127.0.0.1/{{params.token}}/{{params.label}}' },
] as RunbookStep[];

let dir: string;
let keyFile: string;
let worker: MedicProcess;
let c: TestCoordinator;
let client: Client;
let closeClient: (() => Promise<void>) | undefined;
const [node, datacenter] = [unique('secret'), unique('dc')];

beforeAll(async () => {
  dir = tempDir('secret-events');
  keyFile = path.join(dir, 'payload.key');
  fs.writeFileSync(keyFile, randomBytes(32).toString('hex'), { mode: 0o400 });
  const configDir = writeWorkerConfig(
    path.join(dir, 'config'),
    [`datacenter = "${datacenter}"`, 'node_type = "generic"', `node = "${node}"`, 'allowed_commands = ["/usr/bin/echo"]'].join(
      '\n',
    ),
    `temporal {\n  address          = "${temporalAddress()}"\n  payload_key_file = "${keyFile}"\n}\n`,
  );
  worker = spawnMedic(['worker', '--config', configDir, '--workflow-bundle', workflowBundle().codePath]);
  c = await testCoordinator(
    [
      workflowConfig('secretEvents', {
        workflowType: 'runbook',
        steps,
        paramSchema: {
          token: { type: 'string', pattern: '[a-z0-9]+', settable: true, secret: true, list: false },
          label: { type: 'string', pattern: '[a-z0-9]+', settable: true, secret: false, list: false },
        },
      }),
    ],
    { config: { temporal: { address: temporalAddress(), namespace: 'default', payloadKeyFile: keyFile } } },
  );
  ({ client, close: closeClient } = await connectClient());
  await worker.waitFor(/msg="polling"/, 60_000);
}, 90_000);

afterAll(async () => {
  await worker?.stop();
  await c?.close();
  await closeClient?.();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const isPayload = (v: object): v is Payload => 'data' in v && 'metadata' in v && (v as Payload).data instanceof Uint8Array;

/**
 * Every text an event holds, decoded: each payload (wherever it sits: inputs, results, failure
 * details, encoded failure attributes, headers, memos) through the key's codec and the payload
 * converter, and every plain string (failure messages, stack traces). Paths name where each came from.
 */
async function decodedTexts(
  value: unknown,
  at: string,
  decode: (p: Payload) => Promise<unknown>,
): Promise<Array<[string, string]>> {
  if (typeof value === 'string') return [[at, value]];
  if (!value || typeof value !== 'object' || value instanceof Uint8Array) return [];
  if (isPayload(value)) return [[at, JSON.stringify(await decode(value))]];
  const out: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(value)) out.push(...(await decodedTexts(v, `${at}.${k}`, decode)));
  return out;
}

it('a secret param appears in no activity result or failure, decoded with the key, and nowhere in the stored history', async () => {
  const res = await trigger(c.app, 'secretEvents', { target: { node, datacenter }, params: { token: TOKEN, label: LABEL } });
  expect(res.statusCode).toBe(202);
  const handle = client.workflow.getHandle(res.json().workflow_id);
  // The run escalates (its check step failed); the history is complete either way.
  await handle.result().catch(() => undefined);
  const history = await handle.fetchHistory();

  // As stored: the key's codec encrypts every payload, and the masked failure text holds no value.
  const stored = [
    JSON.stringify(history),
    ...(await decodedTexts(history, 'history', async (p) => Buffer.from(p.data!).toString('latin1'))).map(([, t]) => t),
  ].join('\n');
  expect(stored).not.toContain(TOKEN);
  // Failure messages are stored as text (the codec encrypts payloads, not them): there the mask is what keeps the value out.
  expect(stored).toContain(`ftp://127.0.0.1/${MASK}/${LABEL} must use http or https`);

  const converter = loadDataConverter(medicDataConverter(keyFile));
  const decode = async (p: Payload): Promise<unknown> => {
    const [plain] = await converter.payloadCodecs[0]!.decode([p]);
    return converter.payloadConverter.fromPayload(plain!);
  };
  const byEvent: Array<{ kind: string; texts: Array<[string, string]> }> = [];
  for (const [i, event] of history.events!.entries()) {
    const kind = Object.keys(event).find((k) => k.endsWith('EventAttributes') && event[k as keyof typeof event])!;
    byEvent.push({ kind, texts: await decodedTexts(event[kind as keyof typeof event], `events[${i}].${kind}`, decode) });
  }
  const kinds = new Set(byEvent.map((e) => e.kind));
  expect([...kinds]).toEqual(
    expect.arrayContaining([
      'activityTaskScheduledEventAttributes',
      'activityTaskCompletedEventAttributes',
      'activityTaskFailedEventAttributes',
    ]),
  );
  const texts = (kind: string): string =>
    byEvent
      .filter((e) => e.kind === kind)
      .flatMap((e) => e.texts.map(([, t]) => t))
      .join('\n');

  // What the activities answered, decoded: the echo's output and the refusal, masked; the label as given.
  const completed = texts('activityTaskCompletedEventAttributes');
  expect(completed).toContain(`token=${MASK} label=${LABEL}`);
  const failed = texts('activityTaskFailedEventAttributes');
  expect(failed).toContain(`ftp://127.0.0.1/${MASK}/${LABEL} must use http or https`);
  expect(failed).toContain('InvalidRequestError');
  // The requests must carry the value (the activity renders the command from it); only the key keeps it out of the stored history.
  expect(texts('activityTaskScheduledEventAttributes')).toContain(TOKEN);

  // Anywhere else in the decoded history, the value appears nowhere.
  const mayCarry = [
    /^events\[\d+\]\.workflowExecutionStartedEventAttributes\.input\./,
    /^events\[\d+\]\.activityTaskScheduledEventAttributes\.input\./,
  ];
  const leaks = byEvent
    .flatMap((e) => e.texts)
    .filter(([at, t]) => t.includes(TOKEN) && !mayCarry.some((re) => re.test(at)))
    .map(([at]) => at);
  expect(leaks).toEqual([]);
}, 180_000);
