#!/usr/bin/env bash
# Edge serving throughput: Rend's edge vs nginx serving the same bytes from disk, in
# the same run (../shared/design/anchors.md): wrk -t1 -c64 --latency against a ~1.2 KiB
# media playlist and a 1 MiB segment. Every Rend request carries a playback cookie
# (checked locally, HMAC) and produces a telemetry event (sent to a local sink); nginx
# is `worker_processes 2; sendfile on; access_log off;`. Runs alternate Rend/nginx;
# prints each run, the medians and the ratios.
#   bench/edge.sh [--runs 3] [--duration 8] [--connections 64] [--telemetry on|off]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3 duration=8 conns=64 telemetry=on
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --telemetry) telemetry=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--duration S] [--connections C] [--telemetry on|off]" >&2; exit 2 ;;
  esac
done
for tool in wrk nginx; do
  command -v $tool >/dev/null || [ -x /usr/sbin/$tool ] ||
    { echo "bench/edge.sh needs $tool (apt-get install wrk nginx-light)" >&2; exit 2; }
done
bin=${REND_BIN:-build/rend}
[ -x "$bin" ] || { echo "no rend binary at $bin (ninja -C build rend)" >&2; exit 2; }
. bench/lib.sh
work=$(mktemp -d /tmp/rend-bench-edge.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The objects: one asset in the origin (a plain directory object store).
asset=$(new_asset_id)
secret=$(new_secret)
dir=$work/origin/assets/$asset/720p
mkdir -p "$dir"
/usr/bin/python3 - "$dir" <<'EOF'
import sys
d = sys.argv[1]
lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:4", "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD"]
i = 0
while sum(len(l) + 1 for l in lines) < 1200:
    lines += ["#EXTINF:4.000000,", "seg_%05d.ts" % i]
    i += 1
lines.append("#EXT-X-ENDLIST")
open(d + "/index.m3u8", "w").write("\n".join(lines) + "\n")
EOF
head -c $((1024 * 1024)) /dev/urandom >"$dir/seg_00005.ts"
token=$(sign_token "$secret" "$asset")

# Telemetry goes to a sink that answers 200 (bench/telemetry_sink.py).
sink_port=$(free_port)
/usr/bin/python3 bench/telemetry_sink.py "$sink_port" &
pids+=($!)

edge_port=$(free_port)
REND_EDGE_BIND_ADDR=127.0.0.1:$edge_port REND_OBJECT_STORE_DIR="$work/origin" \
  REND_PLAYBACK_SIGNING_KEY_ID=dev REND_PLAYBACK_SIGNING_SECRET="$secret" \
  REND_EDGE_TELEMETRY_ENABLED=$([ "$telemetry" = on ] && echo true || echo false) \
  REND_EDGE_TELEMETRY_INGEST_URL=http://127.0.0.1:$sink_port/internal/telemetry \
  REND_INTERNAL_TELEMETRY_TOKEN=bench-telemetry-token-0123456789abcdef \
  REND_EDGE_PLAYLIST_TTL_SECS=3600 \
  "$bin" edge --data-dir "$work/edge" >"$work/edge.log" 2>&1 &
pids+=($!)

nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx.conf" <<EOF
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  sendfile on;
  access_log off;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
  server {
    listen 127.0.0.1:$nginx_port;
    location /v/ { alias $work/origin/assets/; }
  }
}
EOF
# nginx started as root runs its workers as nobody: let them read the files.
chmod -R a+rX "$work"
nginx -c "$work/nginx.conf"

rend=http://127.0.0.1:$edge_port
for _ in $(seq 100); do curl -sf "$rend/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
# Warm Rend's cache (one miss each) and check both servers return the same bytes.
for obj in index.m3u8 seg_00005.ts; do
  curl -sf -H "Cookie: rend_playback=$token" "$rend/v/$asset/720p/$obj" -o "$work/rend.$obj"
  curl -sf "http://127.0.0.1:$nginx_port/v/$asset/720p/$obj" -o "$work/nginx.$obj"
  cmp -s "$work/rend.$obj" "$dir/$obj" && cmp -s "$work/nginx.$obj" "$dir/$obj" ||
    { echo "bench: $obj differs between rend, nginx and the origin" >&2; exit 1; }
done

measure() {  # name url [header] -> "rate p99ms"
  local out
  if [ -n "${3:-}" ]; then out=$(wrk -t1 -c"$conns" -d"${duration}s" --latency -H "$3" "$2")
  else out=$(wrk -t1 -c"$conns" -d"${duration}s" --latency "$2"); fi
  local non2xx; non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  [ -z "$non2xx" ] || { echo "bench: $1 answered $non2xx non-2xx responses" >&2; exit 1; }
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')")"
}

echo "machine: $(nproc) CPUs; wrk -t1 -c$conns -d${duration}s --latency; $runs alternating runs; telemetry $telemetry"
summary=()
for obj in index.m3u8 seg_00005.ts; do
  size=$(stat -c %s "$dir/$obj")
  rr=() rp=() nr=() np=()
  for i in $(seq "$runs"); do
    read -r r p < <(measure rend "$rend/v/$asset/720p/$obj" "Cookie: rend_playback=$token")
    read -r n q < <(measure nginx "http://127.0.0.1:$nginx_port/v/$asset/720p/$obj")
    echo "$obj ($size B) run $i: rend $r req/s p99 ${p}ms | nginx $n req/s p99 ${q}ms"
    rr+=("$r") rp+=("$p") nr+=("$n") np+=("$q")
  done
  mr=$(median "${rr[@]}") mp=$(median "${rp[@]}") mn=$(median "${nr[@]}") mq=$(median "${np[@]}")
  summary+=("$(printf '%-13s rend %9.0f req/s p99 %6.2f ms | nginx %9.0f req/s p99 %6.2f ms | req/s ratio %.2fx, p99 ratio %.2fx' \
    "$obj" "$mr" "$mp" "$mn" "$mq" "$(awk "BEGIN{print $mr/$mn}")" "$(awk "BEGIN{print $mp/$mq}")")")
done
echo "medians (ratio = rend / nginx; req/s higher is better, p99 lower is better):"
printf '  %s\n' "${summary[@]}"
if [ "$telemetry" = on ]; then
  curl -sf "$rend/metrics" | grep -E '^rend_edge_telemetry_(sent|dropped)_total' | sed 's/^/  /' || true
fi
