#!/usr/bin/env bash
# smoke.sh BINARY — start the built binary on a fresh database, log in,
# read /users/me, check the token is RS256 and the key set cacheable,
# refresh, log out, check the token is refused, read the OpenID discovery
# document, get a client_credentials token and introspect it, stop it with
# SIGTERM and check it exits cleanly. Exit status 0 only if every step passed.
set -euo pipefail
BIN=${1:?usage: smoke.sh BINARY}
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
pass=0 fail=0
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then pass=$((pass+1)); echo "PASS $1"; else fail=$((fail+1)); echo "FAIL $1: want $2, got $3"; fi
}
json() { python3 -c "import sys,json; print(json.load(sys.stdin).get('$1',''))"; }

GATEHOUSE_ADDR=127.0.0.1:$port GATEHOUSE_DATABASE_URL="sqlite:$dir/smoke.db" \
GATEHOUSE_ADMIN_USERNAME=admin GATEHOUSE_ADMIN_PASSWORD='smoke-test-password-1' \
  "$BIN" serve >"$dir/out.log" 2>"$dir/err.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do curl -sf "$base/health" >/dev/null 2>&1 && break; sleep 0.1; done
check "health" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$base/health")"

tok=$(curl -s -X POST "$base/token" -d username=admin -d 'password=smoke-test-password-1')
at=$(echo "$tok" | json access_token); rt=$(echo "$tok" | json refresh_token)
check "login" "bearer" "$(echo "$tok" | json token_type)"
check "wrong password" 401 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/token" -d username=admin -d password=nope-nope-nope)"
check "users/me" admin "$(curl -s "$base/users/me" -H "Authorization: Bearer $at" | json username)"
check "RS256 by default" RS256 "$(echo "$at" | cut -d. -f1 | python3 -c 'import sys,base64,json; h=sys.stdin.read().strip(); print(json.loads(base64.urlsafe_b64decode(h+"="*(-len(h)%4)))["alg"])')"
check "key set cacheable" "public, max-age=3600" "$(curl -s -D - -o /dev/null "$base/.well-known/jwks.json" | tr -d '\r' | awk -F': ' 'tolower($1)=="cache-control" {print $2}')"
new=$(curl -s -X POST "$base/token/refresh" -H 'Content-Type: application/json' -d "{\"refresh_token\":\"$rt\"}")
at2=$(echo "$new" | json access_token)
check "refresh" admin "$(curl -s "$base/users/me" -H "Authorization: Bearer $at2" | json username)"
check "logout" "Successfully logged out" "$(curl -s -X POST "$base/logout" -H "Authorization: Bearer $at2" | json message)"
check "revoked after logout" 401 "$(curl -s -o /dev/null -w '%{http_code}' "$base/users/me" -H "Authorization: Bearer $at2")"
jar="$dir/jar"
check "login page" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$base/login")"
check "page login" "303 /account" "$(curl -s -c "$jar" -o /dev/null -w '%{http_code} %{redirect_url}' -d username=admin -d 'password=smoke-test-password-1' "$base/login" | sed "s#$base##")"
check "account page" 200 "$(curl -s -b "$jar" -o /dev/null -w '%{http_code}' "$base/account")"
check "sign out" 303 "$(curl -s -b "$jar" -o /dev/null -w '%{http_code}' -X POST "$base/sign-out")"
check "signed out" 303 "$(curl -s -b "$jar" -o /dev/null -w '%{http_code}' "$base/account")"
check "discovery issuer" "$base" "$(curl -s "$base/.well-known/openid-configuration" | json issuer)"
client=$(GATEHOUSE_DATABASE_URL="sqlite:$dir/smoke.db" "$BIN" client create smoke --grant client_credentials --json 2>/dev/null)
cid=$(echo "$client" | json client_id); csec=$(echo "$client" | json client_secret)
ct=$(curl -s -u "$cid:$csec" -d grant_type=client_credentials "$base/token" | json access_token)
check "client_credentials, introspected" True "$(curl -s -u "$cid:$csec" --data-urlencode "token=$ct" "$base/introspect" | json active)"
check "client secret not logged" clean "$(grep -q -- "${csec:-no-secret}" "$dir/err.log" "$dir/out.log" && echo leaked || echo clean)"
check "bad config exits 2" 2 "$(GATEHOUSE_ACCESS_TOKEN_TTL=banana "$BIN" serve >/dev/null 2>&1; echo $?)"

kill -TERM $pid
status=0; wait $pid || status=$?
[ "$status" = 0 ] || tail -5 "$dir/err.log"
check "clean shutdown" 0 "$status"
if grep -q 'smoke-test-password-1' "$dir/err.log" "$dir/out.log"; then check "password not logged" clean leaked; else check "password not logged" clean clean; fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
