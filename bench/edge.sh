#!/usr/bin/env bash
# Edge HITs: Rend vs nginx serving the same bytes from disk, in the same run
# (../shared/design/anchors.md). nginx is tuned for static files as its own docs
# recommend (sendfile, tcp_nopush, tcp_nodelay, keepalive_requests, open_file_cache),
# not left at defaults, which are 25-35% slower on large files and would flatter Rend.
# Objects: a ~1.2 KiB media playlist, a 1 MiB segment and a real ~3 MB 1080p x264
# segment (made once with ffmpeg into bench/.cache). Loads: wrk -t1 at each of
# --connections. Runs alternate Rend/nginx; prints every run, the medians and the
# ratios. Every response must be 2xx (a non-2xx answer fails the run; socket errors are
# printed).
# Targets:
#   edge: standalone `rend edge`, playback cookie (checked locally, HMAC), telemetry
#         on, POSTed to a local sink answering 200 (bench/telemetry_sink.py)
#   dev:  `rend dev` (edge + API + worker in one process), ?token= credential (the
#         playlist is rewritten to carry it), telemetry through the API's ingest into
#         the embedded SQLite analytics table
# --paced F: after the closed-loop runs of an object, the same number of alternating runs
# at an equal offered load for both servers: each wrk connection waits C / (F x nginx's
# closed-loop median req/s) between a response and its next request (wrk's Lua delay()),
# so both answer about F x nginx's rate and their tails are compared at the same load.
# In the closed loop a single-threaded wrk saturates on large objects, the faster server
# gets more requests through it, and p99 compares two different loads.
#   bench/edge.sh [--target edge|dev|both] [--runs 5] [--duration 8]
#                 [--connections "64 256"] [--objects "playlist seg1m seg1080"]
#                 [--telemetry on|off] [--paced 0.8]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=5 duration=8 conns_list="64 256" telemetry=on target=both objects="playlist seg1m seg1080" paced=""
usage="usage: $0 [--target edge|dev|both] [--runs N] [--duration S] [--connections \"64 256\"] [--objects \"playlist seg1m seg1080\"] [--telemetry on|off] [--paced F]"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) conns_list=$2; shift 2 ;;
    --objects) objects=$2; shift 2 ;;
    --telemetry) telemetry=$2; shift 2 ;;
    --target) target=$2; shift 2 ;;
    --paced) paced=$2; shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
case "$target" in edge) targets="edge" ;; dev) targets="dev" ;; both) targets="edge dev" ;; *) echo "$usage" >&2; exit 2 ;; esac
for tool in wrk nginx ffmpeg; do
  command -v $tool >/dev/null || [ -x /usr/sbin/$tool ] ||
    { echo "bench/edge.sh needs $tool (apt-get install wrk nginx-light ffmpeg)" >&2; exit 2; }
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

# The real segment: 4 s of 1080p30 x264 veryfast from a noisy testsrc2 (the anchors'
# source), one MPEG-TS segment as the ladder's top rung publishes it. Made once.
seg1080=bench/.cache/seg_1080p_4s.ts
if [ ! -s "$seg1080" ]; then
  mkdir -p bench/.cache
  echo "making $seg1080 (once)..." >&2
  ffmpeg -loglevel error -y -f lavfi -i "testsrc2=s=1920x1080:r=30:d=4,noise=alls=3:allf=t" \
    -f lavfi -i "sine=f=440:d=4" -c:v libx264 -preset veryfast -crf 23 -pix_fmt yuv420p -g 120 \
    -c:a aac -b:a 128k -shortest -f mpegts "$seg1080.tmp"
  mv "$seg1080.tmp" "$seg1080"
fi

# The objects: one asset in a directory object store (the origin of both targets).
asset=$(new_asset_id)
secret=$(new_secret)$(new_secret)
origin=$work/origin
dir=$origin/assets/$asset/1080p
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
cp "$seg1080" "$dir/seg_00000.ts"
file_of() { case $1 in playlist) echo index.m3u8 ;; seg1m) echo seg_00005.ts ;; seg1080) echo seg_00000.ts ;; esac; }
token=$(sign_token "$secret" "$asset")

nginx_port=$(free_port)
mkdir -p "$work/nginx"
write_tuned_nginx_conf "$work/nginx.conf" "$work/nginx.pid" "$work/nginx" "$nginx_port" \
  "application/vnd.apple.mpegurl m3u8; video/mp2t ts;" "location /v/ { alias $origin/assets/; }"
# nginx started as root runs its workers as nobody: let them read the files.
chmod -R a+rX "$work"
nginx -c "$work/nginx.conf"
nginx_url=http://127.0.0.1:$nginx_port
wait_workers() { for _ in $(seq 50); do [ -s "$work/nginx.pid" ] && pgrep -P "$(cat "$work/nginx.pid")" >/dev/null && return; sleep 0.1; done; }
wait_workers
nginx_pids=$(pgrep -P "$(cat "$work/nginx.pid")" | tr '\n' ' ')

wait_up() { for _ in $(seq 300); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "bench: $1 never answered" >&2; exit 1; }

start_edge() {
  sink_port=$(free_port)
  /usr/bin/python3 bench/telemetry_sink.py "$sink_port" &
  pids+=($!)
  local port; port=$(free_port)
  REND_EDGE_BIND_ADDR=127.0.0.1:$port REND_OBJECT_STORE_DIR="$origin" \
    REND_PLAYBACK_SIGNING_KEY_ID=dev REND_PLAYBACK_SIGNING_SECRET="$secret" \
    REND_EDGE_TELEMETRY_ENABLED=$([ "$telemetry" = on ] && echo true || echo false) \
    REND_EDGE_TELEMETRY_INGEST_URL=http://127.0.0.1:$sink_port/internal/telemetry \
    REND_INTERNAL_TELEMETRY_TOKEN=bench-telemetry-token-0123456789abcdef \
    REND_EDGE_PLAYLIST_TTL_SECS=3600 \
    "$bin" edge --data-dir "$work/edge" >"$work/edge.log" 2>&1 &
  rend_pid=$!
  pids+=($!)
  rend_url=http://127.0.0.1:$port metrics_url=$rend_url/metrics
  wait_up "$rend_url/healthz"
  cred_header="Cookie: rend_playback=$token" cred_query=""
}

start_dev() {
  local api_port edge_port; api_port=$(free_port) edge_port=$(free_port)
  REND_API_BIND_ADDR=127.0.0.1:$api_port REND_EDGE_BIND_ADDR=127.0.0.1:$edge_port \
    REND_OBJECT_STORE_DIR="$origin" REND_PLAYBACK_SIGNING_KEY_ID=dev REND_PLAYBACK_SIGNING_SECRET="$secret" \
    REND_EDGE_TELEMETRY_ENABLED=$([ "$telemetry" = on ] && echo true || echo false) \
    REND_EDGE_PLAYLIST_TTL_SECS=3600 \
    "$bin" dev --data-dir "$work/dev" >"$work/dev.log" 2>&1 &
  rend_pid=$!
  pids+=($!)
  rend_url=http://127.0.0.1:$edge_port metrics_url=$rend_url/metrics
  api_url=http://127.0.0.1:$api_port
  wait_up "$rend_url/readyz"
  wait_up "$api_url/readyz"
  cred_header="" cred_query="?token=$token"
}

# CPU time (user + system, every thread) of the given processes, in clock ticks.
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
# On a shared machine req/s swings with the neighbours' load; the server's own CPU per
# request is steadier, so it is printed next to them (ms of CPU per 1000 responses).
# With $pace_ms set, each connection waits that long between a response and its next request.
pace_ms=""
measure() {  # url conns "pids" [header] -> "rate p99ms cpu_ms_per_1000 p50ms p90ms"
  local out before after args
  args=(-t1 -c"$2" -d"${duration}s" --timeout 10s --latency)
  [ -z "${4:-}" ] || args+=(-H "$4")
  if [ -n "$pace_ms" ]; then
    printf 'function delay()\n  return %s\nend\n' "$pace_ms" >"$work/pace.lua"
    args+=(-s "$work/pace.lua")
  fi
  before=$(cpu_ticks $3)
  # --timeout 10s: on a loaded machine a slow answer is a latency to count, not an error.
  out=$(wrk "${args[@]}" "$1")
  after=$(cpu_ticks $3)
  local non2xx sockerr
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  sockerr=$(echo "$out" | awk '/Socket errors/')
  [ -z "$non2xx" ] || { echo "bench: $1 answered $non2xx non-2xx responses" >&2; exit 1; }
  [ -z "$sockerr" ] || echo "bench: $1: $sockerr" >&2  # reported; only a non-2xx answer fails the run
  local n; n=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')") $(awk "BEGIN{printf \"%.1f\", ($after - $before) * 1000 / $(getconf CLK_TCK) * 1000 / $n}")" \
    "$(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')") $(to_ms "$(echo "$out" | awk '$1=="90%" {print $2}')")"
}

# $runs runs of object $f at $c connections, Rend then nginx each time; prints every run
# (labelled $1) and leaves the medians in mr mp mrc (Rend: req/s, p99, CPU per 1000) and
# mn mq mnc (nginx).
alternate() {
  local rr=() rp=() rc=() nr=() np=() nc=() i r p rcpu r50 r90 n q ncpu n50 n90
  for i in $(seq "$runs"); do
    read -r r p rcpu r50 r90 < <(measure "$rend_url/v/$asset/1080p/$f$cred_query" "$c" "$rend_pid" "$cred_header")
    read -r n q ncpu n50 n90 < <(measure "$nginx_url/v/$asset/1080p/$f" "$c" "$nginx_pids")
    # p50/p90 next to p99: the latency distribution's shape (a wide one with a low
    # median and a long tail is unfair sharing between connections).
    echo "$1 run $i: rend $r req/s p50/p90/p99 ${r50}/${r90}/${p}ms cpu ${rcpu}ms/1k | nginx $n req/s p50/p90/p99 ${n50}/${n90}/${q}ms cpu ${ncpu}ms/1k"
    rr+=("$r") rp+=("$p") rc+=("$rcpu") nr+=("$n") np+=("$q") nc+=("$ncpu")
  done
  mr=$(median "${rr[@]}") mp=$(median "${rp[@]}") mn=$(median "${nr[@]}") mq=$(median "${np[@]}")
  mrc=$(median "${rc[@]}") mnc=$(median "${nc[@]}")
}

echo "machine: $(nproc) CPUs, $(date -u +%FT%TZ); wrk -t1 -d${duration}s --latency; $runs alternating runs; telemetry $telemetry"
echo "nginx: worker_processes 2; worker_connections 4096; access_log off; sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_requests 1000000; open_file_cache max=1000"
summary=()
for t in $targets; do
  "start_$t"
  # Warm Rend's cache (one miss each) and check both return the origin's bytes.
  for o in $objects; do
    f=$(file_of "$o")
    curl -sf ${cred_header:+-H "$cred_header"} "$rend_url/v/$asset/1080p/$f$cred_query" -o "$work/rend.$f"
    curl -sf "$nginx_url/v/$asset/1080p/$f" -o "$work/nginx.$f"
    cmp -s "$work/nginx.$f" "$dir/$f" || { echo "bench: nginx's $f differs from the origin" >&2; exit 1; }
    if [ "$o" = playlist ] && [ -n "$cred_query" ]; then
      # The playlist carries the token into every URI: the same lines otherwise.
      grep -q "seg_00000.ts$cred_query" "$work/rend.$f" || { echo "bench: rend's playlist lacks the token" >&2; exit 1; }
    else
      cmp -s "$work/rend.$f" "$dir/$f" || { echo "bench: rend's $f differs from the origin" >&2; exit 1; }
    fi
  done
  for c in $conns_list; do
    for o in $objects; do
      f=$(file_of "$o")
      size=$(stat -c %s "$dir/$f")
      alternate "$t -c$c $o ($size B)"
      summary+=("$(printf '%-4s -c%-3s %-8s rend %8.0f req/s p99 %7.2f ms cpu %6.1f ms/1k | nginx %8.0f req/s p99 %7.2f ms cpu %6.1f ms/1k | req/s %.2fx, p99 %.2fx, cpu/req %.2fx' \
        "$t" "$c" "$o" "$mr" "$mp" "$mrc" "$mn" "$mq" "$mnc" "$(awk "BEGIN{print $mr/$mn}")" "$(awk "BEGIN{print $mp/$mq}")" "$(awk "BEGIN{print $mrc/$mnc}")")")
      if [ -n "$paced" ]; then
        # Equal offered load: both servers asked for F x nginx's closed-loop rate.
        pace_ms=$(awk "BEGIN{printf \"%d\", $c * 1000 / ($paced * $mn)}")
        # wrk's delay() counts whole milliseconds: a small object's rate cannot be paced.
        if [ "$pace_ms" -lt 2 ]; then
          summary+=("$(printf '%-4s -c%-3s %-8s paced: not run (a pause of %s ms per request is below what wrk can pace)' "$t" "$c" "$o" "$pace_ms")")
          pace_ms=""
          continue
        fi
        alternate "$t -c$c $o paced ${pace_ms} ms"
        pace_ms=""
        summary+=("$(printf '%-4s -c%-3s %-8s paced at %s x nginx: rend %8.0f req/s p99 %7.2f ms | nginx %8.0f req/s p99 %7.2f ms | p99 %.2fx' \
          "$t" "$c" "$o" "$paced" "$mr" "$mp" "$mn" "$mq" "$(awk "BEGIN{print $mp/$mq}")")")
      fi
    done
  done
  if [ "$telemetry" = on ]; then
    summary+=("$t telemetry: $(curl -sf "$metrics_url" | grep -E '^rend_edge_telemetry_(enqueued|sent|dropped)_total' | tr '\n' ' ')")
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
done
echo "medians (ratio = rend / nginx; req/s higher is better, p99 and cpu/req lower is better;"
echo "cpu = the server's CPU per 1000 responses: rend's whole process, nginx's workers; the sink's not counted):"
printf '  %s\n' "${summary[@]}"
