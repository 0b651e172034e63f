// `medic worker`: the Temporal worker of one server.
import { CONFIG_OPTION, TEMPORAL_ADDRESS_OPTION, type Command } from '../command/command';
import { defaultConfigDir } from '../paths';
import { lineLog } from '../telemetry/line-log';

export const workerCommand: Command = {
  name: 'worker',
  summary: 'Run a worker: node (activities on this server), general (the workflows of a datacenter) or both.',
  usage:
    'worker [--config DIR] [--role node|general|both] [--datacenter D] [--node-type T] [--node N] [--temporal-address HOST:PORT] [--escalation-url URL]',
  details:
    'Reads worker.hcl (and workflows/*.hcl, to check that every configured workflow is registered).\n' +
    'SIGTERM/SIGINT stop polling and wait up to shutdown_grace for running activities; exit 0.\n' +
    'SIGHUP reloads worker.hcl (allowed commands, paths, hooks, escalation) without stopping running activities.\n' +
    'If Temporal is unreachable at start, retries with backoff until it answers or the worker is stopped.',
  options: {
    config: CONFIG_OPTION,
    datacenter: { type: 'string', valueName: 'D', description: 'datacenter (overrides worker.hcl)' },
    'node-type': { type: 'string', valueName: 'T', description: 'node type (overrides worker.hcl)' },
    node: { type: 'string', valueName: 'N', description: 'node name (overrides worker.hcl; default the host name)' },
    'temporal-address': TEMPORAL_ADDRESS_OPTION,
    role: { type: 'string', valueName: 'R', description: 'node | general | both (overrides worker.hcl)' },
    'escalation-url': {
      type: 'string',
      valueName: 'URL',
      description: 'post escalations as JSON to URL (overrides worker.hcl escalation)',
    },
    'metrics-listen': { type: 'string', valueName: 'HOST:PORT', description: '/metrics listener (overrides worker.hcl)' },
    'workflow-bundle': {
      type: 'string',
      valueName: 'FILE',
      description: 'prebuilt workflow bundle (default: the one built with this package)',
    },
  },
  async run(ctx) {
    // Loaded on use: `medic worker --help` and the command table need none of it.
    const { runWorker } = await import('./run');
    const v = ctx.values as Record<string, string | undefined>;
    return runWorker(
      {
        configDir: v.config ?? defaultConfigDir(),
        overrides: {
          datacenter: v.datacenter,
          nodeType: v['node-type'],
          node: v.node,
          temporalAddress: v['temporal-address'],
          metricsListen: v['metrics-listen'],
          role: v.role,
          escalationUrl: v['escalation-url'],
        },
        onReload: ctx.onReload,
        bundlePath: v['workflow-bundle'],
        log: lineLog(ctx.stderr),
        leanV8: true,
      },
      ctx.signal,
    );
  },
};
