// The web console (issue 25) as the coordinator takes it: an identify function (session cookies,
// CSRF) wrapped around the certificate one, and a plugin with the /ui/ routes. Built from
// coordinator.hcl's console block once at start.
import * as fs from 'node:fs';
import type { ConsoleConfig } from '../config/console';
import type { CoordinatorPlugin } from '../coordinator/app';
import type { IdentifyCaller } from '../coordinator/identity';
import { loadConsoleAssets } from './assets';
import { consoleIdentify } from './guard';
import { RelyingParty } from './oidc';
import { consoleRoutes } from './routes';
import { CookieSealer } from './session';
import type { DevSignIn } from './sign-in';

/** Thrown at start when the console cannot be set up as configured (an unreadable key or secret file). */
export class ConsoleSetupError extends Error {
  override name = 'ConsoleSetupError';
}

export interface ConsoleOptions {
  config: ConsoleConfig;
  /** medic dev: a one-time sign-in link, and its Temporal UI when the config names none. */
  dev?: DevSignIn & { temporalUiUrl?: string };
  log(message: string): void;
}

export interface WebConsole {
  identify(inner: IdentifyCaller): IdentifyCaller;
  plugin: CoordinatorPlugin;
}

/** Set by medic dev only, for its coordinator: the one-time sign-in link's token, its identity and the Temporal UI (JSON). */
export const DEV_CONSOLE_ENV = 'MEDIC_DEV_CONSOLE';

export interface DevConsoleSettings {
  token: string;
  identity: string;
  temporal_ui?: string;
}

/** medic dev's settings from the environment, or undefined outside medic dev. */
export function devSignInFromEnv(env: NodeJS.ProcessEnv = process.env): ConsoleOptions['dev'] {
  const text = env[DEV_CONSOLE_ENV];
  if (!text) return undefined;
  const v = JSON.parse(text) as Partial<DevConsoleSettings>;
  if (typeof v.token !== 'string' || v.token.length < 16 || typeof v.identity !== 'string')
    throw new ConsoleSetupError(`${DEV_CONSOLE_ENV} must be {"token": "...", "identity": "spiffe://..."} (set by medic dev)`);
  return { token: v.token, identity: v.identity, ...(typeof v.temporal_ui === 'string' && { temporalUiUrl: v.temporal_ui }) };
}

function sealerFor(config: ConsoleConfig): CookieSealer {
  if (!config.sessionKeyFile) return CookieSealer.random();
  let key: Buffer;
  try {
    key = fs.readFileSync(config.sessionKeyFile);
  } catch (err) {
    throw new ConsoleSetupError(
      `cannot read console.session_key_file ${config.sessionKeyFile}: ${(err as NodeJS.ErrnoException).code}`,
    );
  }
  if (key.length < 32) throw new ConsoleSetupError(`console.session_key_file ${config.sessionKeyFile} holds fewer than 32 bytes`);
  return new CookieSealer(key);
}

export function createConsole(opts: ConsoleOptions): WebConsole {
  const sealer = sealerFor(opts.config);
  let oidc: RelyingParty | undefined;
  try {
    oidc = opts.config.oidc ? new RelyingParty(opts.config.oidc) : undefined;
  } catch (err) {
    throw new ConsoleSetupError((err as Error).message);
  }
  const assets = loadConsoleAssets();
  if (opts.dev)
    opts.log(`console: a one-time sign-in link as ${opts.dev.identity} is enabled (${DEV_CONSOLE_ENV}, set by medic dev)`);
  return {
    identify: (inner) => consoleIdentify(inner, sealer, opts.config.url),
    plugin: (app, parts) =>
      consoleRoutes(app, parts, {
        sealer,
        assets,
        sessionTtlMs: opts.config.sessionTtlMs,
        ...(opts.config.url && { url: opts.config.url }),
        ...(oidc && { oidc }),
        ...(opts.dev && { dev: { token: opts.dev.token, identity: opts.dev.identity } }),
        temporalUiUrl: opts.config.temporalUiUrl ?? opts.dev?.temporalUiUrl,
        audit: parts.audit,
        log: opts.log,
      }),
  };
}
