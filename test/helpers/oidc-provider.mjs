// A real OpenID Connect provider (the oidc-provider package) on loopback, for the console's
// sign-in tests. It listens on port 0 and prints {"port": N}; then it reads one JSON line on
// stdin, {"redirect_uris": [...]}, builds its one client and prints {"ready": true, "issuer"}.
// Accounts: any login name; its "groups" claim comes from GROUPS below (unknown names: none).
import * as http from 'node:http';
import * as readline from 'node:readline';
import Provider from 'oidc-provider';

export const CLIENT_ID = 'medic-console';
export const CLIENT_SECRET = 'console-test-secret-0123456789abcdef';
const GROUPS = { alice: ['sre', 'staff'], mallory: ['guests'] };

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;
process.stdout.write(JSON.stringify({ port }) + '\n');

const lines = readline.createInterface({ input: process.stdin });
const first = await new Promise((resolve) => lines.once('line', resolve));
const { redirect_uris: redirectUris } = JSON.parse(first);

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'], groups: ['groups'] },
  scopes: ['openid', 'profile', 'groups'],
  // Scope claims in the ID token itself: the console reads the ID token only.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  cookies: { keys: ['console-test-cookie-key'] },
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: id, preferred_username: id, groups: GROUPS[id] ?? [] };
      },
    };
  },
});
// Quiet: the dev interactions and dev keys warn on every start.
provider.on('server_error', (_ctx, err) => process.stderr.write(`oidc-provider: ${err.message}\n`));
server.on('request', provider.callback());
process.stdout.write(JSON.stringify({ ready: true, issuer }) + '\n');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
