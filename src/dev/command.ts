// `medic dev`: the whole self-healing loop on one machine. Temporal dev server, dev certificates,
// the demo service, a Prometheus scraping it, a coordinator, a worker for this host and the
// trigger daemon, as supervised child processes, plus a local escalation sink that prints pages.
// Ports are chosen by flags and handed to the children as flags (`--listen`, ...), so config/ is
// used as it is. A watchdog process stops the children if `medic dev` itself is killed.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CoordinatorClient } from '../client/coordinator-client';
import { CONFIG_OPTION, EXIT, type Command, type OptionSpec } from '../command/command';
import { WORKFLOW_TYPES } from '../temporal/workflow-types';
import { formatDiagnostic } from '../config/diagnostics';
import { displayPath, loadConfigOrThrow, type MedicConfig } from '../config/load';
import type { PrometheusRule } from '../config/trigger';
import { defaultConfigDir, packageRoot } from '../paths';
import { ensureTemporalBinary } from '../temporal/binary';
import { portIsFree, startDevServer } from '../temporal/dev-server';
import { workerCommand } from '../worker/command';
import { ensureDevCertificates } from './certificates';
import { DEMO_WORKFLOW, defaultDevDataDir } from './demo-service';
import { startEscalationSink } from './escalation-sink';
import { devPrometheusArgs, devPrometheusConfig, ensurePrometheusBinary, medicRulesFile } from './prometheus';
import { startWatchdog } from './reaper';
import { Supervisor } from './supervisor';
import { isSingleExecutable } from '../single-executable/embedded';
import { DEV_CONSOLE_ENV, type DevConsoleSettings } from '../console/console';

/** Who medic dev's console link signs in as: the identity the shipped coordinator.hcl admits to everything. */
export const DEV_CONSOLE_IDENTITY = 'spiffe://medic.dev/sre-admin';

const HOST = '127.0.0.1';

/** Every port medic dev listens on: its flag, its default, what it is for. */
const PORTS = {
  'temporal-port': { port: 7233, what: 'Temporal frontend (gRPC)' },
  'ui-port': { port: 8233, what: 'Temporal Web UI' },
  'coordinator-port': { port: 8443, what: 'coordinator (HTTPS)' },
  'demo-port': { port: 8090, what: 'demo service' },
  'worker-metrics-port': { port: 9464, what: 'worker /metrics' },
  'trigger-metrics-port': { port: 9465, what: 'trigger daemon /metrics' },
  'prometheus-port': { port: 9090, what: 'Prometheus' },
  'escalation-port': { port: 9095, what: 'escalation sink' },
} as const;
type PortFlag = keyof typeof PORTS;

const portOptions = Object.fromEntries(
  Object.entries(PORTS).map(([flag, p]) => [
    flag,
    { type: 'string', valueName: 'PORT', description: `${p.what} port (default ${p.port})` } as OptionSpec,
  ]),
);

export class DevError extends Error {
  override name = 'DevError';
}

function readPorts(values: Record<string, unknown>): Record<PortFlag, number> {
  const out = {} as Record<PortFlag, number>;
  for (const [flag, p] of Object.entries(PORTS) as Array<[PortFlag, (typeof PORTS)[PortFlag]]>) {
    const text = values[flag] as string | undefined;
    const port = text === undefined ? p.port : Number(text);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new DevError(`--${flag} ${text} is not a port`);
    out[flag] = port;
  }
  return out;
}

/** Names every port in use, with the flag that moves it. */
async function portsInUse(ports: Record<PortFlag, number>, flags: PortFlag[]): Promise<string[]> {
  const busy: string[] = [];
  for (const flag of flags) {
    if (!(await portIsFree(ports[flag], HOST))) {
      busy.push(`port ${ports[flag]} (${PORTS[flag].what}) is in use on ${HOST}; choose another with --${flag} PORT`);
    }
  }
  return busy;
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

/** Polls `probe` until it is true; rejects when `signal` aborts or `failed` settles first. */
async function until(probe: () => Promise<boolean>, signal: AbortSignal, failed: Promise<string>): Promise<void> {
  let failure: string | undefined;
  void failed.then((why) => (failure = why));
  while (!(await probe())) {
    if (failure) throw new DevError(failure);
    if (signal.aborted) throw new DevError('stopped');
    await new Promise((r) => setTimeout(r, 250));
  }
}

function nodeName(): string {
  return os.hostname().split('.')[0]!.toLowerCase() || 'localhost';
}

/**
 * How the user runs medic: `npx medic` in a checkout. npm does not link a project's own bin into
 * its node_modules/.bin, and without that link `npx medic` would fetch another package of that
 * name from the registry; so make the link (once) and say `npx medic`.
 */
function medicInvocation(script: string): string {
  if (isSingleExecutable()) return script;
  const bin = path.join(packageRoot(), 'node_modules', '.bin');
  if (!fs.existsSync(bin)) return 'medic';
  const link = path.join(bin, 'medic');
  try {
    if (!fs.existsSync(link)) fs.symlinkSync(path.relative(bin, script), link);
    return 'npx medic';
  } catch {
    const rel = path.relative(process.cwd(), script);
    return `node ${rel && !rel.startsWith('..') ? rel : script}`;
  }
}

interface DevPlan {
  config: MedicConfig;
  configDir: string;
  dataDir: string;
  tlsDir: string;
  node: string;
  ports: Record<PortFlag, number>;
  trigger: { run: boolean; why: string };
}

async function plan(values: Record<string, unknown>, warn: (line: string) => void): Promise<DevPlan> {
  const configDir = path.resolve((values.config as string | undefined) ?? defaultConfigDir());
  const { config, diagnostics } = await loadConfigOrThrow(configDir, { workflowTypes: WORKFLOW_TYPES });
  for (const d of diagnostics) warn(formatDiagnostic(d));
  const c = config.coordinator;
  if (!c) throw new DevError(`${displayPath(configDir)} has no coordinator.hcl`);
  if (!config.worker) throw new DevError(`${displayPath(configDir)} has no worker.hcl`);
  if (!c.enableTls || !c.certFile || !c.keyFile || !c.clientCaFile) {
    throw new DevError(`${displayPath(c.file)}: medic dev needs enable_tls with cert_file, key_file and client_ca_file`);
  }
  const tlsDir = path.dirname(c.certFile);
  const expected = { certFile: 'server.pem', keyFile: 'server-key.pem', clientCaFile: 'ca.pem' } as const;
  for (const [key, name] of Object.entries(expected) as Array<[keyof typeof expected, string]>) {
    if (c[key] !== path.join(tlsDir, name)) {
      throw new DevError(
        `${displayPath(c.file)}: medic dev writes its certificates as server.pem, server-key.pem and ca.pem in one directory; ${key} is ${c[key]}`,
      );
    }
  }
  const ports = readPorts(values);
  const rules = config.triggers.rules;
  let trigger = { run: false, why: 'no rules in triggers/' };
  if (rules.length > 0 && !config.triggers.prometheus) trigger = { run: false, why: 'triggers/ configures no Prometheus' };
  else if (rules.length > 0 && !config.triggers.coordinator) trigger = { run: false, why: 'triggers/ configures no coordinator' };
  else if (rules.length > 0) {
    const demo = rules.find((r): r is PrometheusRule => r.source === 'prometheus' && r.workflow === DEMO_WORKFLOW);
    trigger = {
      run: true,
      why: `${rules.length} rule(s) every 1s${demo ? `; ${demo.name}: ${demo.query} for ${demo.forMs / 1000}s -> ${demo.workflow}` : ''}`,
    };
  }
  return {
    config,
    configDir,
    dataDir: path.resolve((values['data-dir'] as string | undefined) ?? defaultDevDataDir()),
    tlsDir,
    node: (values.node as string | undefined) ?? nodeName(),
    ports,
    trigger,
  };
}

/** The Temporal UI page of one execution (its latest run). */
export function executionUrl(uiUrl: string, workflowId: string): string {
  return `${uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`;
}

/** The console's one-time sign-in link, as the banner prints it. */
export function consoleSignInUrl(coordinator: string, token: string): string {
  return `${coordinator}/ui/auth/dev?token=${token}`;
}

function banner(p: DevPlan, urls: { ui: string; escalations: string; console: string }, medic: string, paging: boolean): string {
  const coordinator = `https://${HOST}:${p.ports['coordinator-port']}`;
  const prometheus = `http://${HOST}:${p.ports['prometheus-port']}`;
  const demoUrl = `http://${HOST}:${p.ports['demo-port']}/health`;
  const metrics = [`${coordinator}/metrics`, `http://${HOST}:${p.ports['worker-metrics-port']}/metrics`];
  if (p.trigger.run) metrics.push(`http://${HOST}:${p.ports['trigger-metrics-port']}/metrics`);
  const dataFlag = p.dataDir === defaultDevDataDir() ? '' : ` --data-dir ${p.dataDir}`;
  const listQuery = encodeURIComponent(`MedicWorkflow="${DEMO_WORKFLOW}"`);
  const lines = [
    '',
    `medic dev is up (data in ${displayPath(p.dataDir)}, kept for the next run; Ctrl-C stops everything)`,
    `  coordinator   ${coordinator}  (mTLS; certificates in ${displayPath(p.tlsDir)})`,
    `  console       ${urls.console}`,
    `                (signs this browser in once as ${DEV_CONSOLE_IDENTITY}; accept the dev certificate's warning)`,
    `  Temporal UI   ${urls.ui}`,
    `  Prometheus    ${prometheus}  (scrapes the demo and medic every 1s; medic's alert rules loaded)`,
    `  trigger       ${p.trigger.run ? `running: ${p.trigger.why}` : `skipped: ${p.trigger.why}`}`,
    `  escalations -> ${urls.escalations}  (each page is printed below)`,
    `  metrics       ${metrics.join('  ')}`,
    `  demo service  ${demoUrl}`,
    `  worker        node ${p.node}, datacenter ${p.config.worker!.datacenter}`,
    '',
  ];
  if (p.trigger.run) {
    lines.push(
      'What happens when the demo breaks: Prometheus sees medic_demo_healthy drop to 0, the trigger daemon',
      `fires, the coordinator admits ${DEMO_WORKFLOW}, the worker runs its steps and the demo answers 200 again,`,
      'all in this log within seconds. Each run gets a Temporal UI link here; all of them:',
      `  ${urls.ui}/namespaces/default/workflows?query=${listQuery}`,
      '',
      'Break the demo service; medic heals it on its own:',
      `  ${medic} demo break${dataFlag}`,
      paging
        ? 'Break it so the runbook cannot heal it, and see the escalation page printed here:'
        : 'Break it so the runbook cannot heal it (its page cannot reach the sink: the worker has no --escalation-url and its notify hook posts elsewhere):',
      `  ${medic} demo break --hard${dataFlag}     (then: ${medic} demo fix${dataFlag})`,
      '',
    );
  } else {
    lines.push('The trigger daemon is not running, so nothing heals on its own; see triggers/ in the config.', '');
  }
  return lines.join('\n');
}

/** A trigger daemon log line saying it started a workflow: its id and workflow, else undefined. */
export function startedByTrigger(line: string): { workflowId: string; workflow?: string; rule?: string } | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const r = JSON.parse(line) as Record<string, unknown>;
    if (typeof r.workflow_id !== 'string' || typeof r.msg !== 'string' || !/\bstarted\b/.test(r.msg)) return undefined;
    return {
      workflowId: r.workflow_id,
      workflow: typeof r.workflow === 'string' ? r.workflow : undefined,
      rule: typeof r.rule === 'string' ? r.rule : undefined,
    };
  } catch {
    return undefined;
  }
}

export const devCommand: Command = {
  name: 'dev',
  summary: 'Run the self-healing loop on this machine: Temporal, Prometheus, coordinator, worker, trigger, demo.',
  usage: 'dev [--config DIR] [--data-dir DIR] [--node N] [--temporal-port PORT] [--coordinator-port PORT] ...',
  details:
    'Starts, as supervised child processes: the Temporal dev server (SQLite in DATA_DIR/temporal.db, Web UI),\n' +
    'the demo service, a Prometheus scraping it and medic (an installed prometheus, else one built with Go into\n' +
    '.medic/bin), a coordinator and a worker for this host, and the trigger daemon with triggers/ (the demo rule\n' +
    'heals the demo service on its own). Escalations go to a local sink that prints each page. Certificates are\n' +
    'made on the first run in the directory coordinator.hcl names (.medic/tls/) and reused. Ctrl-C or SIGHUP\n' +
    'stops them all, worker first, Temporal last; if medic dev is killed, a watchdog stops them within seconds.',
  options: {
    config: CONFIG_OPTION,
    'data-dir': { type: 'string', valueName: 'DIR', description: 'Temporal data and demo state (default .medic/dev)' },
    node: { type: 'string', valueName: 'N', description: "this host's node name (default the host name)" },
    ...portOptions,
  },
  async run(ctx) {
    const say = (line: string): void => void ctx.stderr.write(`medic dev: ${line}\n`);
    // Closing the terminal (SIGHUP) stops medic dev like Ctrl-C: nothing to reload here.
    const hangup = new AbortController();
    ctx.onReload(() => hangup.abort());
    const signal = AbortSignal.any([ctx.signal, hangup.signal]);
    let p: DevPlan;
    try {
      p = await plan(ctx.values, say);
    } catch (err) {
      say((err as Error).message);
      return EXIT.failure;
    }
    const flags = (Object.keys(PORTS) as PortFlag[]).filter((f) => f !== 'trigger-metrics-port' || p.trigger.run);
    const busy = await portsInUse(p.ports, flags);
    if (busy.length) {
      for (const line of busy) say(line);
      return EXIT.failure;
    }

    let binary: string;
    let prometheusBinary: string;
    try {
      binary = await ensureTemporalBinary(say);
      prometheusBinary = await ensurePrometheusBinary(say);
    } catch (err) {
      say((err as Error).message);
      return EXIT.failure;
    }
    say(`certificates ${ensureDevCertificates(p.tlsDir)} in ${displayPath(p.tlsDir)}`);
    fs.mkdirSync(p.dataDir, { recursive: true });

    const log = (name: string, line: string): void => void ctx.stderr.write(`${name.padEnd(11)} | ${line}\n`);
    const supervisor = new Supervisor((line) => void ctx.stderr.write(line + '\n'), startWatchdog());
    const medicScript = path.resolve(process.argv[1]!);
    const medic = (name: string, args: string[], env?: NodeJS.ProcessEnv): void => {
      // The packaged executable is medic itself; from a checkout, node runs the medic script.
      supervisor.start({ name, command: process.execPath, args: isSingleExecutable() ? args : [medicScript, ...args], env });
    };
    // The console signs the local user in with a link printed in the banner, good once.
    const consoleToken = randomBytes(24).toString('base64url');
    const temporalAddress = `${HOST}:${p.ports['temporal-port']}`;
    const coordinatorUrl = `https://${HOST}:${p.ports['coordinator-port']}`;
    const prometheusUrl = `http://${HOST}:${p.ports['prometheus-port']}`;
    const client = new CoordinatorClient({
      address: coordinatorUrl,
      caFile: path.join(p.tlsDir, 'ca.pem'),
      certFile: path.join(p.tlsDir, 'cli.pem'),
      keyFile: path.join(p.tlsDir, 'cli-key.pem'),
      timeoutMs: 2000,
    });
    const sink = await startEscalationSink({
      host: HOST,
      port: p.ports['escalation-port'],
      print: (line) => log('escalation', line),
    });
    // A worker that takes --escalation-url pages the sink; one without still reaches it when
    // worker.hcl's notify hook posts to the sink's address (the shipped one, on the default port).
    const escalationFlag = 'escalation-url' in workerCommand.options;
    const notify = p.config.worker!.hooks.notify;
    const paging = escalationFlag || (notify?.kind === 'webhook' && new URL(notify.url).host === new URL(sink.url).host);
    try {
      const temporal = await startDevServer({
        binary,
        ip: HOST,
        port: p.ports['temporal-port'],
        uiPort: p.ports['ui-port'],
        dbFile: path.join(p.dataDir, 'temporal.db'),
        // Once stopping, its shutdown chatter (polls and dials failing on purpose) is noise.
        log: (line) => void (signal.aborted || log('temporal', line)),
      });
      supervisor.adopt({ name: 'temporal', pid: temporal.pid, exited: temporal.exited, stop: temporal.stop });
      if (signal.aborted) throw new DevError('stopped');
      const uiUrl = temporal.uiUrl!;

      const w = p.config.worker!;
      medic('demo', [
        'demo',
        'serve',
        '--data-dir',
        p.dataDir,
        '--listen',
        `${HOST}:${p.ports['demo-port']}`,
        '--node',
        p.node,
        '--datacenter',
        w.datacenter,
        '--node-type',
        w.nodeType,
      ]);
      const promConfig = devPrometheusConfig(
        {
          demo: `${HOST}:${p.ports['demo-port']}`,
          coordinator: `${HOST}:${p.ports['coordinator-port']}`,
          worker: `${HOST}:${p.ports['worker-metrics-port']}`,
          trigger: p.trigger.run ? `${HOST}:${p.ports['trigger-metrics-port']}` : undefined,
          caFile: path.join(p.tlsDir, 'ca.pem'),
        },
        fs.existsSync(medicRulesFile()) ? medicRulesFile() : undefined,
      );
      supervisor.start({
        name: 'prometheus',
        command: prometheusBinary,
        args: devPrometheusArgs(path.join(p.dataDir, 'prometheus'), `${HOST}:${p.ports['prometheus-port']}`, promConfig),
      });
      medic(
        'coordinator',
        [
          'coordinator',
          '--config',
          p.configDir,
          '--listen',
          `${HOST}:${p.ports['coordinator-port']}`,
          '--temporal-address',
          temporalAddress,
        ],
        {
          [DEV_CONSOLE_ENV]: JSON.stringify({
            token: consoleToken,
            identity: DEV_CONSOLE_IDENTITY,
            temporal_ui: uiUrl,
          } satisfies DevConsoleSettings),
        },
      );
      const polling = supervisor.lineFrom('worker', /\bpolling\b/);
      medic('worker', [
        'worker',
        '--config',
        p.configDir,
        '--node',
        p.node,
        '--temporal-address',
        temporalAddress,
        '--metrics-listen',
        `${HOST}:${p.ports['worker-metrics-port']}`,
        ...(escalationFlag ? ['--escalation-url', sink.url] : []),
      ]);
      if (p.trigger.run) {
        supervisor.onLine('trigger', (line) => {
          const started = startedByTrigger(line);
          if (started) {
            say(
              `${started.workflow ?? 'a workflow'} started by the trigger daemon${started.rule ? ` (rule ${started.rule})` : ''}: ${executionUrl(uiUrl, started.workflowId)}`,
            );
          }
        });
        medic('trigger', [
          'trigger',
          '--config',
          p.configDir,
          '--coordinator-address',
          coordinatorUrl,
          '--prometheus-address',
          prometheusUrl,
          '--poll-interval',
          '1s',
          '--metrics-listen',
          `${HOST}:${p.ports['trigger-metrics-port']}`,
          '--state-file',
          path.join(p.dataDir, 'trigger-state.json'),
        ]);
      }
      let workerPolling = false;
      void polling.then(() => (workerPolling = true));
      await until(
        async () => {
          if (!workerPolling || !(await answers(`${prometheusUrl}/-/ready`))) return false;
          const ready = await client.request('GET', '/readyz').catch(() => undefined);
          return ready?.status === 200;
        },
        signal,
        supervisor.failed,
      );
      const urls = { ui: uiUrl, escalations: sink.url, console: consoleSignInUrl(coordinatorUrl, consoleToken) };
      ctx.stdout.write(banner(p, urls, medicInvocation(medicScript), paging) + '\n');

      const why = await Promise.race([
        supervisor.failed,
        new Promise<undefined>((resolve) => signal.addEventListener('abort', () => resolve(undefined), { once: true })),
      ]);
      if (why) throw new DevError(why);
      say(hangup.signal.aborted ? 'hangup: stopping' : 'stopping');
      return EXIT.ok;
    } catch (err) {
      if (signal.aborted) return EXIT.ok;
      say((err as Error).message);
      return EXIT.failure;
    } finally {
      client.close();
      await supervisor.stopAll();
      await sink.close();
      say('all processes stopped');
    }
  },
};
