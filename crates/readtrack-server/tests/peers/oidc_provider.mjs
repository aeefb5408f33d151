// A real OpenID Provider for readtrack's sign-in tests (oidc-provider 9.x, ESM, Node >= 20).
//
// Env:
//   PORT                     listen port on 127.0.0.1 (issuer = http://127.0.0.1:PORT)
//   OIDC_CLIENT_ID           static client id
//   OIDC_CLIENT_SECRET       static client secret (client_secret_basic)
//   OIDC_REDIRECT_URIS       space- or comma-separated redirect URIs (exact match)
//   OIDC_USER_LOGIN          the only login accepted on the dev login form
//   OIDC_USER_PASSWORD       if set, the password that must go with it (devInteractions alone ignore it)
//   OIDC_USER_SUB            sub claim           (default: OIDC_USER_LOGIN)
//   OIDC_USER_EMAIL          email claim         (default: OIDC_USER_LOGIN)
//   OIDC_DEVICE_FLOW=1       also enable the device authorization grant (RFC 8628)
//   OIDC_AUTO_CONSENT=1      skip the consent screen (login form only)
//
// Run: node oidc_provider.mjs   (prints "ready <issuer>" on stdout once listening)
import Provider from 'oidc-provider';

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) { console.error(`missing env ${k}`); process.exit(2); }
  return v;
};

const port = Number(env('PORT'));
const issuer = `http://127.0.0.1:${port}`;
const login = env('OIDC_USER_LOGIN');
const user = {
  login,
  sub: env('OIDC_USER_SUB', login),
  email: env('OIDC_USER_EMAIL', login),
};
const deviceFlow = process.env.OIDC_DEVICE_FLOW === '1';

const grantTypes = ['authorization_code', 'refresh_token'];
if (deviceFlow) grantTypes.push('urn:ietf:params:oauth:grant-type:device_code');

const configuration = {
  clients: [{
    client_id: env('OIDC_CLIENT_ID'),
    client_secret: env('OIDC_CLIENT_SECRET'),
    redirect_uris: env('OIDC_REDIRECT_URIS').split(/[\s,]+/).filter(Boolean),
    grant_types: grantTypes,
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  // Default only forces PKCE for public clients (token_endpoint_auth_method=none).
  // Force it for every client. Only S256 is supported by oidc-provider.
  pkce: { required: () => true },
  // Scope -> claims mapping. Without "email" here, scope=email yields nothing.
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
  },
  // Default true: with response_type=code the scope-derived claims (email, ...) go
  // only to /me (userinfo), NOT into the id_token. false puts them in the id_token too.
  conformIdTokenClaims: false,
  // accountId is whatever was typed into the dev login form's "login" field.
  async findAccount(ctx, id) {
    if (id !== user.login && id !== user.sub) return undefined;
    return {
      accountId: user.sub,
      async claims() {
        return { sub: user.sub, email: user.email, email_verified: true };
      },
    };
  },
  features: {
    devInteractions: { enabled: true }, // built-in login + consent HTML forms (default: enabled)
    deviceFlow: { enabled: deviceFlow },
    revocation: { enabled: true },
  },
  // Fixed keys so the dev-only "cookie keys" warning goes away; fine for tests.
  cookies: { keys: ['test-only-cookie-key-1'] },
  ttl: { Session: 3600, Interaction: 600, Grant: 3600 },
};

if (process.env.OIDC_AUTO_CONSENT === '1') {
  // Grant everything requested without showing the consent form.
  configuration.loadExistingGrant = async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.params.scope ?? 'openid');
    await grant.save();
    return grant;
  };
}

const provider = new Provider(issuer, configuration);

// Credential check in front of devInteractions' login submit: a wrong login/password
// finishes the interaction with access_denied, i.e. the browser ends up at
// redirect_uri?error=access_denied&error_description=invalid+credentials&state=..
// (devInteractions itself accepts ANY login and ignores the password; an unknown login
// would then make findAccount return undefined and the provider answer 500.)
const password = process.env.OIDC_USER_PASSWORD;
provider.use(async (ctx, next) => {
  if (ctx.method !== 'POST' || !/^\/interaction\/[^/]+$/.test(ctx.path)) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res).catch(() => null);
  if (!details || details.prompt.name !== 'login') return next();
  let raw = '';
  for await (const chunk of ctx.req) raw += chunk;
  const form = new URLSearchParams(raw);
  const ok = form.get('login') === user.login
    && (password === undefined || form.get('password') === password);
  const result = ok
    ? { login: { accountId: user.sub } } // findAccount answers with the sub: they must agree
    : { error: 'access_denied', error_description: 'invalid credentials' };
  await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
const stop = () => { server.closeAllConnections(); process.exit(0); }; // in-memory state only: nothing to flush
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
