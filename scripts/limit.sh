#!/usr/bin/env bash
# limit.sh — issue 10 §4: how close is Gatehouse to bare net/http? One run
# starts a bare net/http handler (scripts/bare) and Gatehouse on SQLite
# (HS256), then loads, in turn and ROUNDS times over, the bare handler,
# Gatehouse's GET /health and GET /users/me with a token (wrk -t2 -c32, D
# each), and prints each round and the medians of the ratios to bare.
#
#   scripts/limit.sh [DURATION] [ROUNDS]   # default 5s, 5 rounds
#
# REV (a commit) builds Gatehouse from that commit instead, to compare.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-5s}
ROUNDS=${2:-5}
REV=${REV:-}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
if [ -n "$REV" ]; then
  git worktree add -q --detach "$tmp/src" "$REV"
  (cd "$tmp/src" && CGO_ENABLED=0 go build -o "$tmp/gatehouse" ./cmd/gatehouse)
  git worktree remove --force "$tmp/src"
else
  CGO_ENABLED=0 go build -o "$tmp/gatehouse" ./cmd/gatehouse
fi
CGO_ENABLED=0 go build -o "$tmp/bare" ./scripts/bare
"$tmp/bare" -addr 127.0.0.1:8600 & pids+=($!)
GATEHOUSE_ADDR=127.0.0.1:8610 GATEHOUSE_DATABASE_URL="sqlite:$tmp/g.db" GATEHOUSE_ADMIN_USERNAME=alice \
  GATEHOUSE_ADMIN_PASSWORD=alice-limit-password GATEHOUSE_SECRET_KEY=limit-secret-limit-secret-limit-secret-0123 \
  "$tmp/gatehouse" serve >/dev/null 2>"$tmp/g.log" & pids+=($!)
for u in http://127.0.0.1:8600/ http://127.0.0.1:8610/health; do
  for _ in $(seq 1 200); do curl -sf "$u" >/dev/null 2>&1 && break; sleep 0.05; done
done
TOK=$(curl -s -X POST http://127.0.0.1:8610/token -d username=alice -d password=alice-limit-password |
  python3 -c "import sys,json; print(json.load(sys.stdin)['access_token'])")
rps() { awk '/Requests\/sec/ {printf "%.0f", $2}'; }
load() { wrk -t2 -c32 -d"$D" "$@" | rps; }
bytes() { curl -s -o /dev/null -w '%{size_header}+%{size_download}' "$@"; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "gatehouse: ${REV:-working tree}; wrk -t2 -c32 -d$D, $ROUNDS rounds"
echo "bytes per response (headers+body): bare $(bytes http://127.0.0.1:8600/), /health $(bytes http://127.0.0.1:8610/health)," \
  "/users/me $(bytes -H "Authorization: Bearer $TOK" http://127.0.0.1:8610/users/me)"
load -d2s http://127.0.0.1:8610/health >/dev/null # warm-up
hs=() ms=()
for round in $(seq 1 "$ROUNDS"); do
  b=$(load http://127.0.0.1:8600/)
  h=$(load http://127.0.0.1:8610/health)
  m=$(load -H "Authorization: Bearer $TOK" http://127.0.0.1:8610/users/me)
  hs+=("$(python3 -c "print(f'{$h/$b:.2f}')")"); ms+=("$(python3 -c "print(f'{$m/$b:.2f}')")")
  printf 'round %s: bare %6s req/s, /health %6s (%sx), /users/me %6s (%sx)\n' "$round" "$b" "$h" "${hs[-1]}" "$m" "${ms[-1]}"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median /health vs bare: $(median "${hs[@]}")x; /users/me vs bare: $(median "${ms[@]}")x"
