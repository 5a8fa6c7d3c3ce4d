#!/usr/bin/env bash
# scale.sh — issue 10 §2: does GET /users/me keep its cost as users and
# revocations grow? Four cases, one run, one machine; each starts a fresh
# Gatehouse on a copy of a seeded SQLite database (scripts/seed, cached in
# $CACHE between runs: a million users and a million revocations take
# about 25 s to write), loads it with tokens of many distinct users (a wrk
# Lua script picks one at random per request) and prints req/s, p99, the
# server's resident memory after the load (VmRSS) and how long it took to
# answer /health after it was started.
#
#   scripts/scale.sh [DURATION] [ROUNDS]   # default 10s, 1 round
#
# Env: CACHE (default /tmp/gatehouse-scale), WRK (default wrk -t2 -c32),
# CASES (default "a b c d"), EXTRA (env for every server, e.g.
# "GATEHOUSE_USER_CACHE_SIZE=250000").
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-10s}
ROUNDS=${2:-1}
CACHE=${CACHE:-/tmp/gatehouse-scale}
WRK=${WRK:-wrk -t2 -c32}
SECRET=scale-secret-scale-secret-scale-secret-0123
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -p "$CACHE"
CGO_ENABLED=0 go build -o "$tmp/gatehouse" ./cmd/gatehouse
go build -o "$tmp/seed" ./scripts/seed

db() { # db USERS REVOCATIONS -> path of the cached seeded database
  local f="$CACHE/u$1-r$2.db"
  [ -f "$f" ] || "$tmp/seed" db -path "$f" -users "$1" -revocations "$2" >&2
  echo "$f"
}

cat > "$tmp/me.lua" <<'LUA'
local tokens = {}
function init(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = "Bearer " .. line end
  math.randomseed(os.time() + math.floor(os.clock() * 1e6) + #tokens + tonumber(tostring({}):match("0x(%x+)"), 16) % 1000003)
end
function request()
  return wrk.format("GET", "/users/me", { ["Authorization"] = tokens[math.random(#tokens)] })
end
LUA

rss() { awk '/^VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

run_case() { # run_case LABEL USERS REVOCATIONS TOKEN_USERS
  local label=$1 users=$2 revs=$3 tusers=$4 src addr=127.0.0.1:8500 t0 t1 out
  src=$(db "$users" "$revs")
  rm -f "$tmp"/g.db*
  cp "$src" "$tmp/g.db"
  sync
  t0=$(date +%s%N)
  env GATEHOUSE_ADDR=$addr GATEHOUSE_DATABASE_URL="sqlite:$tmp/g.db" GATEHOUSE_SECRET_KEY=$SECRET \
    GATEHOUSE_ADMIN_USERNAME=admin GATEHOUSE_ADMIN_PASSWORD=scale-admin-password GATEHOUSE_LOGIN_RATE_LIMIT=100000/minute \
    ${EXTRA:-} "$tmp/gatehouse" serve >/dev/null 2>"$tmp/g.log" & pid=$!
  for _ in $(seq 1 3000); do curl -sf "http://$addr/health" >/dev/null 2>&1 && break; sleep 0.01; done
  t1=$(date +%s%N)
  local start_ms=$(( (t1 - t0) / 1000000 ))
  local rss0; rss0=$(rss "$pid")
  local sample
  sample=$(curl -s -X POST "http://$addr/token" -d username=admin -d password=scale-admin-password |
    python3 -c "import sys,json; print(json.load(sys.stdin)['access_token'])")
  "$tmp/seed" mint -secret "$SECRET" -sample "$sample" -users "$tusers" -of "$users" -out "$tmp/tokens"
  "$tmp/seed" warm -url "http://$addr/users/me" -tokens "$tmp/tokens" 2>/dev/null # every token once: the caches hold what they can
  $WRK -d2s -s "$tmp/me.lua" "http://$addr/users/me" -- "$tmp/tokens" >/dev/null
  out=$($WRK -d"$D" --latency -s "$tmp/me.lua" "http://$addr/users/me" -- "$tmp/tokens")
  local r p99 non2xx
  r=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  printf '%-46s %8s req/s  p99 %-8s RSS %4s MiB (idle %s)  start %5s ms%s\n' "$label" "$r" "$p99" "$(rss "$pid")" "$rss0" "$start_ms" \
    "${non2xx:+  NON-2XX: $non2xx}"
  echo "$r" >> "$tmp/rps.$5"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(go version | cut -d' ' -f3); load: $WRK -d$D, Lua token picker"
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round"
  for c in ${CASES:-a b c d}; do
    case $c in
      a) run_case "1k users, 0 revocations, tokens of 1k" 1000 0 1000 a ;;
      b) run_case "1M users, 0 revocations, tokens of 50k" 1000000 0 50000 b ;;
      c) run_case "1M users, 1M revocations, tokens of 50k" 1000000 1000000 50000 c ;;
      d) run_case "1M users, 0 revocations, tokens of 200k" 1000000 0 200000 d ;;
    esac
  done
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
if [ -f "$tmp/rps.a" ]; then
  echo
  for c in b c d; do
    [ -f "$tmp/rps.$c" ] && python3 -c "print(f'case $c vs case a (medians): {$(median "$tmp/rps.$c")/$(median "$tmp/rps.a"):.2f}x')"
  done
fi
true
