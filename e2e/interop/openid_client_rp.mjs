// A relying party written with openid-client (npm, v6): the authorization
// code flow with PKCE S256 against Gatehouse, as a Node web application
// would run it.
//
// Usage: node openid_client_rp.mjs ISSUER CLIENT_ID CLIENT_SECRET
// (beside the node_modules that holds openid-client)
//
// It listens on a loopback port, prints the authorization URL on its
// first line and, once the browser comes back to /callback, prints
// "ok SUB" (or "fail REASON") and exits. openid-client checks state,
// RFC 9207 iss (the server says it sends it), the ID token's iss, aud,
// exp, iat and nonce; client_secret_post is its default authentication.
import * as oidc from 'openid-client';
import http from 'node:http';

const [issuer, clientId, clientSecret] = process.argv.slice(2);
// The tests' issuer is plain http on loopback.
const config = await oidc.discovery(new URL(issuer), clientId, clientSecret, undefined,
  { execute: [oidc.allowInsecureRequests] });
const verifier = oidc.randomPKCECodeVerifier();
const challenge = await oidc.calculatePKCECodeChallenge(verifier);
const state = oidc.randomState();
const nonce = oidc.randomNonce();
let redirectURI;

async function finish(current) {
  const tokens = await oidc.authorizationCodeGrant(config, current,
    { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
  const claims = tokens.claims();
  if (claims.iss !== issuer || claims.aud !== clientId && !(Array.isArray(claims.aud) && claims.aud.includes(clientId))) {
    throw new Error(`claims ${JSON.stringify(claims)}`);
  }
  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  if (!tokens.refresh_token) throw new Error('no refresh token with offline_access');
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  if (!refreshed.access_token || refreshed.refresh_token === tokens.refresh_token) {
    throw new Error(`refresh: ${JSON.stringify(refreshed)}`);
  }
  return `${claims.sub} ${info.sub}`;
}

const server = http.createServer(async (req, res) => {
  let line;
  try {
    line = 'ok ' + await finish(new URL(req.url, redirectURI));
    res.statusCode = 200;
  } catch (e) {
    line = `fail ${e.name} ${e.code ?? ''} ${String(e.message).replace(/\n/g, ' ')} ${e.cause ? JSON.stringify(e.cause) : ''}`;
    res.statusCode = 500;
  }
  res.setHeader('Content-Type', 'text/plain');
  res.end(line);
  console.log(line);
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  redirectURI = `http://127.0.0.1:${server.address().port}/callback`;
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectURI, scope: 'openid profile email offline_access',
    code_challenge: challenge, code_challenge_method: 'S256', state, nonce,
  });
  console.log(url.href);
});
