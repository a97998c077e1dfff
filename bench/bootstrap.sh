#!/usr/bin/env bash
# Player bootstrap throughput against its anchor: GET /api/player/{id} with Paris geo
# headers (edge selection, token signing, cookie, one selection log line each) on a
# `rend dev`, and nginx tuned for static files serving a JSON file of exactly the
# bootstrap answer's size, in the same run: runs alternate nginx/Rend, every response
# must be a 200 (a wrk Lua counter) with no socket errors, medians and the ratio.
#   bench/bootstrap.sh [--store sqlite|postgres|both] [--runs 5] [--duration 8] [--connections 64]
# Postgres: uses REND_TEST_POSTGRES_URL when set (scripts/with-test-services), else
# re-runs itself under scripts/with-test-services; each run gets its own database.
set -euo pipefail
cd "$(dirname "$0")/.."
store=sqlite runs=5 duration=8 conns=64
args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --store) store=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    *) echo "usage: $0 [--store sqlite|postgres|both] [--runs N] [--duration S] [--connections C]" >&2; exit 2 ;;
  esac
done
case $store in sqlite | postgres | both) ;; *) echo "bench: --store must be sqlite, postgres or both" >&2; exit 2 ;; esac
for tool in wrk nginx curl ffmpeg; do
  command -v $tool >/dev/null ||
    { echo "bench/bootstrap.sh needs $tool (apt-get install wrk nginx-light curl ffmpeg)" >&2; exit 2; }
done
if [ "$store" != sqlite ] && [ -z "${REND_TEST_POSTGRES_URL:-}" ]; then
  exec scripts/with-test-services "$0" "${args[@]}"
fi
bin=$(realpath "${REND_BIN:-build/rend}")
. bench/lib.sh
work=$(mktemp -d /tmp/rend-bench-bootstrap.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Counts answers that are not 200 (wrk's own "Non-2xx" lets 3xx through).
cat >"$work/check.lua" <<'EOF'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body) if status ~= 200 then bad = bad + 1 end end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("bad") end
  local e = summary.errors
  io.write(string.format("not_200 %d\nsocket_errors %d\n", n, e.connect + e.read + e.write + e.timeout))
end
EOF

measure() {  # label url -> "rate p99"; exits on any non-200 or socket error
  local out rate p99 bad errs
  out=$(wrk -t1 -c"$conns" -d"${duration}s" --latency -s "$work/check.lua" \
    -H 'x-vercel-ip-latitude: 48.8566' -H 'x-vercel-ip-longitude: 2.3522' -H 'x-vercel-ip-country: FR' "$2")
  rate=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  bad=$(echo "$out" | awk '$1=="not_200" {print $2}')
  errs=$(echo "$out" | awk '$1=="socket_errors" {print $2}')
  [ "$bad" = 0 ] && [ "$errs" = 0 ] ||
    { echo "bench: $1 answered $bad non-200 responses, $errs socket errors" >&2; echo "$out" >&2; exit 1; }
  echo "$rate $(to_ms "$p99")"
}

ffmpeg -v error -f lavfi -i testsrc2=s=320x180:r=30:d=2 -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$work/clip.mp4"
echo "machine: $(nproc) CPUs; wrk -t1 -c$conns -d${duration}s --latency, $runs alternating runs per store"

bench_store() {  # sqlite|postgres
  local name=$1 dir="$work/$1" env=()
  mkdir -p "$dir"
  if [ "$name" = postgres ]; then
    local db="rend_bench_$(head -c 5 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    psql -q -v ON_ERROR_STOP=1 "$REND_TEST_POSTGRES_URL" -c "CREATE DATABASE $db" >/dev/null
    env=("DATABASE_URL=${REND_TEST_POSTGRES_URL%/*}/$db")
  fi
  local api_port edge_port
  api_port=$(free_port) edge_port=$(free_port)
  # The selection log line goes to stderr for every request; keep it (it is part of the cost).
  # A clean environment: under scripts/with-test-services the stack's env (its DATABASE_URL,
  # S3, ClickHouse, fixed ports) is exported, and only the database is wanted here.
  env -i PATH="$PATH" HOME="$HOME" TMPDIR="${TMPDIR:-/tmp}" "${env[@]}" REND_API_BIND_ADDR=127.0.0.1:$api_port REND_EDGE_BIND_ADDR=127.0.0.1:$edge_port \
    "$bin" dev --data-dir "$dir/data" >"$dir/out.log" 2>"$dir/err.log" &
  local pid=$!
  pids+=("$pid")
  local api=http://127.0.0.1:$api_port
  for _ in $(seq 300); do curl -sf "$api/readyz" >/dev/null 2>&1 && [ -s "$dir/data/api-key" ] && break; sleep 0.1; done
  local key up url asset
  key=$(cat "$dir/data/api-key")
  up=$(curl -sf -X POST -H "Authorization: Bearer $key" "$api/v1/uploads")
  url=$(echo "$up" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["upload_url"])')
  asset=$(echo "$up" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["asset_id"])')
  curl -sf -X PUT -H "Authorization: Bearer $key" --upload-file "$work/clip.mp4" "$url" >/dev/null
  for _ in $(seq 600); do
    curl -sf -H "Authorization: Bearer $key" "$api/v1/assets/$asset" | grep -q '"status":"hls_ready"' && break
    sleep 0.1
  done
  # The anchor serves a file of the bootstrap answer's size (the answer itself).
  curl -sf -H 'x-vercel-ip-latitude: 48.8566' -H 'x-vercel-ip-longitude: 2.3522' -H 'x-vercel-ip-country: FR' \
    "$api/api/player/$asset" -o "$dir/bootstrap.json"
  local size
  size=$(stat -c %s "$dir/bootstrap.json")
  local nginx_port
  nginx_port=$(free_port)
  mkdir -p "$dir/nginx/root"
  cp "$dir/bootstrap.json" "$dir/nginx/root/bootstrap.json"
  write_tuned_nginx_conf "$dir/nginx.conf" "$work/nginx.pid" "$dir/nginx" "$nginx_port" \
    "application/json json;" "location / { root $dir/nginx/root; }"
  # nginx started as root runs its workers as nobody: let them read the file.
  chmod -R a+rX "$work"
  nginx -c "$dir/nginx.conf"
  local static=http://127.0.0.1:$nginx_port/bootstrap.json
  cmp -s <(curl -sf "$static") "$dir/bootstrap.json" || { echo "bench: nginx does not serve the file" >&2; exit 1; }
  echo "[$name] asset $asset, bootstrap answer $size bytes; nginx serves a $size-byte static JSON file"
  local rrates=() rp99s=() nrates=() np99s=() i r n n_rate n_p99 r_rate r_p99
  for i in $(seq "$runs"); do
    local res
    res=$(measure nginx "$static")
    read -r n_rate n_p99 <<<"$res"
    res=$(measure rend "$api/api/player/$asset")
    read -r r_rate r_p99 <<<"$res"
    echo "[$name] run $i: nginx ${n_rate} req/s p99 ${n_p99} ms | rend ${r_rate} req/s p99 ${r_p99} ms"
    nrates+=("$n_rate") np99s+=("$n_p99") rrates+=("$r_rate") rp99s+=("$r_p99")
  done
  n=$(median "${nrates[@]}") r=$(median "${rrates[@]}")
  echo "[$name] median: rend $r req/s p99 $(median "${rp99s[@]}") ms | nginx $n req/s p99 $(median "${np99s[@]}") ms" \
    "| ratio $(awk "BEGIN{printf \"%.2f\", $r/$n}")x"
  kill "$(cat "$work/nginx.pid")"
  rm -f "$work/nginx.pid"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

case $store in
  sqlite) bench_store sqlite ;;
  postgres) bench_store postgres ;;
  both) bench_store sqlite; bench_store postgres ;;
esac
