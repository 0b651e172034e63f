// Health-check rules in the real `medic trigger`: a real HTTP service fails (503, then refusing
// connections), recovers and fails again; two daemons checking it on the same grid ask for the
// same episodes with the same keys, also when one of them is killed and restarted mid-episode.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { metricSample } from '../helpers/metrics-text';
import { keysOf, printed, sourceConfigDir, startRecordingCoordinator, startSourceDaemon } from '../helpers/trigger-sources';
import { waitFor } from '../helpers/wait';

jest.setTimeout(180_000);

const EVERY_MS = 1000;

/** A service whose /health answers `status`, or that stops listening (connection refused). */
async function startService() {
  let status = 200;
  let server: http.Server | undefined;
  let port = 0;
  const listen = async () => {
    server = http.createServer((req, res) => res.writeHead(req.url === '/health' ? status : 404).end('health'));
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  };
  await listen();
  return {
    url: () => `http://127.0.0.1:${port}/health`,
    answer: (s: number) => (status = s),
    stop: () => new Promise<void>((resolve) => (server!.closeAllConnections(), server!.close(() => resolve()))),
    start: listen,
  };
}

/** Waits until just after a check grid point, so a change lands between two checks of every daemon. */
async function betweenChecks(): Promise<void> {
  const into = Date.now() % EVERY_MS;
  await new Promise((r) => setTimeout(r, (EVERY_MS - into + 300) % EVERY_MS || EVERY_MS));
}

const checks = async (metricsUrl: string, result: string) =>
  metricSample(await (await fetch(metricsUrl)).text(), 'medic_trigger_rule_evaluations_total', { rule: 'api_health', result });

describe('health-check rules (medic trigger)', () => {
  it('two daemons on one grid send one start per episode, with one key, across failure kinds and a SIGKILL', async () => {
    const service = await startService();
    const [coordA, coordB] = [await startRecordingCoordinator(), await startRecordingCoordinator()];
    const dir = sourceConfigDir(`
rule "api_health" {
  source   = "http"
  url      = "${service.url()}"
  every    = "1s"
  timeout  = "500ms"
  failures = 3
  workflow = "w"
  reason   = "{{ $node }}: {{ $value }}"
}
`);
    let a = await startSourceDaemon(dir, coordA, path.join(dir, 'a.json'));
    const b = await startSourceDaemon(dir, coordB, path.join(dir, 'b.json'));
    try {
      await waitFor('healthy checks at both', async () =>
        (await checks(a.metricsUrl!, 'ok')) >= 2 && (await checks(b.metricsUrl!, 'ok')) >= 2 ? true : undefined,
      );
      expect(coordA.triggers()).toEqual([]);

      // Episode 1: 503s. Three failed checks open it, on the node the daemon runs on.
      await betweenChecks();
      service.answer(503);
      await waitFor('episode 1 at both', () =>
        coordA.triggers().length >= 1 && coordB.triggers().length >= 1 ? true : undefined,
      );
      expect(coordA.triggers()[0]).toMatchObject({ target: { node: 'web-1' }, reason: 'web-1: HTTP 503' });

      // Daemon A is killed mid-episode and restarted: it goes on with the same episode.
      await a.proc.kill();
      a = await startSourceDaemon(dir, coordA, path.join(dir, 'a.json'));
      await waitFor('checks after the restart', async () => ((await checks(a.metricsUrl!, 'failed')) >= 2 ? true : undefined));
      expect(coordA.triggers()).toHaveLength(1);

      // Recovery ends it; refused connections open episode 2 at a new grid point.
      await betweenChecks();
      service.answer(200);
      await printed(a.proc, /health check episode ended/, 1);
      await printed(b.proc, /health check episode ended/, 1);
      await betweenChecks();
      await service.stop();
      await waitFor('episode 2 at both', () =>
        coordA.triggers().length >= 2 && coordB.triggers().length >= 2 ? true : undefined,
      );
      expect(coordB.triggers()[1]!.reason).toBe('web-1: connection refused');
      await betweenChecks();
      await service.start();
      await printed(b.proc, /health check episode ended/, 2);

      // Two failures in a row are not three: no episode.
      await betweenChecks();
      const failedBefore = await checks(b.metricsUrl!, 'failed');
      service.answer(500);
      await waitFor('two failed checks at B', async () =>
        (await checks(b.metricsUrl!, 'failed')) >= failedBefore + 2 ? true : undefined,
      );
      service.answer(200);
      const okBefore = await checks(b.metricsUrl!, 'ok');
      await waitFor('two healthy checks again', async () =>
        (await checks(b.metricsUrl!, 'ok')) >= okBefore + 2 ? true : undefined,
      );

      expect(keysOf(coordA)).toEqual(keysOf(coordB));
      expect(new Set(keysOf(coordA)).size).toBe(2);
    } finally {
      await Promise.all([a.proc.stop(), b.proc.stop()]);
      await Promise.all([coordA.close(), coordB.close(), service.stop().catch(() => undefined)]);
    }
  });
});
