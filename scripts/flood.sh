#!/usr/bin/env bash
# flood.sh — issue 9 finding 1 / contract §12, measured: one client with no
# credential floods a fresh Gatehouse on SQLite with refused API keys on a
# 60 KiB path (DELETE /users/aaa…, X-API-Key: x) and failed logins, from
# random addresses of one IPv6 /64, over 8 connections; then the server is
# stopped with SIGTERM and the database, its WAL and the log are measured.
#
#   scripts/flood.sh [DURATION] [REV]    # default 30s, the working tree
#
# REV (a commit) builds the server from that commit instead, to compare.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-30s}
REV=${2:-}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

if [ -n "$REV" ]; then
  git worktree add -q --detach "$tmp/src" "$REV"
  (cd "$tmp/src" && CGO_ENABLED=0 go build -o "$tmp/gatehouse" ./cmd/gatehouse)
  git worktree remove --force "$tmp/src"
else
  CGO_ENABLED=0 go build -o "$tmp/gatehouse" ./cmd/gatehouse
fi
go build -o "$tmp/flood" ./scripts/flood

addr=127.0.0.1:${PORT:-8190}
GATEHOUSE_ADDR=$addr GATEHOUSE_DATABASE_URL="sqlite:$tmp/g.db" GATEHOUSE_ADMIN_PASSWORD=flood-admin-password \
  GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32 "$tmp/gatehouse" serve >/dev/null 2>"$tmp/g.log" & pid=$!
for _ in $(seq 1 200); do curl -sf "http://$addr/health" >/dev/null 2>&1 && break; sleep 0.1; done
size() { du -b "$@" 2>/dev/null | awk '{s+=$1} END {print s+0}'; }
before_db=$(size "$tmp"/g.db*); before_log=$(size "$tmp/g.log")

echo "server: ${REV:-working tree}; flood: $D, 8 connections, one client (2001:db8:1:2::/64)"
"$tmp/flood" -url "http://$addr" -d "$D" -c 8 -xff 2001:db8:1:2::/64
kill -TERM "$pid"; wait "$pid" || true; pid=

printf 'database (db+wal+shm): %s -> %s bytes\n' "$before_db" "$(size "$tmp"/g.db*)"
printf 'log:                   %s -> %s bytes\n' "$before_log" "$(size "$tmp/g.log")"
if command -v sqlite3 >/dev/null; then
  if sqlite3 "$tmp/g.db" "SELECT 1 FROM pragma_table_info('audit_events') WHERE name = 'count'" | grep -q 1; then
    sum="sum(count)"
  else
    sum="count(*)"
  fi
  echo "audit rows by type (rows, events counted):"
  sqlite3 "$tmp/g.db" "SELECT '  ' || type || '/' || outcome, count(*), $sum FROM audit_events GROUP BY type, outcome ORDER BY type"
fi
