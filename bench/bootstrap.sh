#!/usr/bin/env bash
# Player bootstrap throughput: GET /api/player/{id} with Paris geo headers (edge
# selection, token signing, cookie, one selection log line each), measured with wrk
# against a `rend dev` on free loopback ports. Prints req/s and p99 (median of runs).
#   bench/bootstrap.sh [--runs 3] [--duration 8] [--connections 64]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3 duration=8 conns=64
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--duration S] [--connections C]" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "bench/bootstrap.sh needs wrk (apt-get install wrk)" >&2; exit 2; }
bin=${REND_BIN:-build/rend}
. bench/lib.sh
work=$(mktemp -d /tmp/rend-bench-bootstrap.XXXXXX)
api_port=$(free_port) edge_port=$(free_port)
# The selection log line goes to stderr for every request; keep it (it is part of the cost).
REND_API_BIND_ADDR=127.0.0.1:$api_port REND_EDGE_BIND_ADDR=127.0.0.1:$edge_port \
  "$bin" dev --data-dir "$work/data" >"$work/out.log" 2>"$work/err.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
api=http://127.0.0.1:$api_port
for _ in $(seq 100); do curl -sf "$api/readyz" >/dev/null 2>&1 && [ -s "$work/data/api-key" ] && break; sleep 0.1; done
key=$(cat "$work/data/api-key")
ffmpeg -v error -f lavfi -i testsrc2=s=320x180:r=30:d=2 -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$work/clip.mp4"
up=$(curl -sf -X POST -H "Authorization: Bearer $key" "$api/v1/uploads")
url=$(echo "$up" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["upload_url"])')
asset=$(echo "$up" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["asset_id"])')
curl -sf -X PUT -H "Authorization: Bearer $key" --upload-file "$work/clip.mp4" "$url" >/dev/null
for _ in $(seq 300); do
  curl -sf -H "Authorization: Bearer $key" "$api/v1/assets/$asset" | grep -q '"status":"\(playable\|hls_ready\)"' && break
  sleep 0.1
done
echo "machine: $(nproc) CPUs; wrk -t1 -c$conns -d${duration}s --latency, $runs runs"
rates=() p99s=()
for i in $(seq "$runs"); do
  out=$(wrk -t1 -c"$conns" -d"${duration}s" --latency \
    -H 'x-vercel-ip-latitude: 48.8566' -H 'x-vercel-ip-longitude: 2.3522' -H 'x-vercel-ip-country: FR' \
    "$api/api/player/$asset")
  rate=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  echo "run $i: ${rate} req/s, p99 ${p99}${non2xx:+, non-2xx $non2xx}"
  rates+=("$rate") p99s+=("$p99")
done
echo "median: $(median "${rates[@]}") req/s, p99 $(median $(to_ms "${p99s[@]}")) ms"
