// Activities mask the secret values the workflow sends as `redact` in their answers and errors
// (activities/redact.ts): real child processes and loopback HTTP, no workflow needed.
import * as path from 'node:path';
import * as fs from 'node:fs';
import { createActivities, type CommandRequest, type HookRequest, type HttpCheckRequest } from '../../activities';
import type { Redacting } from '../../activities/redact';
import { MASK } from '../../src/params/schema';
import { testSettings, tempDir } from '../helpers/medic-worker';

const SECRET = 'hunter2secretvalue';
let dir: string;
beforeEach(() => {
  dir = tempDir('redact');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const acts = (extra: Parameters<typeof testSettings>[3] = {}) =>
  createActivities({ settings: testSettings('n1', 'dc1', 'web', extra), bootIdFile: path.join(dir, 'boot_id') });

describe('redact', () => {
  it("masks a secret in a command's output, and leaves the output alone without the list", async () => {
    const a = acts({ allowedCommands: ['/usr/bin/echo'] });
    const req: CommandRequest = { command: '/usr/bin/echo', args: [`token=${SECRET}`] };
    const masked = await a.runCommand({ ...req, redact: [SECRET] } as CommandRequest & Redacting);
    expect(masked.stdout).toBe(`token=${MASK}\n`);
    expect(JSON.stringify(masked)).not.toContain(SECRET);
    expect((await a.runCommand(req)).stdout).toBe(`token=${SECRET}\n`);
  });

  it('masks a secret in the error (message and stack) the worker would log as "Activity failed"', async () => {
    const req = { url: `ftp://127.0.0.1/${SECRET}`, redact: [SECRET] } as HttpCheckRequest & Redacting;
    const err = (await acts()
      .httpCheck(req)
      .catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('InvalidRequestError');
    expect(err.message).toBe(`ftp://127.0.0.1/${MASK} must use http or https`);
    expect(err.stack).not.toContain(SECRET);
  });

  it("masks a hook's output in its failure", async () => {
    const hook = path.join(dir, 'notify.sh');
    fs.writeFileSync(hook, '#!/bin/sh\necho "cannot deliver: $MEDIC_MESSAGE" >&2\nexit 3\n', { mode: 0o755 });
    const a = acts({ hooks: { notify: { kind: 'command', argv: [hook], timeoutMs: 10_000 } } });
    const req = { message: `key ${SECRET}`, redact: [SECRET] } as HookRequest & Redacting;
    const err = (await a.notify(req).catch((e: unknown) => e)) as Error;
    expect(err.message).toContain(`cannot deliver: key ${MASK}`);
    expect(err.message).not.toContain(SECRET);
  });
});
