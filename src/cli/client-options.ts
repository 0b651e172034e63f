// How the CLI verbs reach the coordinator: address and mTLS files from flags, else environment
// variables, else ~/.config/medic/, else the dev certificates `medic dev` made in .medic/tls/.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CoordinatorClient } from '../client/coordinator-client';
import { EXIT, JSON_OPTION, type CommandContext, type OptionSpec } from '../command/command';

export const DEFAULT_COORDINATOR = 'https://127.0.0.1:8443';

export const CLIENT_OPTIONS: Record<string, OptionSpec> = {
  coordinator: {
    type: 'string',
    valueName: 'URL',
    description: `coordinator address (env MEDIC_COORDINATOR; default ${DEFAULT_COORDINATOR})`,
  },
  cert: { type: 'string', valueName: 'FILE', description: 'client certificate (env MEDIC_CERT)' },
  key: { type: 'string', valueName: 'FILE', description: 'client key (env MEDIC_KEY)' },
  ca: { type: 'string', valueName: 'FILE', description: "CA of the coordinator's certificate (env MEDIC_CA)" },
  json: JSON_OPTION,
};

export const CLIENT_DETAILS =
  'Certificates: --cert/--key/--ca, else $MEDIC_CERT/$MEDIC_KEY/$MEDIC_CA, else client.pem, client-key.pem\n' +
  'and ca.pem in ~/.config/medic/ ($XDG_CONFIG_HOME/medic), else the dev certificates of `medic dev`\n' +
  '(.medic/tls/cli.pem). The coordinator: --coordinator, $MEDIC_COORDINATOR, ~/.config/medic/coordinator\n' +
  `(one line), else ${DEFAULT_COORDINATOR}.`;

export interface ClientSettings {
  address: string;
  certFile?: string;
  keyFile?: string;
  caFile?: string;
}

function userConfigDir(env: NodeJS.ProcessEnv): string {
  return path.join(env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'medic');
}

function existing(file: string): string | undefined {
  return fs.existsSync(file) ? file : undefined;
}

/** The first source that names a certificate wins for all three files, so a set is never mixed. */
export function clientSettings(values: CommandContext['values'], env: NodeJS.ProcessEnv = process.env): ClientSettings {
  const user = userConfigDir(env);
  const savedAddress = existing(path.join(user, 'coordinator'));
  const address =
    (values.coordinator as string | undefined) ??
    env.MEDIC_COORDINATOR ??
    (savedAddress && fs.readFileSync(savedAddress, 'utf8').trim()) ??
    DEFAULT_COORDINATOR;
  const sources: Array<() => Partial<ClientSettings> | undefined> = [
    () =>
      values.cert || values.key || values.ca
        ? { certFile: values.cert as string, keyFile: values.key as string, caFile: values.ca as string }
        : undefined,
    () =>
      env.MEDIC_CERT || env.MEDIC_KEY || env.MEDIC_CA
        ? { certFile: env.MEDIC_CERT, keyFile: env.MEDIC_KEY, caFile: env.MEDIC_CA }
        : undefined,
    () =>
      existing(path.join(user, 'client.pem'))
        ? {
            certFile: path.join(user, 'client.pem'),
            keyFile: path.join(user, 'client-key.pem'),
            caFile: existing(path.join(user, 'ca.pem')),
          }
        : undefined,
    () => {
      // Required only here: finding the state directory (src/paths) costs a client verb about 2 ms.
      const { stateDir } = require('../paths') as typeof import('../paths');
      return existing(stateDir('tls', 'cli.pem'))
        ? { certFile: stateDir('tls', 'cli.pem'), keyFile: stateDir('tls', 'cli-key.pem'), caFile: stateDir('tls', 'ca.pem') }
        : undefined;
    },
  ];
  for (const source of sources) {
    const found = source();
    if (found) return { address, ...found };
  }
  return { address };
}

/** A client, or an error message in one line (unreadable certificate files). */
export function connect(values: CommandContext['values']): CoordinatorClient | string {
  const s = clientSettings(values);
  try {
    return new CoordinatorClient({ ...s, timeoutMs: 15_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return e.code === 'ENOENT' ? `cannot read ${e.path ?? 'a certificate file'}: no such file` : e.message;
  }
}

/** One request to the coordinator; on any failure prints one line (`medic VERB: ...`) and returns the exit code instead. */
export async function callCoordinator(
  ctx: CommandContext,
  verb: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown } | number> {
  const client = connect(ctx.values);
  if (typeof client === 'string') {
    ctx.stderr.write(`medic ${verb}: ${client}\n`);
    return EXIT.failure;
  }
  try {
    const answer = await client.request(method, path, body);
    if (answer.status >= 200 && answer.status < 300) return { status: answer.status, body: answer.body };
    const b = answer.body as { message?: string } | undefined;
    ctx.stderr.write(`medic ${verb}: ${b?.message ?? `HTTP ${answer.status}`} (HTTP ${answer.status})\n`);
    return answer.status >= 500 ? EXIT.unavailable : EXIT.failure;
  } catch (err) {
    ctx.stderr.write(`medic ${verb}: ${(err as Error).message}\n`);
    return EXIT.unavailable;
  } finally {
    client.close();
  }
}
