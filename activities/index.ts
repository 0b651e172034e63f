// The activities every medic worker registers, built from the worker's settings by one factory
// so tests can inject fakes by type (`Activities['systemdUnit']`) and the three task queues
// share one instance.
import type { WorkerConfig } from '../src/config/worker';
import { activityContext, whileHeartbeating } from './context';
import { runAllowedCommand, type CommandRequest } from './command';
import { systemdUnit, type UnitRequest } from './systemd';
import { httpCheck, type HttpCheckRequest } from './http-check';
import { prometheusQuery, type PrometheusRequest } from './prometheus';
import { runHook, type HookRequest } from './hooks';
import { BOOT_ID_FILE, readBootId, reboot, type NodeIdentity, type RebootRequest } from './node';
import { cleanFiles, diskUsage, type CleanRequest } from './disk';
import { sendPage, type PageRequest } from './escalation';
import { diagnose, type DiagnoseRequest } from './diagnose';
import { withRedaction } from './redact';

/** The part of worker.hcl activities act on. */
export type ActivitySettings = Pick<
  WorkerConfig,
  | 'node'
  | 'datacenter'
  | 'nodeType'
  | 'allowedCommands'
  | 'commandTimeoutMs'
  | 'maxOutputBytes'
  | 'systemctl'
  | 'cleanupPaths'
  | 'rebootDryRun'
  | 'rebootCommand'
  | 'prometheus'
  | 'hooks'
> &
  Partial<Pick<WorkerConfig, 'escalation'>>;

export interface ActivityDeps {
  settings: ActivitySettings;
  /** HTTP client for health checks, Prometheus and webhooks. */
  fetch?: typeof fetch;
  /** Where the kernel's boot id is read; a file under the test's control in tests. */
  bootIdFile?: string;
  log?: (message: string) => void;
}

export function createActivities(deps: ActivityDeps) {
  const { settings } = deps;
  const fetchImpl = deps.fetch ?? fetch;
  const bootIdFile = deps.bootIdFile ?? BOOT_ID_FILE;
  const log = deps.log ?? ((m: string) => activityContext()?.log.info(m));
  const who = { node: settings.node, datacenter: settings.datacenter, nodeType: settings.nodeType };
  const workflowId = (): string | undefined => activityContext()?.info.workflowExecution?.workflowId;
  const hook = (event: 'drain' | 'undrain' | 'notify', req: HookRequest) =>
    whileHeartbeating(() =>
      runHook(
        fetchImpl,
        settings.hooks[event],
        event,
        who,
        { ...req, workflowId: req.workflowId ?? workflowId() },
        settings.maxOutputBytes,
      ),
    );

  // Every activity masks the run's secret values it is given (`redact`) in its answer and error.
  return withRedaction({
    /** Runs an allow-listed executable with an argv array. */
    runCommand: (req: CommandRequest) => whileHeartbeating(() => runAllowedCommand(settings, req)),
    /** restart/start/stop/status of a systemd unit, answering with its state afterwards. */
    systemdUnit: (req: UnitRequest) => whileHeartbeating(() => systemdUnit(settings, req)),
    httpCheck: (req: HttpCheckRequest) => whileHeartbeating(() => httpCheck(fetchImpl, req)),
    prometheusQuery: (req: PrometheusRequest) => whileHeartbeating(() => prometheusQuery(fetchImpl, settings.prometheus, req)),
    /** Takes this node out of service (load balancer, scheduler) through the drain hook. */
    drainNode: (req: HookRequest) => hook('drain', req),
    undrainNode: (req: HookRequest) => hook('undrain', req),
    notify: (req: HookRequest) => hook('notify', req),
    /** Pages (or resolves) through the central escalation sink; general workers run it. */
    page: (req: PageRequest) =>
      whileHeartbeating(() =>
        sendPage(
          fetchImpl,
          settings.escalation,
          { hook: settings.hooks.notify, who, maxOutputBytes: settings.maxOutputBytes },
          req,
        ),
      ),
    /** One `diagnose { ... }` step of an escalating run: what it saw, capped, for the page. */
    diagnose: (req: DiagnoseRequest) => whileHeartbeating(() => diagnose(settings, fetchImpl, req)),
    /** Reboots unless the boot id has changed since `req.bootId` (never reboots twice for one request). */
    reboot: (req: RebootRequest = {}) => whileHeartbeating(() => reboot(settings, bootIdFile, log, req)),
    /** Which worker answered, and the current boot id. */
    nodeIdentity: async (): Promise<NodeIdentity> => ({ ...who, bootId: await readBootId(bootIdFile), pid: process.pid }),
    cleanFiles: (req: CleanRequest) => whileHeartbeating(() => cleanFiles(settings.cleanupPaths, req)),
    diskUsage: (req: { path: string }) => diskUsage(req.path),
  });
}

export type Activities = ReturnType<typeof createActivities>;

export type { CommandRequest, UnitRequest, HttpCheckRequest, PrometheusRequest, HookRequest, CleanRequest, NodeIdentity };
export type { ExecResult } from './exec';
export type { UnitStatus } from './systemd';
export type { HttpCheckResult } from './http-check';
export type { PrometheusResult, Sample } from './prometheus';
export type { HookResult } from './hooks';
export type { RebootResult, RebootRequest } from './node';
export type { CleanResult, DiskUsage } from './disk';
export type { PageRequest, PageResult } from './escalation';
export type { DiagnoseRequest, Diagnosis } from './diagnose';
