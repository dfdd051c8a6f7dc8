// A real OAuth 2.0 / OpenID Connect authorization server for Weft's integration tests:
// panva's certified `oidc-provider` (pinned in package-lock.json), on 127.0.0.1.
//
//   node tests/oidc/server.js [PORT]      (or PORT in the environment; 0 or none: any free port)
//
// Prints `listening PORT` on stdout once it accepts connections, and stops when stdin closes or
// on SIGTERM/SIGINT (so a test that dies doesn't leave it running).
//
// Clients (secrets are test fixtures, not credentials):
// - `weft-post`   confidential, client_secret_post,  client_credentials, scopes api:read api:write
// - `weft-basic`  confidential, client_secret_basic, client_credentials, scopes api:read api:write
// - `weft-cli`    public (PKCE S256), authorization_code + refresh_token, native loopback redirect
//                 `http://127.0.0.1/callback` (any port, RFC 8252 §7.3), refresh tokens rotate
// - `weft-cli-short`  like weft-cli, but its refresh tokens live 3 seconds (expiry tests)
//
// Sign-in uses oidc-provider's built-in development login and consent pages (devInteractions):
// any login and password are accepted.

import * as http from 'node:http';
import Provider from 'oidc-provider';

const SHORT_REFRESH_SECONDS = 3;

const requested = Number(process.argv[2] ?? process.env.PORT ?? 0);
if (!Number.isInteger(requested) || requested < 0 || requested > 65535) {
  console.error(`bad port: ${process.argv[2] ?? process.env.PORT}`);
  process.exit(2);
}

const server = http.createServer();
server.listen(requested, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  // `api:admin` is a scope the server knows but grants to no client (invalid_scope tests).
  const scopes = ['openid', 'offline_access', 'api:read', 'api:write', 'api:admin'];
  const machine = (id, secret, method) => ({
    client_id: id,
    client_secret: secret,
    token_endpoint_auth_method: method,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: 'api:read api:write',
  });
  const native = (id) => ({
    client_id: id,
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/callback'],
    scope: 'openid offline_access api:read api:write',
  });
  const provider = new Provider(issuer, {
    clients: [
      machine('weft-post', 'weft-post-secret-0123456789', 'client_secret_post'),
      machine('weft-basic', 'weft-basic-secret/with+odd&chars=', 'client_secret_basic'),
      native('weft-cli'),
      native('weft-cli-short'),
    ],
    scopes,
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
    },
    cookies: { keys: ['weft-oidc-test-cookie-key'] },
    pkce: { methods: ['S256'], required: () => true },
    // Entra ID and most OAuth 2.0 servers hand out refresh tokens to a client allowed the
    // grant when `offline_access` is asked for, without OpenID Connect's extra rule (Core §11)
    // that `prompt=consent` must be sent too, which oidc-provider enforces by dropping
    // `offline_access` from the request. Issue them to any client allowed the refresh grant,
    // and don't tie them to the browser session.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: async () => false,
    rotateRefreshToken: true,
    ttl: {
      AccessToken: 300,
      ClientCredentials: 300,
      RefreshToken: (_ctx, _token, client) =>
        client.clientId === 'weft-cli-short' ? SHORT_REFRESH_SECONDS : 24 * 60 * 60,
    },
  });
  provider.on('server_error', (_ctx, err) => console.error('server_error', err));
  server.on('request', provider.callback());
  process.stdout.write(`listening ${port}\n`);
});

const stop = () => {
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
