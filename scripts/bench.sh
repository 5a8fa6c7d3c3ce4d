#!/usr/bin/env bash
# bench.sh — the load comparison behind the README's performance section, in
# one run on one machine: Gatehouse's GET /users/me (HS256 and RS256 tokens)
# against its own GET /health, against the naive Go port of the guide and
# against the guide's FastAPI code (2 workers). Needs wrk (apt-get install wrk); the
# FastAPI peer needs ../shared/peers/fastapi-seed/install.sh once.
#
#   scripts/bench.sh [DURATION]      # default 10s per run
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-10s}
WRK="wrk -t2 -c32 -d$D --latency"
PEERS=${PEERS:-../shared/peers}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
json() { python3 -c "import sys,json; print(json.load(sys.stdin)['$1'])"; }
# wait_up URL [TRIES]: 20 s by default; the peers build and seed (bcrypt cost 12) first: 2 min.
wait_up() { for _ in $(seq 1 "${2:-200}"); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }
rps() { awk '/Requests\/sec/ {print $2}'; }
run() { # run NAME URL [HEADER]
  local out
  if [ -n "${3:-}" ]; then out=$($WRK -H "$3" "$2"); else out=$($WRK "$2"); fi
  local r p50 p99
  r=$(echo "$out" | rps); p50=$(echo "$out" | awk '$1=="50%" {print $2}'); p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  printf '%-44s %10s req/s   p50 %-9s p99 %s\n' "$1" "$r" "$p50" "$p99"
  printf "%s" "$r" > "$tmp/$(printf "%s" "$1" | tr -c "a-zA-Z0-9" _)"
}
ratio() { python3 -c "print(f'{float(open(\"$tmp/$1\").read())/float(open(\"$tmp/$2\").read()):.1f}x')"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(go version | cut -d' ' -f3)"
echo "load: $WRK (wrk, the servers and any Redis share the machine)"
echo

# Gatehouse, signing HS256 (a configured secret), and a second one signing
# RS256 (the default without one), each on its own SQLite file.
CGO_ENABLED=0 go build -o "$tmp/gatehouse" ./cmd/gatehouse
GATEHOUSE_ADDR=127.0.0.1:8100 GATEHOUSE_DATABASE_URL="sqlite:$tmp/g.db" GATEHOUSE_ADMIN_USERNAME=alice \
  GATEHOUSE_ADMIN_PASSWORD='alice-bench-password' GATEHOUSE_LOGIN_RATE_LIMIT=100000/minute \
  GATEHOUSE_SECRET_KEY=bench-secret-bench-secret-bench-secret-0123 \
  "$tmp/gatehouse" serve >/dev/null 2>"$tmp/g.log" & pids+=($!)
mkdir -p "$tmp/rs"
GATEHOUSE_ADDR=127.0.0.1:8110 GATEHOUSE_DATABASE_URL="sqlite:$tmp/rs/g.db" GATEHOUSE_ADMIN_USERNAME=alice \
  GATEHOUSE_ADMIN_PASSWORD='alice-bench-password' GATEHOUSE_LOGIN_RATE_LIMIT=100000/minute GATEHOUSE_SIGNING_ALG=RS256 \
  "$tmp/gatehouse" serve >/dev/null 2>"$tmp/rs.log" & pids+=($!)
wait_up http://127.0.0.1:8100/health
wait_up http://127.0.0.1:8110/health
GTOK=$(curl -s -X POST http://127.0.0.1:8100/token -d username=alice -d password=alice-bench-password | json access_token)
RTOK=$(curl -s -X POST http://127.0.0.1:8110/token -d username=alice -d password=alice-bench-password | json access_token)

# naive Go port (Redis EXISTS + JWT + SQLite SELECT per request)
"$PEERS/naive-go/run.sh" 8300 >/dev/null 2>"$tmp/n.log" & pids+=($!)
wait_up http://127.0.0.1:8300/health 1200
NTOK=$(curl -s -X POST http://127.0.0.1:8300/token -d username=alice -d password=alicepass | json access_token)

# FastAPI peer, 2 workers
FAST=0
if /usr/bin/python3 -c 'import fastapi, uvicorn, jose, passlib' 2>/dev/null; then
  "$PEERS/fastapi-seed/run.sh" 8400 2 >/dev/null 2>"$tmp/f.log" & pids+=($!)
  wait_up http://127.0.0.1:8400/docs 1200 && FAST=1
  FTOK=$(curl -s -X POST http://127.0.0.1:8400/token -d username=alice -d password=alicepass | json access_token)
fi

# An API key and an item for GET /items.
GKEY=$(curl -s -X POST http://127.0.0.1:8100/api-keys -H "Authorization: Bearer $GTOK" -H 'Content-Type: application/json' -d '{"name":"bench"}' | json key)
curl -s -X POST http://127.0.0.1:8100/items -H "Authorization: Bearer $GTOK" -H 'Content-Type: application/json' -d '{"name":"widget","price":1.5}' >/dev/null
cat > "$tmp/login.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "username=alice&password=alice-bench-password"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
sed 's/alice-bench-password/alicepass/' "$tmp/login.lua" > "$tmp/peerlogin.lua" # the peers' seeded password

run "gatehouse GET /health" http://127.0.0.1:8100/health
run "gatehouse GET /users/me" http://127.0.0.1:8100/users/me "Authorization: Bearer $GTOK"
run "gatehouse (RS256) GET /health" http://127.0.0.1:8110/health
run "gatehouse (RS256) GET /users/me" http://127.0.0.1:8110/users/me "Authorization: Bearer $RTOK"
run "gatehouse GET /items (token)" http://127.0.0.1:8100/items "Authorization: Bearer $GTOK"
run "gatehouse GET /items (API key)" http://127.0.0.1:8100/items "X-API-Key: $GKEY"
run "gatehouse GET /auth/verify (forward auth)" "http://127.0.0.1:8100/auth/verify?scope=read:items" "Authorization: Bearer $GTOK"
printf '%-44s %10s req/s\n' "gatehouse POST /token (argon2id login)" "$($WRK -s "$tmp/login.lua" http://127.0.0.1:8100/token | rps)"
run "naive-go GET /users/me" http://127.0.0.1:8300/users/me "Authorization: Bearer $NTOK"
printf '%-44s %10s req/s\n' "naive-go POST /token (bcrypt cost 12)" "$($WRK -s "$tmp/peerlogin.lua" http://127.0.0.1:8300/token | rps)"
[ "$FAST" = 1 ] && run "fastapi (2 workers) GET /users/me" http://127.0.0.1:8400/users/me "Authorization: Bearer $FTOK"
[ "$FAST" = 1 ] && printf '%-44s %10s req/s\n' "fastapi (2 workers) POST /token (bcrypt 12)" "$($WRK -s "$tmp/peerlogin.lua" http://127.0.0.1:8400/token | rps)"
echo
echo "gatehouse /users/me vs its own /health: $(ratio gatehouse_GET__users_me gatehouse_GET__health)"
echo "the same, RS256 tokens:                 $(ratio gatehouse__RS256__GET__users_me gatehouse__RS256__GET__health)"
echo "gatehouse /users/me vs naive-go:        $(ratio gatehouse_GET__users_me naive_go_GET__users_me)"
echo "gatehouse /auth/verify vs naive-go:     $(ratio gatehouse_GET__auth_verify__forward_auth_ naive_go_GET__users_me)"
[ "$FAST" = 1 ] && echo "gatehouse /users/me vs fastapi:         $(ratio gatehouse_GET__users_me fastapi__2_workers__GET__users_me)"

# The ratio that matters most, /users/me against /health, on a shared box
# whose speed drifts between runs: alternate the two ROUNDS times (default
# 3, 5 s each) and take the median of the per-round ratios.
echo
alternate() { # alternate PORT TOKEN LABEL
  local ratios=() h m
  for _ in $(seq 1 "${ROUNDS:-3}"); do
    h=$(wrk -t2 -c32 -d5s "http://127.0.0.1:$1/health" | rps)
    m=$(wrk -t2 -c32 -d5s -H "Authorization: Bearer $2" "http://127.0.0.1:$1/users/me" | rps)
    ratios+=("$(python3 -c "print(f'{$m/$h:.2f}')")")
  done
  echo "alternated /users/me vs /health, $3, per round: ${ratios[*]}; median $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')x"
}
alternate 8100 "$GTOK" HS256
alternate 8110 "$RTOK" RS256

# Two instances on PostgreSQL and Redis (MULTI=1; needs both running).
if [ "${MULTI:-0}" = 1 ]; then
  echo
  PG=${GATEHOUSE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
  RD=${GATEHOUSE_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}
  schema=gh_bench_$$
  psql "$PG" -q -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema"
  for port in 8101 8102; do
    GATEHOUSE_ADDR=127.0.0.1:$port GATEHOUSE_DATABASE_URL="$PG&search_path=$schema" GATEHOUSE_REDIS_URL="$RD" \
      GATEHOUSE_REDIS_PREFIX="bench$$:" GATEHOUSE_SECRET_KEY=bench-secret-bench-secret-bench-secret-0123 \
      GATEHOUSE_ADMIN_USERNAME=alice GATEHOUSE_ADMIN_PASSWORD='alice-bench-password' GATEHOUSE_LOGIN_RATE_LIMIT=100000/minute \
      "$tmp/gatehouse" serve >/dev/null 2>"$tmp/m$port.log" & pids+=($!)
    wait_up http://127.0.0.1:$port/health
  done
  MTOK=$(curl -s -X POST http://127.0.0.1:8101/token -d username=alice -d password=alice-bench-password | json access_token)
  W2="wrk -t1 -c16 -d$D"
  one=$($WRK -H "Authorization: Bearer $MTOK" http://127.0.0.1:8101/users/me | rps)
  two=$( ( $W2 -H "Authorization: Bearer $MTOK" http://127.0.0.1:8101/users/me | rps & \
           $W2 -H "Authorization: Bearer $MTOK" http://127.0.0.1:8102/users/me | rps; wait ) | awk '{s+=$1} END {printf "%.2f", s}')
  l1=$($WRK -s "$tmp/login.lua" http://127.0.0.1:8101/token | rps)
  l2=$( ( $W2 -s "$tmp/login.lua" http://127.0.0.1:8101/token | rps & \
          $W2 -s "$tmp/login.lua" http://127.0.0.1:8102/token | rps; wait ) | awk '{s+=$1} END {printf "%.2f", s}')
  printf '%-44s %10s req/s\n' "postgres+redis, 1 instance: GET /users/me" "$one" "postgres+redis, 2 instances: GET /users/me" "$two" \
    "postgres+redis, 1 instance: POST /token" "$l1" "postgres+redis, 2 instances: POST /token" "$l2"
  psql "$PG" -q -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS $schema CASCADE"
fi
true
