// A real OpenID Connect provider for Clearance's tests: node-oidc-provider on 127.0.0.1.
//
// Configured by the environment the test sets:
//   IDP_PORT            the port to listen on (the issuer is http://127.0.0.1:IDP_PORT)
//   IDP_CLIENT          JSON: {client_id, client_secret, redirect_uris, post_logout_redirect_uris, alg}
//   IDP_USERS_FILE      a JSON file {"<login>": {"email", "given_name", "family_name", "groups": [...]}};
//                       read on every claims request, so a test can change a user's groups between logins
// Sign-in uses the package's development interaction pages (any password; the login names the
// account). Consent is given by the provider for this one first-party client, as a company IdP does
// for an application its administrator registered.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const port = Number(process.env.IDP_PORT);
const client = JSON.parse(process.env.IDP_CLIENT);
const usersFile = process.env.IDP_USERS_FILE;
const issuer = `http://127.0.0.1:${port}`;

function signingKey(type, options, alg) {
  const jwk = generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' });
  return { ...jwk, alg, use: 'sig', kid: `test-${alg.toLowerCase()}` };
}

function users() {
  return JSON.parse(readFileSync(usersFile, 'utf8'));
}

const configuration = {
  clients: [{
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    post_logout_redirect_uris: client.post_logout_redirect_uris,
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_post',
    id_token_signed_response_alg: client.alg || 'RS256',
  }],
  jwks: {
    keys: [
      signingKey('rsa', { modulusLength: 2048 }, 'RS256'),
      signingKey('ec', { namedCurve: 'P-256' }, 'ES256'),
    ],
  },
  cookies: { keys: ['clearance-test-idp-cookie-key'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  // Claims of the granted scopes go into the ID token itself, as Entra ID and Okta do for groups;
  // the relying party must still read them from the signed token, not trust anything else.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource(ctx, form) {
        ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign out of the test IdP</title></head>
<body><h1>Sign out of the test IdP?</h1>${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button></body></html>`;
      },
    },
  },
  async findAccount(ctx, id) {
    const user = users()[id];
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        const current = users()[id] || {};
        return {
          sub: `sub-${id}`,
          email: current.email,
          email_verified: true,
          given_name: current.given_name,
          family_name: current.family_name,
          name: [current.given_name, current.family_name].filter(Boolean).join(' '),
          preferred_username: id,
          groups: current.groups || [],
        };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
  ttl: { Session: 3600, Grant: 3600, Interaction: 600, AuthorizationCode: 60, AccessToken: 600, IdToken: 600 },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.on('grant.error', (ctx, err) => console.error('grant.error', err.message, err.error_description || ''));
provider.listen(port, '127.0.0.1', () => console.log(`test IdP listening on ${issuer}`));
