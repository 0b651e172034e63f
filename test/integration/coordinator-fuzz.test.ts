// Property-based attack on the caller surface (fast-check): random paths, headers and bodies at a
// real coordinator (the shipped workflow configs, the run's Temporal), and random HCL at the
// config loader. Properties: nothing crashes, bad input never gets a 5xx, every error is
// medic's JSON shape, and no request that must be refused starts an execution.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { loadConfigDir } from '../../src/config/load';
import { ADMIN, testCoordinator, type TestCoordinator } from '../helpers/coordinator';
import { rawRequest } from '../helpers/raw-http';

jest.setTimeout(180_000);

// Sized for CI on a loaded two-core machine: a few hundred cases per property.
const RUNS = Number(process.env.MEDIC_FUZZ_RUNS ?? 150);

let c: TestCoordinator;
let port: number;

beforeAll(async () => {
  const { config } = await loadConfigDir(path.join(__dirname, '..', '..', 'config'));
  c = await testCoordinator([...config.workflows.values()], { config: { bodyLimit: 64 * 1024 } });
  await c.app.listen({ host: '127.0.0.1', port: 0 });
  port = (c.app.server.address() as { port: number }).port;
});

afterAll(async () => {
  await c.close();
});

const started = (): number => c.audit.filter((e) => e.decision === 'started').length;

function expectMedicError(status: number, body: string): void {
  expect(status).toBeLessThan(500);
  if (status >= 400) {
    const json = JSON.parse(body) as Record<string, unknown>;
    expect(typeof json.error).toBe('string');
    expect(typeof json.message).toBe('string');
  }
}

const nasty = fc.constantFrom(
  '%2f',
  '%2F',
  '%2e',
  '%00',
  '%23',
  '#',
  '%zz',
  '%',
  '..',
  '.',
  '//',
  '\\',
  '%c3%28',
  '?',
  ';',
  '@',
  ' ',
  '*',
);
const segment = fc.oneof(
  fc.constantFrom('v1', 'workflows', 'executions', 'alertmanager', 'chat', 'slack', 'cleanDisk', 'rebootNode', 'metrics'),
  nasty,
  fc.string({ maxLength: 12 }),
);
const pathArb = fc.array(
  fc.oneof(
    segment,
    fc.array(segment, { maxLength: 3 }).map((s) => s.join('')),
  ),
  { maxLength: 6 },
);

/** Only characters an HTTP request line may carry (Node's parser refuses others before medic sees them). */
function requestLine(parts: string[]): string {
  return `/${parts.join('/')}`.replace(/[^\x21-\x7e]/g, (ch) => encodeURIComponent(ch));
}

describe('fuzzing the API', () => {
  it("random paths and methods: never a 5xx, always medic's error shape, nothing started", async () => {
    const before = started();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS'),
        pathArb,
        fc.boolean(),
        async (method, parts, admin) => {
          const res = await rawRequest(port, method, requestLine(parts), {
            headers: admin ? { 'x-test-identity': ADMIN } : {},
            ...(method === 'POST' ? { body: '{"target":{}}' } : {}),
          });
          expect(res.status).toBeGreaterThanOrEqual(200);
          if (method !== 'HEAD') expectMedicError(res.status, res.body);
          else expect(res.status).toBeLessThan(500);
        },
      ),
      { numRuns: RUNS },
    );
    expect(started()).toBe(before);
  });

  const paramValue = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.constantFrom('-rf', '../x', 'a\nb', '\0', '*', '0s', '1@169.254.169.254', 'nginx'),
    fc.integer(),
    fc.constant(null),
  );
  const params = fc.dictionary(
    fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('unit', 'patterns', 'port', 'paths', '__proto__', 'constructor')),
    paramValue,
    { maxKeys: 5 },
  );

  it('random trigger bodies with a locked or unknown param: always 400, nothing started', async () => {
    const before = started();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('cleanDisk', 'restartService', 'rebootNode', 'healDemo', 'ping'),
        params,
        fc.constantFrom('older_than', 'no_such_param', 'attempts'),
        fc.anything({ maxDepth: 2 }),
        async (workflow, extra, bad, target) => {
          const body = {
            target: typeof target === 'object' && target !== null ? target : { node: 'fuzz-node' },
            params: { ...extra, [bad]: '1' },
          };
          const res = await c.app.inject({
            method: 'POST',
            url: `/v1/workflows/${workflow}/executions`,
            headers: { 'x-test-identity': ADMIN },
            payload: body,
          });
          expect(res.statusCode).toBe(400);
          expectMedicError(res.statusCode, res.body);
        },
      ),
      { numRuns: RUNS },
    );
    expect(started()).toBe(before);
  });

  it('random headers and raw bodies: never a 5xx', async () => {
    const before = started();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/v1/workflows/ping/executions', '/v1/alertmanager', '/v1/chat/slack', '/v1/workflows'),
        fc.dictionary(
          fc.constantFrom(
            'content-type',
            'content-encoding',
            'x-slack-signature',
            'x-slack-request-timestamp',
            'transfer-encoding',
            'x-test-identity',
            'accept',
          ),
          fc.string({ maxLength: 30 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
        ),
        fc.oneof(fc.string({ maxLength: 200 }), fc.json({ maxDepth: 3 })),
        async (url, headers, payload) => {
          const res = await c.app.inject({ method: 'POST', url, headers: { ...headers, 'x-test-identity': ADMIN }, payload });
          expectMedicError(res.statusCode, res.body);
        },
      ),
      { numRuns: RUNS },
    );
    // The shipped coordinator.hcl routes no alert in this test config, and ping needs a node.
    expect(started()).toBe(before);
  });
});

describe('fuzzing the config loader', () => {
  const word = fc.constantFrom(
    'workflow',
    'task_queue_target',
    'param',
    'type',
    'settable',
    'secret',
    'default',
    'pattern',
    'min',
    'max',
    'values',
    'prefixes',
    'hosts',
    'list',
    'constraint',
    'params',
    'step',
  );
  const value = fc.oneof(
    fc.constantFrom(
      '"ping"',
      '"node"',
      '"unit"',
      '"path"',
      '"url"',
      '"enum"',
      '"int"',
      '"duration"',
      'true',
      '1',
      '"1h"',
      '["/a"]',
      '[1, "x"]',
      '{ a = "b" }',
      '"("',
      '"${x}"',
      '"\\u0000"',
    ),
    fc.string({ maxLength: 10 }).map((s) => JSON.stringify(s)),
  );
  const attribute = fc.tuple(word, value).map(([k, v]) => `${k} = ${v}`);
  const block = fc
    .tuple(fc.constantFrom('param "x"', 'param "u"', 'constraint', 'step', 'param'), fc.array(attribute, { maxLength: 5 }))
    .map(([h, attrs]) => `${h} {\n${attrs.join('\n')}\n}`);
  const hcl = fc.oneof(
    fc.array(fc.oneof(attribute, block, fc.string({ maxLength: 20 })), { maxLength: 8 }).map((lines) => lines.join('\n')),
    fc.string({ maxLength: 200 }),
  );

  it('random workflow HCL: the loader never throws, and reports problems as diagnostics with a file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-fuzz-'));
    fs.mkdirSync(path.join(dir, 'workflows'));
    try {
      await fc.assert(
        fc.asyncProperty(hcl, async (text) => {
          fs.writeFileSync(path.join(dir, 'workflows', 'w.hcl'), text);
          const r = await loadConfigDir(dir);
          for (const d of r.diagnostics) expect(d.file).toContain('w.hcl');
        }),
        { numRuns: RUNS },
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
