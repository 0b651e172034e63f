// Starts the real OIDC provider of test/helpers/oidc-provider.mjs (oidc-provider on loopback)
// and tells it, once the coordinator listens, where to send browsers back.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

export const OIDC_CLIENT_ID = 'medic-console';
export const OIDC_CLIENT_SECRET = 'console-test-secret-0123456789abcdef';

export interface OidcProvider {
  issuer: string;
  /** Registers the client's redirect URIs; resolves when the provider answers. */
  configure(redirectUris: string[]): Promise<void>;
  output(): string;
  stop(): Promise<void>;
}

export async function startOidcProvider(): Promise<OidcProvider> {
  const child: ChildProcess = spawn(process.execPath, [path.join(__dirname, 'oidc-provider.mjs')], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const lines = readline.createInterface({ input: child.stdout! });
  const next = (): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const onExit = (): void => reject(new Error(`the OIDC provider exited:\n${out}`));
      child.once('exit', onExit);
      lines.once('line', (line) => {
        child.off('exit', onExit);
        out += `${line}\n`;
        resolve(JSON.parse(line) as Record<string, unknown>);
      });
    });
  const { port } = await next();
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    issuer: `http://127.0.0.1:${String(port)}`,
    async configure(redirectUris) {
      const ready = next();
      child.stdin!.write(JSON.stringify({ redirect_uris: redirectUris }) + '\n');
      await ready;
    },
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await gone;
    },
  };
}
