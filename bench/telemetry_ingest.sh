#!/usr/bin/env bash
# Telemetry ingest throughput into ClickHouse: starts the test services
# (scripts/with-test-services: ClickHouse, plus Postgres/Redis/s3rver it always starts)
# and one `rend api` on a free port with CLICKHOUSE_URL, then runs
# bench/telemetry_ingest.py --runs 5 against it: Rend's runs alternate with the anchor's
# (clickhouse-client inserting the same kind of rows from a RowBinary file, the server's
# own limit); it prints events/s per run, the medians and the ratio. Every run is
# verified: the analytics API must count exactly --events, and ClickHouse must hold
# exactly --events rows with as many distinct event ids (no duplicate, none lost).
#   bench/telemetry_ingest.sh [--events 300000] [--batch 1000] [--concurrency 8] [--runs 5]
# Any other argument is passed to telemetry_ingest.py. REND_BIN: default build/rend.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${REND_TEST_CLICKHOUSE_URL:-}" ]; then
  exec scripts/with-test-services "$0" "$@"
fi

command -v clickhouse-client >/dev/null ||
  { echo "bench/telemetry_ingest.sh needs clickhouse-client, the anchor (apt-get install clickhouse-client)" >&2; exit 2; }
bin=${REND_BIN:-build/rend}
[ -x "$bin" ] || { echo "rend binary not found at $bin (ninja -C build rend, or set REND_BIN)" >&2; exit 2; }
. bench/lib.sh

work=$(mktemp -d /tmp/rend-bench-telemetry.XXXXXX)
port=$(free_port)
db=rend_bench_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
# Embedded metadata (not on the ingest path); analytics in ClickHouse, its own database.
export REND_API_BIND_ADDR=127.0.0.1:$port
export CLICKHOUSE_URL=$REND_TEST_CLICKHOUSE_URL CLICKHOUSE_DATABASE=$db
export REND_INTERNAL_TELEMETRY_TOKEN=$token
unset DATABASE_URL REND_REDIS_URL S3_ENDPOINT S3_BUCKET

"$bin" api --data-dir "$work/data" >"$work/api.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  curl -s -o /dev/null --data-binary "DROP DATABASE IF EXISTS $db" "$REND_TEST_CLICKHOUSE_URL/" || true
  rm -rf "$work"
}
trap cleanup EXIT

api=http://127.0.0.1:$port
for _ in $(seq 300); do
  curl -sf "$api/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo "rend api exited:" >&2; tail -20 "$work/api.log" >&2; exit 1; }
  sleep 0.1
done
curl -sf "$api/readyz" >/dev/null || { echo "rend api not ready:" >&2; tail -20 "$work/api.log" >&2; exit 1; }
key=$("$bin" keys create --scopes operator --name bench --data-dir "$work/data" 2>/dev/null | tail -1)

ch_version=$(curl -s --data-binary "SELECT version()" "$REND_TEST_CLICKHOUSE_URL/" || echo "?")
echo "rend api on $api, ClickHouse $ch_version ($REND_TEST_CLICKHOUSE_URL, database $db)"
# The anchor talks ClickHouse's native protocol (its TCP port, written by scripts/stack).
# An outside ClickHouse (REND_TEST_CLICKHOUSE_URL set by hand) names it in CLICKHOUSE_TCP_PORT.
ch_tcp=${CLICKHOUSE_TCP_PORT:-$(awk '$1 == "tcp" {print $2}' "${REND_STACK_DIR:?set CLICKHOUSE_TCP_PORT}/clickhouse/ports")}
/usr/bin/python3 bench/telemetry_ingest.py --api "$api" --token "$token" --api-key "$key" --runs 5 \
  --anchor-port "$ch_tcp" --anchor-database "$db" --clickhouse-url "$REND_TEST_CLICKHOUSE_URL" \
  --api-pid "$pid" ${REND_STACK_DIR:+--clickhouse-pid "$(cat "$REND_STACK_DIR/clickhouse/clickhouse.pid")"} "$@"
