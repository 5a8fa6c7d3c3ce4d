#!/usr/bin/env bash
# loginflood.sh — issue 10 §3: a login flood must not starve verification.
# For each number of hash workers (GATEHOUSE_HASH_WORKERS) in WORKERS, one
# Gatehouse on SQLite; GET /users/me with 4 connections alone (idle), then
# the same while 64 connections hammer POST /token with a right password
# (argon2id each; the login rate limit is lifted so every one is hashed).
# Prints req/s and p99 of /users/me in both, their ratios, and the logins
# that got through.
#
#   scripts/loginflood.sh [DURATION] [ROUNDS]   # default 10s, 1 round
#
# Env: WORKERS (default "1 2"), EXTRA (env for every server).
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-10s}
ROUNDS=${2:-1}
tmp=$(mktemp -d)
pid=
flood=
cleanup() {
  [ -n "$flood" ] && kill "$flood" 2>/dev/null
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
CGO_ENABLED=0 go build -o "$tmp/gatehouse" ./cmd/gatehouse
cat > "$tmp/login.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "username=alice&password=alice-flood-password"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
field() { awk -v k="$1" '$1==k {print $2}'; }
rps() { awk '/Requests\/sec/ {printf "%.0f", $2}'; }
ms() { # a wrk latency (1.23ms, 456.00us, 1.2s) in ms
  python3 -c "import sys; v=sys.argv[1]; print(round(float(v[:-2])/1000 if v.endswith('us') else float(v[:-2]) if v.endswith('ms') else float(v[:-1])*1000, 2))" "$1"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "verification: wrk -t1 -c4 -d$D GET /users/me; flood: wrk -t1 -c64 POST /token (argon2id, m=19 MiB)"
for round in $(seq 1 "$ROUNDS"); do
  for w in ${WORKERS:-1 2}; do
    rm -f "$tmp"/g.db*
    addr=127.0.0.1:8520
    env GATEHOUSE_ADDR=$addr GATEHOUSE_DATABASE_URL="sqlite:$tmp/g.db" GATEHOUSE_ADMIN_USERNAME=alice \
      GATEHOUSE_ADMIN_PASSWORD=alice-flood-password GATEHOUSE_LOGIN_RATE_LIMIT=1000000/minute \
      GATEHOUSE_SECRET_KEY=flood-secret-flood-secret-flood-secret-0123 GATEHOUSE_HASH_WORKERS="$w" \
      ${EXTRA:-} "$tmp/gatehouse" serve >/dev/null 2>"$tmp/g.log" & pid=$!
    for _ in $(seq 1 300); do curl -sf "http://$addr/health" >/dev/null 2>&1 && break; sleep 0.05; done
    tok=$(curl -s -X POST "http://$addr/token" -d username=alice -d password=alice-flood-password |
      python3 -c "import sys,json; print(json.load(sys.stdin)['access_token'])")
    me() { wrk -t1 -c4 -d"$D" --latency -H "Authorization: Bearer $tok" "http://$addr/users/me"; }
    wrk -t1 -c4 -d2s -H "Authorization: Bearer $tok" "http://$addr/users/me" >/dev/null # warm-up
    idle=$(me)
    wrk -t1 -c64 -d"$(( ${D%s} + 4 ))s" --timeout 10s -s "$tmp/login.lua" "http://$addr/token" > "$tmp/flood.out" & flood=$!
    sleep 2 # the flood at full strength first
    busy=$(me)
    wait "$flood"; flood=
    ir=$(echo "$idle" | rps); br=$(echo "$busy" | rps)
    ip=$(ms "$(echo "$idle" | field 99%)"); bp=$(ms "$(echo "$busy" | field 99%)")
    logins=$(rps < "$tmp/flood.out")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$tmp/flood.out")
    printf 'hash workers %s: /users/me idle %6s req/s p99 %6s ms | under flood %6s req/s p99 %6s ms | throughput %.2fx, p99 %.1fx | logins %s/s%s\n' \
      "$w" "$ir" "$ip" "$br" "$bp" "$(python3 -c "print($br/$ir)")" "$(python3 -c "print($bp/$ip)")" "$logins" \
      "${non2xx:+ ($non2xx refused)}"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  done
done
