// `medic dev`: the whole loop on one machine. Temporal dev server, dev certificates, the demo
// service, a coordinator, a worker for this host and (when configured and reachable) the
// trigger daemon, as supervised child processes. Ports are chosen by flags and handed to the
// children as flags (`--listen`, `--temporal-address`, ...), so config/ is used as it is.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CoordinatorClient } from '../client/coordinator-client';
import { CONFIG_OPTION, EXIT, type Command, type OptionSpec } from '../cli/command';
import { WORKFLOW_TYPES } from '../cli/validate';
import { formatDiagnostic } from '../config/diagnostics';
import { displayPath, loadConfigOrThrow, type MedicConfig } from '../config/load';
import { defaultConfigDir } from '../paths';
import { ensureTemporalBinary } from '../temporal/binary';
import { portIsFree, startDevServer } from '../temporal/dev-server';
import { ensureDevCertificates } from './certificates';
import { DEMO_WORKFLOW, defaultDevDataDir, demoDir } from './demo-service';
import { Supervisor } from './supervisor';
import { isSingleExecutable } from '../single-executable/embedded';

const HOST = '127.0.0.1';

/** Every port medic dev listens on: its flag, its default, what it is for. */
const PORTS = {
  'temporal-port': { port: 7233, what: 'Temporal frontend (gRPC)' },
  'ui-port': { port: 8233, what: 'Temporal Web UI' },
  'coordinator-port': { port: 8443, what: 'coordinator (HTTPS)' },
  'demo-port': { port: 8090, what: 'demo service' },
  'worker-metrics-port': { port: 9464, what: 'worker /metrics' },
  'trigger-metrics-port': { port: 9465, what: 'trigger daemon /metrics' },
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

async function prometheusReachable(address: string): Promise<boolean> {
  try {
    const res = await fetch(new URL('/-/ready', address), { signal: AbortSignal.timeout(2000) });
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

/** How to run medic from where the user stands: `node dist/cmd/medic.js` in a checkout. */
function medicInvocation(script: string): string {
  if (isSingleExecutable()) return script;
  const rel = path.relative(process.cwd(), script);
  return `node ${rel && !rel.startsWith('..') ? rel : script}`;
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
  const rules = config.triggers.rules.length;
  let trigger = { run: false, why: 'no rules in triggers/' };
  if (rules > 0 && !config.triggers.prometheus) trigger = { run: false, why: 'triggers/ configures no Prometheus' };
  else if (rules > 0) {
    const address = config.triggers.prometheus!.address;
    trigger = (await prometheusReachable(address))
      ? { run: true, why: `${rules} rule(s), Prometheus at ${address}` }
      : { run: false, why: `Prometheus at ${address} is not reachable` };
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

function banner(p: DevPlan, uiUrl: string, medic: string): string {
  const coordinator = `https://${HOST}:${p.ports['coordinator-port']}`;
  const demoUrl = `http://${HOST}:${p.ports['demo-port']}/health`;
  const metrics = [`${coordinator}/metrics`, `http://${HOST}:${p.ports['worker-metrics-port']}/metrics`];
  if (p.trigger.run) metrics.push(`http://${HOST}:${p.ports['trigger-metrics-port']}/metrics`);
  const dataFlag = p.dataDir === defaultDevDataDir() ? '' : ` --data-dir ${p.dataDir}`;
  const coordinatorFlag = p.ports['coordinator-port'] === PORTS['coordinator-port'].port ? '' : ` --coordinator ${coordinator}`;
  const heal =
    `${medic} run ${DEMO_WORKFLOW} --node ${p.node} --param demo_dir=${demoDir(p.dataDir)}` +
    `${p.ports['demo-port'] === PORTS['demo-port'].port ? '' : ` --param port=${p.ports['demo-port']}`}${coordinatorFlag} --wait`;
  return [
    '',
    `medic dev is up (data in ${displayPath(p.dataDir)}, kept for the next run; Ctrl-C stops everything)`,
    `  coordinator   ${coordinator}  (mTLS; certificates in ${displayPath(p.tlsDir)})`,
    `  Temporal UI   ${uiUrl}`,
    `  metrics       ${metrics.join('  ')}`,
    `  demo service  ${demoUrl}`,
    `  worker        node ${p.node}, datacenter ${p.config.worker!.datacenter}`,
    `  trigger       ${p.trigger.run ? `running: ${p.trigger.why}` : `skipped: ${p.trigger.why}`}`,
    '',
    'Break the demo service, then let medic heal it:',
    `  ${medic} demo break${dataFlag} && ${heal}`,
    '',
  ].join('\n');
}

export const devCommand: Command = {
  name: 'dev',
  summary: 'Run everything on this machine: Temporal dev server, dev certificates, coordinator, worker, demo.',
  usage: 'dev [--config DIR] [--data-dir DIR] [--node N] [--temporal-port PORT] [--coordinator-port PORT] ...',
  details:
    'Starts, as supervised child processes: the Temporal dev server (SQLite in DATA_DIR/temporal.db, Web UI),\n' +
    'the demo service, a coordinator and a worker for this host, and the trigger daemon when triggers/ has\n' +
    'rules and their Prometheus answers. Certificates are made on the first run in the directory coordinator.hcl\n' +
    'names (.medic/tls/) and reused. The children read config/ as it is; ports come from the flags below and\n' +
    'are passed to them as flags. Ctrl-C stops them all, worker first, Temporal last.',
  options: {
    config: CONFIG_OPTION,
    'data-dir': { type: 'string', valueName: 'DIR', description: 'Temporal data and demo state (default .medic/dev)' },
    node: { type: 'string', valueName: 'N', description: "this host's node name (default the host name)" },
    ...portOptions,
  },
  async run(ctx) {
    const say = (line: string): void => void ctx.stderr.write(`medic dev: ${line}\n`);
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

    const binary = await ensureTemporalBinary(say);
    say(`certificates ${ensureDevCertificates(p.tlsDir)} in ${displayPath(p.tlsDir)}`);
    fs.mkdirSync(p.dataDir, { recursive: true });

    const supervisor = new Supervisor((line) => void ctx.stderr.write(line + '\n'));
    const medicScript = path.resolve(process.argv[1]!);
    const medic = (name: string, args: string[]): void => {
      // The packaged executable is medic itself; from a checkout, node runs the medic script.
      supervisor.start({ name, command: process.execPath, args: isSingleExecutable() ? args : [medicScript, ...args] });
    };
    const temporalAddress = `${HOST}:${p.ports['temporal-port']}`;
    const coordinatorUrl = `https://${HOST}:${p.ports['coordinator-port']}`;
    const client = new CoordinatorClient({
      address: coordinatorUrl,
      caFile: path.join(p.tlsDir, 'ca.pem'),
      certFile: path.join(p.tlsDir, 'cli.pem'),
      keyFile: path.join(p.tlsDir, 'cli-key.pem'),
      timeoutMs: 2000,
    });
    try {
      const temporal = await startDevServer({
        binary,
        ip: HOST,
        port: p.ports['temporal-port'],
        uiPort: p.ports['ui-port'],
        dbFile: path.join(p.dataDir, 'temporal.db'),
        // Once stopping, its shutdown chatter (polls and dials failing on purpose) is noise.
        log: (line) => void (ctx.signal.aborted || ctx.stderr.write(`${'temporal'.padEnd(11)} | ${line}\n`)),
      });
      supervisor.adopt({ name: 'temporal', pid: temporal.pid, exited: temporal.exited, stop: temporal.stop });
      if (ctx.signal.aborted) throw new DevError('stopped');

      medic('demo', ['demo', 'serve', '--data-dir', p.dataDir, '--listen', `${HOST}:${p.ports['demo-port']}`]);
      medic('coordinator', [
        'coordinator',
        '--config',
        p.configDir,
        '--listen',
        `${HOST}:${p.ports['coordinator-port']}`,
        '--temporal-address',
        temporalAddress,
      ]);
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
      ]);
      if (p.trigger.run) {
        medic('trigger', [
          'trigger',
          '--config',
          p.configDir,
          '--coordinator-address',
          coordinatorUrl,
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
          if (!workerPolling) return false;
          const ready = await client.request('GET', '/readyz').catch(() => undefined);
          return ready?.status === 200;
        },
        ctx.signal,
        supervisor.failed,
      );
      ctx.stdout.write(banner(p, temporal.uiUrl!, medicInvocation(medicScript)) + '\n');

      const why = await Promise.race([
        supervisor.failed,
        new Promise<undefined>((resolve) => ctx.signal.addEventListener('abort', () => resolve(undefined), { once: true })),
      ]);
      if (why) throw new DevError(why);
      say('stopping');
      return EXIT.ok;
    } catch (err) {
      if (ctx.signal.aborted) return EXIT.ok;
      say((err as Error).message);
      return EXIT.failure;
    } finally {
      client.close();
      await supervisor.stopAll();
      say('all processes stopped');
    }
  },
};
