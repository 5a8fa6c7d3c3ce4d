"""A relying party written with Authlib (Debian's python3-authlib): the
authorization code flow with PKCE S256 against Gatehouse, as a Python web
application would run it.

Usage: authlib_rp.py ISSUER CLIENT_ID CLIENT_SECRET

It listens on a loopback port, prints the authorization URL to open on
its first line, and, once the browser comes back to /callback, prints
"ok SUB" (or "fail REASON") and exits. Everything it checks is checked by
Authlib itself where Authlib can: state, the token exchange with
client_secret_basic and the code_verifier, the ID token's signature
against the JWKS, iss, aud, exp, nonce and at_hash (CodeIDToken);
RFC 9207's iss, which this Authlib does not know, by hand.
"""
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

issuer, client_id, client_secret = sys.argv[1:4]
meta = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
if meta["issuer"] != issuer:
    print("fail issuer", meta["issuer"], flush=True)
    sys.exit(1)

result = {}


class Callback(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        try:
            result["line"] = "ok " + finish(self.path)
            self.send_response(200)
        except Exception as e:  # reported to the test, which fails
            result["line"] = "fail %s %s" % (type(e).__name__, str(e).replace("\n", " "))
            self.send_response(500)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(result["line"].encode())
        threading.Thread(target=server.shutdown).start()


server = HTTPServer(("127.0.0.1", 0), Callback)
redirect_uri = "http://127.0.0.1:%d/callback" % server.server_port
session = OAuth2Session(client_id, client_secret, scope="openid profile email offline_access",
                        redirect_uri=redirect_uri, code_challenge_method="S256",
                        token_endpoint_auth_method="client_secret_basic")
verifier = generate_token(48)
nonce = generate_token(20)
url, state = session.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)


def finish(path):
    full = redirect_uri.rsplit("/", 1)[0] + path
    q = parse_qs(urlparse(full).query)
    if q.get("iss") != [issuer]:
        raise ValueError("RFC 9207 iss %r" % q.get("iss"))
    token = session.fetch_token(meta["token_endpoint"], authorization_response=full, code_verifier=verifier, state=state)
    keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    claims = jwt.decode(token["id_token"], keys, claims_cls=CodeIDToken,
                        claims_options={"iss": {"essential": True, "value": issuer}},
                        claims_params={"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]})
    claims.validate(leeway=30)
    info = session.get(meta["userinfo_endpoint"]).json()
    if info.get("sub") != claims["sub"]:
        raise ValueError("userinfo sub %r, ID token sub %r" % (info.get("sub"), claims["sub"]))
    if not token.get("refresh_token"):
        raise ValueError("no refresh token with offline_access")
    refreshed = session.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    if not refreshed.get("access_token") or refreshed.get("refresh_token") == token["refresh_token"]:
        raise ValueError("refresh: %r" % refreshed)
    return claims["sub"]


print(url, flush=True)
server.serve_forever()
print(result.get("line", "fail no callback"), flush=True)
