#!/usr/bin/env bash
# Cold fills at scale (issue 17): --viewers concurrent viewers over --objects cold
# 1 MiB segments through a pacing S3-compatible origin (100 ms to the response head,
# then 1 MiB over 2 s; bench/cold_fill_origin.cpp), with a wrk HIT load on a warm
# object of the same asset at the same time. Every viewer carries a signed playback
# cookie and every body byte is checked. Per run (fresh cold objects each time):
#   1. wrk HIT load alone (baseline p99);
#   2. the same wrk load while the storm runs (bench/cold_fill_storm.cpp; then
#      bench/cold_fill.py report works out where the time went).
# The origin and the storm client are C++ (one thread, epoll each), built with the
# project (`ninja -C build cold_fill_origin cold_fill_storm`), so that neither is what
# the bench measures: the origin answers 50 heads at its TTFB within a millisecond,
# and the client sends 500 requests within a couple of milliseconds.
# Prints per run and medians: origin GETs per object (target 1), viewers' TTFB
# p50/p95/max against origin TTFB + 10 ms, and HIT p99 storm/baseline (target <= 1.5x).
# Exits non-zero on a failed request, a wrong body, or a non-2xx HIT.
# The HIT load is paced (a wrk Lua delay between each connection's requests, --hit-rate
# requests/s in all), so that it measures latency rather than saturating the CPUs the
# storm needs: a closed-loop wrk would make the storm queue behind it.
# The anchor, Varnish 7 with its default streaming (anchors.md), runs the same storm and
# HIT load in the same run, alternating with Rend run by run (--anchor none: Rend only).
#   bench/cold_fill.sh [--runs 3] [--viewers 500] [--objects 50] [--hit-connections 16] [--hit-rate 1000]
#                      [--anchor varnish|none]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3 viewers=500 objects=50 hit_conns=16 hit_rate=1000 ttfb_ms=100 anchor=varnish
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --viewers) viewers=$2; shift 2 ;;
    --objects) objects=$2; shift 2 ;;
    --hit-connections) hit_conns=$2; shift 2 ;;
    --hit-rate) hit_rate=$2; shift 2 ;;
    --anchor) anchor=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--viewers V] [--objects O] [--hit-connections C] [--hit-rate R] [--anchor varnish|none]" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "bench/cold_fill.sh needs wrk (apt-get install wrk)" >&2; exit 2; }
case "$anchor" in
  varnish) command -v varnishd >/dev/null || [ -x /usr/sbin/varnishd ] ||
    { echo "bench/cold_fill.sh needs varnishd for its anchor (apt-get install varnish; or --anchor none)" >&2; exit 2; }
    PATH=$PATH:/usr/sbin ;;
  none) ;;
  *) echo "--anchor: varnish or none" >&2; exit 2 ;;
esac
bin=${REND_BIN:-build/rend}
[ -x "$bin" ] || { echo "no rend binary at $bin (ninja -C build rend)" >&2; exit 2; }
# The harness's own programs (from this tree's build, whichever rend is measured).
tools=${REND_BENCH_TOOLS:-build/bench}
for t in cold_fill_origin cold_fill_storm; do
  [ -x "$tools/$t" ] || { echo "no $tools/$t (ninja -C build cold_fill_origin cold_fill_storm)" >&2; exit 2; }
done
. bench/lib.sh
work=$(mktemp -d /tmp/rend-bench-cold.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# 500 viewers, the edge's sockets and the origin's: more descriptors than the default.
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"

secret=$(new_secret)
origin_port=$(free_port)
"$tools/cold_fill_origin" "$origin_port" --ttfb-ms "$ttfb_ms" --seconds 2 &
origin_pid=$!
pids+=($origin_pid)
origin=http://127.0.0.1:$origin_port
for _ in $(seq 100); do curl -sf "$origin/__stats" >/dev/null 2>&1 && break; sleep 0.1; done

edge_port=$(free_port)
S3_ENDPOINT=$origin S3_BUCKET=bench S3_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret \
  REND_EDGE_BIND_ADDR=127.0.0.1:$edge_port \
  REND_PLAYBACK_SIGNING_KEY_ID=dev REND_PLAYBACK_SIGNING_SECRET="$secret" \
  REND_EDGE_TELEMETRY_ENABLED=false \
  ${REND_BENCH_EDGE_WRAP:-} "$bin" edge --data-dir "$work/edge" >"$work/edge.log" 2>&1 &
edge_pid=$!
pids+=($edge_pid)
# CPU seconds the edge has used (user + system): on a shared machine, what the edge
# itself spends is steadier than its latencies.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
edge_cpu() { cpu_of "$edge_pid"; }
# The same for the edge's fill workers alone (threads named rend-fill), from each
# thread's schedstat (ns on CPU): per-thread clock ticks round each worker's few ms to 0.
fill_cpu() {
  local t ns=0
  for t in /proc/"$edge_pid"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = rend-fill ] || continue
    ns=$((ns + $(cut -d' ' -f1 "$t/schedstat" 2>/dev/null || echo 0)))
  done
  awk "BEGIN{printf \"%.3f\", $ns / 1e9}"
}
edge=http://127.0.0.1:$edge_port
for _ in $(seq 100); do curl -sf "$edge/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "$edge/healthz" >/dev/null || { echo "bench: the edge did not start" >&2; cat "$work/edge.log" >&2; exit 1; }

# Each connection waits this long before each request: --hit-rate requests/s in all.
echo "function delay() return $(awk "BEGIN{print $hit_conns * 1000 / $hit_rate}") end" >"$work/pace.lua"
hit_p99() {  # url cookie -> p99 ms (exits on a non-2xx or socket error)
  local out
  out=$(wrk -t1 -c"$hit_conns" -d3s --latency -s "$work/pace.lua" -H "Cookie: rend_playback=$2" "$1")
  local bad
  bad=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}')
  [ -z "$bad" ] || { echo "bench: HIT load: $bad" >&2; exit 1; }
  to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')"
}

# The anchor: Varnish (anchors.md: the cache that streams an in-progress fill to every
# waiter, at the origin's TTFB), tuned as its docs advise for this load: worker threads
# made up front for every concurrent request (thread_pool_min x thread_pools >= the
# viewers and the HIT connections; Varnish serves one request per thread), objects in
# memory, the request's cookie dropped so that it caches (it cannot check Rend's
# credential: it does less work per request than the edge), /v/... mapped to the
# origin's /bench/assets/... keys as the edge maps them. Default streaming: waiters are
# woken at the backend's head and read the object as it arrives.
if [ "$anchor" = varnish ]; then
  varnish_port=$(free_port)
  cat >"$work/bench.vcl" <<VCL
vcl 4.1;
backend origin { .host = "127.0.0.1"; .port = "$origin_port"; }
sub vcl_recv {
  unset req.http.Cookie;
  if (req.url ~ "^/v/") { set req.url = regsub(req.url, "^/v/", "/bench/assets/"); }
  return (hash);
}
sub vcl_backend_response { set beresp.ttl = 1h; set beresp.grace = 0s; }
VCL
  threads=$(( (viewers + hit_conns + 100) / 2 ))
  # -j none: no privilege separation (the bench's work dir is root's); -F: foreground.
  varnishd -F -j none -n "$work/varnish" -a "127.0.0.1:$varnish_port" -f "$work/bench.vcl" -s malloc,1g \
    -p thread_pools=2 -p thread_pool_min="$threads" -p thread_pool_max=5000 -p thread_pool_timeout=600 \
    >"$work/varnish.log" 2>&1 &
  varnish_pid=$!
  pids+=($varnish_pid)
  varnish=http://127.0.0.1:$varnish_port
  for _ in $(seq 100); do curl -s -o /dev/null "$varnish/" 2>/dev/null && break; sleep 0.1; done
  curl -s -o /dev/null "$varnish/" || { echo "bench: varnishd did not start" >&2; cat "$work/varnish.log" >&2; exit 1; }
fi
# CPU of the anchor: varnishd's manager and its cache (worker) process.
varnish_cpu() { local t=0 p; for p in $varnish_pid $(pgrep -P "$varnish_pid"); do t=$(awk "BEGIN{print $t + $(cpu_of "$p")}"); done; echo "$t"; }

echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $viewers viewers over $objects cold 1 MiB objects;" \
  "origin head after ${ttfb_ms} ms, body over 2 s; HIT load wrk -t1 -c$hit_conns paced to $hit_rate req/s on a warm 64 KiB segment;" \
  "$runs runs; anchor: $anchor$([ "$anchor" = varnish ] && echo " ($(varnishd -V 2>&1 | head -1 | sed 's/^varnishd //'), thread_pool_min $threads x 2)")"
targets="rend"
[ "$anchor" = none ] || targets="rend $anchor"
declare -A ratios p50s p95s maxs perobj
one_run() {  # target run
  local t=$1 run=$2 base_url cookie_name=rend_playback
  case $t in rend) base_url=$edge ;; varnish) base_url=$varnish ;; esac
  asset=$(new_asset_id)
  token=$(sign_token "$secret" "$asset")
  hit_url="$base_url/v/$asset/360p/seg_00000.ts"
  # Warm the HIT object (one fill), and check it is a HIT now.
  curl -sf -H "Cookie: $cookie_name=$token" "$hit_url" -o /dev/null
  local hdrs hit
  hdrs=$(curl -sf -D - -o /dev/null -H "Cookie: $cookie_name=$token" "$hit_url" | tr -d '\r')
  case $t in
    rend) hit=$(echo "$hdrs" | awk -F': ' 'tolower($1)=="x-rend-cache" {print $2}') ;;
    # Varnish names the request and, on a hit, the request that stored the object.
    varnish) hit=$(echo "$hdrs" | awk -F': ' 'tolower($1)=="x-varnish" {print (NF && split($2, a, " ") == 2) ? "HIT" : "MISS"}') ;;
  esac
  [ "$hit" = HIT ] || { echo "bench: $t: the warm object is not a HIT ($hit)" >&2; exit 1; }

  base=$(hit_p99 "$hit_url" "$token")
  # The storm starts 0.5 s into the HIT load (its connections open first) and lasts
  # ~2.2 s; the wrk run covers it.
  wrk_out=$work/wrk.$t.$run
  local cpu0 fcpu0=0 ocpu0
  case $t in rend) cpu0=$(edge_cpu) fcpu0=$(fill_cpu) ;; varnish) cpu0=$(varnish_cpu) ;; esac
  ocpu0=$(cpu_of "$origin_pid")
  ( hit_p99 "$hit_url" "$token" >"$wrk_out" ) &
  wrk_pid=$!
  "$tools/cold_fill_storm" --edge "${base_url#http://}" --asset "$asset" --token "$token" \
    --objects "$objects" --viewers "$viewers" >"$work/storm.$t.$run.json" || true
  wait "$wrk_pid" || { echo "bench: $t: HIT load during the storm failed" >&2; exit 1; }
  local logarg=()
  [ "$t" = rend ] && logarg=(--edge-log "$work/edge.log")
  storm=$(/usr/bin/python3 bench/cold_fill.py report --storm "$work/storm.$t.$run.json" --asset "$asset" \
    --objects "$objects" --origin "$origin" "${logarg[@]}") || { echo "bench: $t: storm failed: $storm" >&2; exit 1; }
  during=$(cat "$wrk_out")
  local cpu fcpu=- ocpu
  case $t in
    rend) cpu=$(awk "BEGIN{printf \"%.2f\", $(edge_cpu) - $cpu0}") fcpu=$(awk "BEGIN{printf \"%.3f\", $(fill_cpu) - $fcpu0}") ;;
    varnish) cpu=$(awk "BEGIN{printf \"%.2f\", $(varnish_cpu) - $cpu0}") ;;
  esac
  ocpu=$(awk "BEGIN{printf \"%.2f\", $(cpu_of "$origin_pid") - $ocpu0}")

  # Origin GETs per cold object of this run.
  read -r maxget minget nobj ohead < <(curl -sf "$origin/__stats" | /usr/bin/python3 -c '
import json, sys
a = sys.argv[1]
s = json.load(sys.stdin)
mine = lambda d: {k: v for k, v in d.items() if k.startswith("assets/" + a + "/720p/")}
g, h = mine(s["gets"]), sorted(mine(s["head_ms"]).values())
print(max(g.values(), default=0), min(g.values(), default=0), len(g), round(h[-1]) if h else -1)' "$asset")
  [ "$nobj" = "$objects" ] || { echo "bench: $t: origin saw $nobj of $objects objects" >&2; exit 1; }
  read -r p50 p95 mx < <(echo "$storm" | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin); print(s["ttfb_p50_ms"], s["ttfb_p95_ms"], s["ttfb_max_ms"])')
  ratio=$(awk "BEGIN{printf \"%.2f\", $during/$base}")
  echo "$t run $run: origin GETs per object max $maxget min $minget, origin head sent <= ${ohead} ms after its request | viewer TTFB p50 ${p50} p95 ${p95} max ${mx} ms" \
    "(target <= $((ttfb_ms + 10)) ms) | HIT p99 ${base} ms alone, ${during} ms during the storm: ${ratio}x | $t CPU ${cpu} s (fill workers ${fcpu} s), origin CPU ${ocpu} s | $storm"
  ratios[$t]+=" $ratio" p50s[$t]+=" $p50" p95s[$t]+=" $p95" maxs[$t]+=" $mx" perobj[$t]+=" $maxget"
}
# Rend and the anchor alternate run by run, so that the machine's moods hit both.
for run in $(seq "$runs"); do
  for t in $targets; do one_run "$t" "$run"; done
done
for t in $targets; do
  # shellcheck disable=SC2086 # word lists
  echo "$t medians of $runs runs: origin GETs per object (max) $(median ${perobj[$t]}) (target 1);" \
    "viewer TTFB p50 $(median ${p50s[$t]}) ms, p95 $(median ${p95s[$t]}) ms, max $(median ${maxs[$t]}) ms" \
    "(target <= $((ttfb_ms + 10)) ms); HIT p99 storm/alone $(median ${ratios[$t]})x (target <= 1.5x)"
done
if [ "$anchor" != none ]; then
  # shellcheck disable=SC2086
  echo "rend / $anchor (medians): viewer TTFB p50 $(awk "BEGIN{printf \"%.2f\", $(median ${p50s[rend]}) / $(median ${p50s[$anchor]})}")x," \
    "p95 $(awk "BEGIN{printf \"%.2f\", $(median ${p95s[rend]}) / $(median ${p95s[$anchor]})}")x;" \
    "HIT p99 storm/alone $(median ${ratios[rend]})x against $(median ${ratios[$anchor]})x"
fi
echo "every viewer's body checked byte for byte; $(curl -sf "$edge/metrics" | awk '/^rend_edge_(origin_requests|coalesced_waiters)_total/ {printf "%s=%s ", $1, $2}')"
