// Activity settings for tests and benches (no side effects: the benches install their own Temporal runtime).
import type { ActivitySettings } from '../../activities';
import { WORKER_DEFAULTS } from '../../src/config/worker';

/** Settings for tests: nothing allowed unless the test says so, reboots always dry. */
export function testSettings(
  node: string,
  datacenter: string,
  nodeType: string,
  extra: Partial<ActivitySettings> = {},
): ActivitySettings {
  return {
    node,
    datacenter,
    nodeType,
    allowedCommands: [],
    commandTimeoutMs: 60_000,
    maxOutputBytes: 4096,
    systemctl: WORKER_DEFAULTS.systemctl,
    cleanupPaths: [],
    rebootDryRun: true,
    rebootCommand: ['/usr/bin/false'],
    hooks: {},
    ...extra,
  };
}
