// drain / undrain / notify: the operator's hooks from worker.hcl. A command hook gets the event
// in MEDIC_* environment variables (never spliced into argv or a shell string); a webhook gets
// the same facts as a JSON POST.
import type { Hook, HookEvent } from '../src/config/worker';
import { HookFailedError, NotConfiguredError } from './errors';
import { execArgv } from './exec';
import { cancellation } from './context';

export interface HookRequest {
  /** Why: shown to whoever reads the notification or the load balancer's audit log. */
  message: string;
  severity?: 'info' | 'warning' | 'critical';
  workflowId?: string;
}

export interface HookIdentity {
  node: string;
  datacenter: string;
  nodeType: string;
}

export interface HookResult {
  event: HookEvent;
  delivered: boolean;
  detail: string;
}

export interface HookPayload extends HookIdentity {
  event: HookEvent;
  message: string;
  severity: string;
  workflow_id?: string;
}

export async function runHook(
  fetchImpl: typeof fetch,
  hook: Hook | undefined,
  event: HookEvent,
  who: HookIdentity,
  req: HookRequest,
  maxOutputBytes: number,
): Promise<HookResult> {
  if (!hook) throw new NotConfiguredError(`no hook "${event}" in worker.hcl`);
  const payload: HookPayload = {
    event,
    ...who,
    message: req.message,
    severity: req.severity ?? 'info',
    ...(req.workflowId !== undefined && { workflow_id: req.workflowId }),
  };
  if (hook.kind === 'command') {
    const r = await execArgv(hook.argv, {
      timeoutMs: hook.timeoutMs,
      maxOutputBytes,
      signal: cancellation(),
      env: {
        MEDIC_EVENT: event,
        MEDIC_NODE: who.node,
        MEDIC_DATACENTER: who.datacenter,
        MEDIC_NODE_TYPE: who.nodeType,
        MEDIC_MESSAGE: payload.message,
        MEDIC_SEVERITY: payload.severity,
        MEDIC_WORKFLOW_ID: req.workflowId ?? '',
      },
    });
    if (r.exitCode !== 0) {
      const why = r.timedOut ? `timed out after ${hook.timeoutMs} ms` : `exit ${r.exitCode ?? r.signal}`;
      throw new HookFailedError(
        `hook "${event}" (${hook.argv[0]}) failed: ${why}: ${(r.stderr || r.stdout).trim().slice(0, 500)}`,
      );
    }
    return { event, delivered: true, detail: `${hook.argv[0]} exited 0` };
  }
  const res = await postJson(fetchImpl, hook.url, hook.headers, payload, hook.timeoutMs, `hook "${event}" webhook`);
  if (res.status < 200 || res.status > 299) throw new HookFailedError(`hook "${event}" webhook answered ${res.status}`);
  return { event, delivered: true, detail: `webhook answered ${res.status}` };
}

/**
 * POSTs `payload` as JSON within `timeoutMs` (and the activity's cancellation), reading the whole
 * answer. A network failure is HookFailedError naming `what` and the host (retried by Temporal);
 * a cancellation is rethrown as it is. The caller judges the status.
 */
export async function postJson(
  fetchImpl: typeof fetch,
  url: string,
  headers: Record<string, string> | undefined,
  payload: unknown,
  timeoutMs: number,
  what: string,
): Promise<Response> {
  const signals = [AbortSignal.timeout(timeoutMs), cancellation()].filter((s): s is AbortSignal => s !== undefined);
  try {
    const res = await fetchImpl(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(payload),
      signal: AbortSignal.any(signals),
    });
    await res.arrayBuffer();
    return res;
  } catch (err) {
    if (cancellation()?.aborted) throw err;
    const e = err as Error & { cause?: { code?: string; message?: string } };
    throw new HookFailedError(`${what} ${new URL(url).host} unreachable: ${e.cause?.code ?? e.cause?.message ?? e.message}`);
  }
}
