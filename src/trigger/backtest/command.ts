// `medic trigger backtest`: what the trigger daemon and admission would have done over a past
// window, from Prometheus' history and the config directory, without starting anything.
import * as os from 'node:os';
import { CONFIG_OPTION, EXIT, JSON_OPTION, type Command } from '../../command/command';
import { formatDiagnostic } from '../../config/diagnostics';
import { displayPath, loadConfigDir } from '../../config/load';
import { parseDuration } from '../../duration';
import { defaultConfigDir } from '../../paths';
import { WORKFLOW_TYPES } from '../../temporal/workflow-types';
import { prometheusApi } from '../daemon';
import { HistoryError, runBacktest, UnknownRuleError, type AssumedDuration } from './backtest';
import { parseTimeSpec, TimeSpecError, windowGrid } from './grid';
import { reportJson, reportText } from './report';

const DEFAULT_DURATION_MS = 5 * 60_000;

export const triggerBacktestCommand: Command = {
  name: 'trigger backtest',
  summary: 'What the trigger rules and admission would have done over a past window of Prometheus history.',
  usage: 'trigger backtest --from 7d [--to now] [--config DIR] [--rule NAME] [--assume-duration 5m|timeout] [--json]',
  details:
    "Evaluates each Prometheus rule of triggers/*.hcl on the daemon's grid over Prometheus' history\n" +
    '(range queries; `for`, `keep_firing_for` and episode keys as live), then runs every would-be start\n' +
    "through admission offline, in time order: the workflow's constraints, freezes, flapping, the per-node\n" +
    'disruptive lock and the budgets of coordinator.hcl. A refused episode is retried as the daemon retries\n' +
    'it. Pauses and the circuit breaker of then are unknown and not applied. Log and http rules have no\n' +
    'history and are listed as not backtestable. Starts nothing.\n' +
    'Exit codes: 0 done, 1 a config problem, 2 usage, 3 Prometheus unreachable or failing.',
  options: {
    config: CONFIG_OPTION,
    from: {
      type: 'string',
      valueName: 'WHEN',
      description: 'start of the window: a duration before now (7d, 36h) or a time (2026-12-01T06:00Z); required',
    },
    to: { type: 'string', valueName: 'WHEN', description: 'end of the window, as --from (default now)' },
    rule: { type: 'string', valueName: 'NAME', description: 'only this rule' },
    'assume-duration': {
      type: 'string',
      valueName: 'DURATION',
      description: `how long each would-be execution holds its places: a duration, or "timeout" for each workflow's timeout (default ${DEFAULT_DURATION_MS / 60_000}m)`,
    },
    'prometheus-address': {
      type: 'string',
      valueName: 'URL',
      description: "Prometheus to read history from (overrides the prometheus block's address)",
    },
    node: {
      type: 'string',
      valueName: 'NAME',
      description: "{{ $node }} in templates (default: triggers' node, else the host name)",
    },
    json: JSON_OPTION,
  },
  async run(ctx) {
    const fail = (code: number, message: string): number => {
      ctx.stderr.write(`medic trigger backtest: ${message}\n`);
      return code;
    };
    const now = Date.now();
    const fromText = ctx.values.from as string | undefined;
    if (fromText === undefined) return fail(EXIT.usage, '--from is required (e.g. --from 7d)');
    let from: number;
    let to: number;
    try {
      from = parseTimeSpec('from', fromText, now);
      to = parseTimeSpec('to', (ctx.values.to as string | undefined) ?? 'now', now);
    } catch (err) {
      if (err instanceof TimeSpecError) return fail(EXIT.usage, err.message);
      throw err;
    }
    // The future has no history: a window reaching past now ends now.
    to = Math.min(to, now);
    if (from >= to)
      return fail(EXIT.usage, `--from (${new Date(from).toISOString()}) must be before --to (${new Date(to).toISOString()})`);
    const durationText = (ctx.values['assume-duration'] as string | undefined) ?? `${DEFAULT_DURATION_MS}ms`;
    const durationMs = durationText === 'timeout' ? undefined : parseDuration(durationText);
    if (durationText !== 'timeout' && !durationMs)
      return fail(
        EXIT.usage,
        `--assume-duration ${JSON.stringify(durationText)} is neither a positive duration (5m) nor "timeout"`,
      );
    const assumeDuration: AssumedDuration = durationMs ? { ms: durationMs } : 'timeout';
    const prometheusAddress = ctx.values['prometheus-address'] as string | undefined;
    if (prometheusAddress !== undefined && !/^https?:\/\/[^/]+\/?$/.test(prometheusAddress))
      return fail(EXIT.usage, `--prometheus-address ${JSON.stringify(prometheusAddress)} is not http://host:port`);

    const dir = (ctx.values.config as string | undefined) ?? defaultConfigDir();
    const { config, diagnostics, ok } = await loadConfigDir(dir, { workflowTypes: WORKFLOW_TYPES });
    if (!ok) {
      for (const d of diagnostics.filter((x) => x.severity === 'error')) ctx.stderr.write(formatDiagnostic(d) + '\n');
      return fail(EXIT.failure, `${displayPath(config.dir)} has errors (see medic validate)`);
    }
    const source = config.triggers.prometheus;
    const rules = config.triggers.rules;
    if (!rules.length) return fail(EXIT.failure, `${displayPath(config.dir)}: no rule "..." { ... } in triggers/*.hcl`);
    if (!source && rules.some((r) => r.source === 'prometheus'))
      return fail(EXIT.failure, `${displayPath(config.dir)}: no prometheus { ... } block in triggers/*.hcl`);
    const step = source?.pollIntervalMs ?? 30_000;
    const grid = windowGrid(from, to, step, to >= now ? (source?.evaluationDelayMs ?? 0) : 0);
    if (!grid) return fail(EXIT.usage, `the window holds no point of the ${step / 1000}s evaluation grid`);
    const address = (prometheusAddress ?? source?.address ?? '').replace(/\/$/, '');
    // Without a prometheus block there are no Prometheus rules (checked above): nothing is asked.
    // A range query over 10,000 points takes longer than the daemon's instant queries: a minute at least.
    const queryTimeoutMs = Math.max(60_000, source?.queryTimeoutMs ?? 0);
    const api = prometheusApi({ pollIntervalMs: step, evaluationDelayMs: 0, ...source, address, queryTimeoutMs });
    try {
      const report = await runBacktest(config, api, {
        grid,
        rule: ctx.values.rule as string | undefined,
        assumeDuration,
        node: (ctx.values.node as string | undefined) ?? config.triggers.node ?? os.hostname(),
        address,
        queryTimeoutMs,
        signal: ctx.signal,
      });
      ctx.stdout.write(ctx.values.json ? `${JSON.stringify(reportJson(report), null, 2)}\n` : reportText(report));
      return EXIT.ok;
    } catch (err) {
      if (err instanceof UnknownRuleError) return fail(EXIT.usage, err.message);
      if (err instanceof HistoryError) return fail(EXIT.unavailable, err.message);
      throw err;
    }
  },
};
