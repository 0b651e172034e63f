// startDevServer's failure path, with a "server" that exits at once (no Temporal needed).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DevServerError, startDevServer } from '../../src/temporal/dev-server';

describe('startDevServer', () => {
  it('retries a server that exits during start-up, then reports its first and last output', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-devserver-'));
    const fake = path.join(dir, 'temporal');
    const counter = path.join(dir, 'starts');
    fs.writeFileSync(fake, `#!/bin/sh\necho start >> ${counter}\necho "panic: the reason comes first"\nexit 2\n`, {
      mode: 0o755,
    });
    const log: string[] = [];
    const started = startDevServer({ binary: fake, readyTimeoutMs: 10_000, log: (l) => log.push(l) });
    await expect(started).rejects.toThrow(DevServerError);
    await expect(started).rejects.toThrow(/exited with code 2 before it was ready:\npanic: the reason comes first/);
    expect(fs.readFileSync(counter, 'utf8').trim().split('\n')).toHaveLength(3);
    expect(log.filter((l) => /starting it again/.test(l))).toHaveLength(2);
  });
});
