#!/usr/bin/env bash
# What telemetry costs the edge: the same `rend edge` binary twice, telemetry on
# (every response becomes an event, batched in the binary wire format and POSTed to a
# local sink that answers 200) and off, alternating wrk runs against a ~1.2 KiB playlist (the worst
# case: the most events per byte served). Prints req/s for both, medians, and the cost.
#   bench/telemetry_edge_cost.sh [--runs 5] [--duration 8] [--connections 64]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=5 duration=8 conns=64
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--duration S] [--connections C]" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 2; }
bin=${REND_BIN:-build/rend}
[ -x "$bin" ] || { echo "no rend binary at $bin (ninja -C build rend)" >&2; exit 2; }
. bench/lib.sh
work=$(mktemp -d /tmp/rend-bench-telemetry.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

asset=$(new_asset_id)
secret=$(new_secret)
dir=$work/origin/assets/$asset/720p
mkdir -p "$dir"
{ echo "#EXTM3U"; echo "#EXT-X-TARGETDURATION:4"; for i in $(seq 0 37); do echo "#EXTINF:4.000000,"; printf 'seg_%05d.ts\n' "$i"; done; echo "#EXT-X-ENDLIST"; } >"$dir/index.m3u8"
token=$(sign_token "$secret" "$asset")
sink_port=$(free_port)
/usr/bin/python3 bench/telemetry_sink.py "$sink_port" "$work/sink.count" &
pids+=($!)

start_edge() {  # name telemetry(true|false); sets $port (no subshell: its pid must be tracked)
  port=$(free_port)
  REND_EDGE_BIND_ADDR=127.0.0.1:$port REND_OBJECT_STORE_DIR="$work/origin" \
    REND_PLAYBACK_SIGNING_KEY_ID=dev REND_PLAYBACK_SIGNING_SECRET="$secret" \
    REND_EDGE_TELEMETRY_ENABLED=$2 REND_EDGE_TELEMETRY_INGEST_URL=http://127.0.0.1:$sink_port/internal/telemetry \
    REND_INTERNAL_TELEMETRY_TOKEN=bench-telemetry-token-0123456789abcdef REND_EDGE_PLAYLIST_TTL_SECS=3600 \
    "$bin" edge --data-dir "$work/$1" >"$work/$1.log" 2>&1 &
  pid=$!
  pids+=($pid)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf -o /dev/null -H "Cookie: rend_playback=$token" "http://127.0.0.1:$port/v/$asset/720p/index.m3u8"
}
start_edge on true; on=$port on_pid=$pid
start_edge off false; off=$port off_pid=$pid

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# One wrk run against an edge: prints "req/s cpu_us_per_request" (the edge process's
# user+system CPU over the run divided by the requests it served: steadier than req/s
# on a noisy machine, and it is what telemetry adds to every request).
measure() {
  local before after out
  before=$(cpu_ticks "$2")
  out=$(wrk -t1 -c"$conns" -d"${duration}s" -H "Cookie: rend_playback=$token" "http://127.0.0.1:$1/v/$asset/720p/index.m3u8")
  after=$(cpu_ticks "$2")
  local reqs; reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(awk "BEGIN{print ($after - $before) * 1000000 / $(getconf CLK_TCK) / $reqs}")"
}
echo "machine: $(nproc) CPUs; wrk -t1 -c$conns -d${duration}s; $runs alternating runs; 1.2 KiB playlist"
ons=() offs=() oncpu=() offcpu=()
for i in $(seq "$runs"); do
  read -r a ac < <(measure "$off" "$off_pid")
  read -r b bc < <(measure "$on" "$on_pid")
  echo "run $i: telemetry off $a req/s, $ac us CPU/request | on $b req/s, $bc us CPU/request"
  offs+=("$a") ons+=("$b") offcpu+=("$ac") oncpu+=("$bc")
done
sleep 2
mon=$(median "${ons[@]}") moff=$(median "${offs[@]}")
moc=$(median "${oncpu[@]}") mfc=$(median "${offcpu[@]}")
printf 'median: off %.0f req/s, on %.0f req/s -> telemetry costs %.1f%% of the request rate\n' \
  "$moff" "$mon" "$(awk "BEGIN{print (1 - $mon/$moff) * 100}")"
printf 'median CPU per request: off %.2f us, on %.2f us -> telemetry adds %.1f%% CPU per request\n' \
  "$mfc" "$moc" "$(awk "BEGIN{print ($moc/$mfc - 1) * 100}")"
m=$(curl -sf "http://127.0.0.1:$on/metrics")
echo "telemetry edge: enqueued $(echo "$m" | awk '/^rend_edge_telemetry_enqueued_total/ {print $2}')," \
  "sent $(echo "$m" | awk '/^rend_edge_telemetry_sent_total/ {print $2}'), spooled $(echo "$m" | awk '/^rend_edge_telemetry_spooled_total/ {print $2}')," \
  "dropped $(echo "$m" | awk '/^rend_edge_telemetry_dropped_total/ {print $2}'); sink received $(cat "$work/sink.count" 2>/dev/null || echo 0)"
