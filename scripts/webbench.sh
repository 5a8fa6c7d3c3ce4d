#!/usr/bin/env bash
# The pages' weight and speed (README: Pages and browser sessions): builds
# Gatehouse, starts it on a fresh SQLite database, signs in through the
# login page and POST /token, then measures with wrk (-t2 -c32): GET /login,
# GET /account with the session cookie, and /auth/verify with the cookie
# and with a Bearer token, alternated ROUNDS times.
# Usage: scripts/webbench.sh [DURATION] (default 8s; ROUNDS=3).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
dur=${1:-8s}
rounds=${ROUNDS:-3}
dir=$(mktemp -d)
go build -o "$dir/gatehouse" ./cmd/gatehouse
addr=127.0.0.1:$((20000 + RANDOM % 10000))
(cd "$dir" && GATEHOUSE_ADDR=$addr GATEHOUSE_ADMIN_PASSWORD=webbench-admin-password \
  GATEHOUSE_LOGIN_RATE_LIMIT=100000/minute GATEHOUSE_LOG_LEVEL=warn exec ./gatehouse serve >"$dir/log" 2>&1) &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do curl -sf "http://$addr/health" >/dev/null && break; sleep 0.1; done
base=http://$addr
curl -s -c "$dir/jar" -o /dev/null -d username=admin -d password=webbench-admin-password "$base/login"
cookie=$(awk '$6=="gatehouse"{print $7}' "$dir/jar")
token=$(curl -s -d username=admin -d password=webbench-admin-password "$base/token" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')

echo "== weight of /login with everything it loads"
total=0
for u in /login /static/style.css /static/app.js; do
  n=$(curl -s -o /dev/null -w '%{size_download}' "$base$u"); total=$((total + n)); echo "$u $n bytes"
done
echo "total $total bytes"

w() { wrk -t2 -c32 -d"$1" --latency "${@:2}" | awk '/Requests\/sec/{r=$2} / 50%/{a=$2} / 99%/{b=$2} /Non-2xx/{n=" "$0} END{print r" req/s, p50 "a", p99 "b n}'; }
echo "== wrk -t2 -c32 -d$dur"
echo "GET /health              $(w "$dur" "$base/health")"
echo "GET /login               $(w "$dur" "$base/login")"
echo "GET /account (cookie)    $(w "$dur" -H "Cookie: gatehouse=$cookie" "$base/account")"
for i in $(seq 1 "$rounds"); do
  b=$(w 5s -H "Authorization: Bearer $token" "$base/auth/verify?scope=read:items")
  c=$(w 5s -H "Cookie: gatehouse=$cookie" "$base/auth/verify?scope=read:items")
  echo "round $i /auth/verify Bearer $b"
  echo "round $i /auth/verify cookie $c  ratio $(awk -v c="${c%% *}" -v b="${b%% *}" 'BEGIN{printf "%.2f", c/b}')"
done
