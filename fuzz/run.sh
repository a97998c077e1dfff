#!/usr/bin/env bash
# Runs every libFuzzer target in build-fuzz/ for FUZZ_SECONDS each (one after the
# other: the machine's cores are shared) and prints executions and findings per
# target. Seeds come from fuzz/corpus/<target>/ (read only); what the fuzzer learns
# goes to build-fuzz/corpus/<target>/ so it carries over to the next run; crashing
# inputs land in fuzz/crashes/<target>-*. Exits 1 when any target found something.
#   fuzz/run.sh [seconds] [target...]
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-${FUZZ_SECONDS:-300}}
shift || true
bin=build-fuzz/fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$bin"/fuzz_*; do targets+=("$(basename "$f" | sed 's/^fuzz_//')"); done
fi
mkdir -p fuzz/crashes
failed=0
printf '%-18s %12s %10s %8s %s\n' target executions exec/s corpus findings
for t in "${targets[@]}"; do
  exe="$bin/fuzz_$t"
  [ -x "$exe" ] || { echo "$t: $exe not built (make fuzz-build)"; failed=1; continue; }
  work="build-fuzz/corpus/$t"
  mkdir -p "$work"
  before=$(ls fuzz/crashes | grep -c "^$t-" || true)
  args=(-max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -max_len=16384
        -artifact_prefix="fuzz/crashes/$t-")
  [ -f "fuzz/dict/$t.dict" ] && args+=(-dict="fuzz/dict/$t.dict")
  log="build-fuzz/fuzz-$t.log"
  # Leak checks stay on (ASan's default), so a leak on a parsing path is a finding too.
  "$exe" "${args[@]}" "$work" "fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(ls "$work" | wc -l)
  after=$(ls fuzz/crashes | grep -c "^$t-" || true)
  found=$((after - before))
  if [ $rc -ne 0 ] || [ $found -gt 0 ]; then
    failed=1
    printf '%-18s %12s %10s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "FOUND (exit $rc): see $log, fuzz/crashes/$t-*"
    grep -m3 -E 'ERROR|invariant failed|runtime error|SUMMARY' "$log" | sed 's/^/    /'
  else
    printf '%-18s %12s %10s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" none
  fi
done
exit $failed
