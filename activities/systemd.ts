// systemd units: restart/start/stop/status through systemctl, with the unit name validated so it
// can never be read as an option, a glob or a path.
import { InvalidUnitError } from './errors';
import { execArgv } from './exec';
import { cancellation } from './context';

export const UNIT_ACTIONS = ['restart', 'start', 'stop', 'status'] as const;
export type UnitAction = (typeof UNIT_ACTIONS)[number];

export interface UnitRequest {
  action: UnitAction;
  unit: string;
}

export interface UnitStatus {
  unit: string;
  action: UnitAction;
  /** The action's own exit status (0 for status, which reads properties instead). */
  actionExitCode: number | null;
  actionError?: string;
  /** systemd's ActiveState: active, inactive, failed, activating, ... */
  activeState: string;
  subState: string;
  /** Healthy in systemd's eyes: ActiveState is "active". */
  active: boolean;
}

const UNIT_TYPES = ['service', 'socket', 'target', 'timer', 'mount', 'path', 'slice', 'scope', 'device', 'swap', 'automount'];
// systemd's own unit-name alphabet (letters, digits, ":-_.\\" and "@" for templates); a leading
// "-" is refused so the name cannot be read as an option even before the "--".
const UNIT_NAME = /^[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]*$/;

/** Returns the unit name to use ("nginx" -> "nginx.service") or throws InvalidUnitError. */
export function validUnitName(unit: string): string {
  if (typeof unit !== 'string' || unit.length === 0 || unit.length > 255) {
    throw new InvalidUnitError(`unit name must be 1-255 characters, got ${JSON.stringify(unit)}`);
  }
  if (!UNIT_NAME.test(unit)) throw new InvalidUnitError(`${JSON.stringify(unit)} is not a valid systemd unit name`);
  const dot = unit.lastIndexOf('.');
  const suffix = dot > 0 ? unit.slice(dot + 1) : '';
  if (UNIT_TYPES.includes(suffix)) return unit;
  if (unit.includes('.') && !/^[0-9]/.test(suffix)) {
    throw new InvalidUnitError(`${JSON.stringify(unit)} has an unknown unit type ".${suffix}" (known: ${UNIT_TYPES.join(', ')})`);
  }
  return `${unit}.service`;
}

export interface SystemdSettings {
  systemctl: string;
  maxOutputBytes: number;
}

function properties(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1).trim();
  }
  return out;
}

export async function systemdUnit(settings: SystemdSettings, req: UnitRequest): Promise<UnitStatus> {
  if (!UNIT_ACTIONS.includes(req.action)) throw new InvalidUnitError(`unknown action ${JSON.stringify(req.action)}`);
  const unit = validUnitName(req.unit);
  const run = (args: string[], timeoutMs: number) =>
    execArgv([settings.systemctl, ...args], { timeoutMs, maxOutputBytes: settings.maxOutputBytes, signal: cancellation() });
  let actionExitCode: number | null = 0;
  let actionError: string | undefined;
  if (req.action !== 'status') {
    // "--" ends options: even a name that slipped past validation is only ever a unit name.
    const r = await run([req.action, '--no-ask-password', '--', unit], 5 * 60_000);
    actionExitCode = r.exitCode;
    if (r.exitCode !== 0) actionError = (r.stderr || r.stdout).trim().slice(0, 2000) || `exit ${r.exitCode ?? r.signal}`;
  }
  const show = await run(['show', '--property=ActiveState,SubState', '--', unit], 30_000);
  const props = properties(show.stdout);
  const activeState = props.ActiveState ?? 'unknown';
  return {
    unit,
    action: req.action,
    actionExitCode,
    ...(actionError !== undefined && { actionError }),
    activeState,
    subState: props.SubState ?? 'unknown',
    active: activeState === 'active',
  };
}
