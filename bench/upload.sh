#!/usr/bin/env bash
# Upload throughput on loopback (issue 13): a generated file (1 GiB by default) stored
#   cp    copied onto the same disk and fsync'd (the physical limit of this machine),
#   put   one PUT /v1/uploads/{id} (curl --upload-file; the slot is created before timing),
#   tus   tus with 8 MiB PATCHes (bench/tus_client.py, one keep-alive connection; timed
#         from the client's start, creation POST included),
# alternating, --runs times each, against `rend api` alone (embedded stores, no worker:
# nothing transcodes meanwhile). Prints each run, the medians, the ratios put/cp and
# tus/put, and the API's peak RSS during each method's runs (VmHWM, reset before each
# run through /proc/PID/clear_refs).
#   bench/upload.sh [--runs 3] [--size-mib 1024] [--chunk-mib 8]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3 size_mib=1024 chunk_mib=8
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --size-mib) size_mib=$2; shift 2 ;;
    --chunk-mib) chunk_mib=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--size-mib M] [--chunk-mib C]" >&2; exit 2 ;;
  esac
done
bin=${REND_BIN:-build/rend}
. bench/lib.sh
# On the disk Rend stores on (not a tmpfs), so cp and Rend write to the same device.
mkdir -p .rend && work=$(mktemp -d "$PWD/.rend/upload-bench.XXXXXX")
api_port=$(free_port)
export REND_API_BIND_ADDR=127.0.0.1:$api_port REND_MAX_UPLOAD_BYTES=$(((size_mib + 1) << 20))
key=$("$bin" keys create --scopes upload,read --name bench --data-dir "$work/data" | tail -1)
"$bin" api --data-dir "$work/data" >"$work/out.log" 2>"$work/err.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
api=http://127.0.0.1:$api_port
for _ in $(seq 100); do curl -sf "$api/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
head -c "$((size_mib << 20))" /dev/urandom >"$work/file.bin"
now() { date +%s.%N; }
reset_peak() { echo 5 >"/proc/$pid/clear_refs"; }
peak_kib() { awk '/VmHWM/ {print $2}' "/proc/$pid/status"; }
drop_sources() { rm -rf "$work/data/objects/sources" "$work/copy.bin"; }

run_cp() { cp "$work/file.bin" "$work/copy.bin" && sync "$work/copy.bin"; }
# The upload slot is created before the clock starts: the PUT alone is timed, not the
# POST and a Python start to read its answer.
prepare_put() {
  put_url=$(curl -sf -X POST -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d "{\"size_bytes\": $((size_mib << 20))}" "$api/v1/uploads" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["upload_url"])')
}
run_put() {
  curl -sf -X PUT -H "Authorization: Bearer $key" -H 'Content-Type: application/octet-stream' \
    --upload-file "$work/file.bin" "$put_url" >/dev/null
}
run_tus() { /usr/bin/python3 bench/tus_client.py "$api" "$key" "$work/file.bin" "$((chunk_mib << 20))" >/dev/null; }

declare -A times peaks
echo "machine: $(nproc) CPUs; file ${size_mib} MiB; tus chunks ${chunk_mib} MiB; $runs runs each, alternating"
for i in $(seq "$runs"); do
  for m in cp put tus; do
    drop_sources
    if [ "$m" = put ]; then prepare_put; fi
    sync
    reset_peak
    t0=$(now)
    "run_$m"
    t1=$(now)
    s=$(awk "BEGIN{print $t1 - $t0}")
    mbs=$(awk "BEGIN{printf \"%.0f\", $size_mib / $s}")
    p=$(peak_kib)
    echo "run $i $m: ${s}s (${mbs} MiB/s), API peak RSS ${p} KiB"
    times[$m]+="$s " peaks[$m]+="$p "
  done
done
drop_sources
# shellcheck disable=SC2086
cp_m=$(median ${times[cp]}) put_m=$(median ${times[put]}) tus_m=$(median ${times[tus]})
# shellcheck disable=SC2086
echo "median: cp ${cp_m}s, put ${put_m}s, tus ${tus_m}s"
echo "ratio put/cp: $(awk "BEGIN{printf \"%.2f\", $put_m / $cp_m}") (target <= 1.5)"
echo "ratio tus/put: $(awk "BEGIN{printf \"%.2f\", $tus_m / $put_m}") (target <= 1.5)"
# shellcheck disable=SC2086
echo "API peak RSS (max of runs): put $(printf '%s\n' ${peaks[put]} | sort -n | tail -1) KiB," \
  "tus $(printf '%s\n' ${peaks[tus]} | sort -n | tail -1) KiB, idle during cp $(printf '%s\n' ${peaks[cp]} | sort -n | tail -1) KiB"
