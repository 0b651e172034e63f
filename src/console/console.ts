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
