#!/usr/bin/env bash
# The OAuth provider's speed (README: OAuth 2.1 and OpenID Connect, issue 13
# §6): builds Gatehouse (e2e's TestMain), starts it on a fresh SQLite
# database, signs a browser in once, then measures over HTTP with 32
# requests in flight: GET /health (the same run's baseline), the code flow
# end to end without the login (GET /authorize with the session cookie, then
# the code exchange), the code exchange alone, client_credentials and
# /introspect. See BenchmarkOAuth in e2e/oauth_bench_test.go.
# Usage: scripts/oauthbench.sh [BENCHTIME] (default 5s; COUNT=3 runs;
# OAUTHBENCH_ALG=EdDSA or ES256 signs the tokens with that instead of RS256).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
# e2e's TestMain wants these set (the benchmark itself uses SQLite only).
export GATEHOUSE_TEST_POSTGRES_URL="${GATEHOUSE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
export GATEHOUSE_TEST_REDIS_URL="${GATEHOUSE_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
go test ./e2e -run '^$' -bench '^BenchmarkOAuth$' -benchtime "${1:-5s}" -count "${COUNT:-3}" |
  awk '/^Benchmark/{name=$1; sub(/-[0-9]+$/, "", name); for (i=1;i<=NF;i++) if ($i=="ops/s") printf "%-40s %8.0f ops/s\n", name, $(i-1); next} {print}'
