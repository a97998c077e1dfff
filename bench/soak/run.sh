#!/usr/bin/env bash
# Soak: mixed load (uploads of a small generated clip, player bootstraps, edge HITs and
# MISSes, telemetry) against one `rend dev`, on the embedded stores or on the real
# services (a private scripts/stack --services-only on free ports), bounded in time and
# rate. Samples the process's RSS, open fds, threads and the p99 latency every
# --sample-secs, prints a table and a flatness verdict per metric; exit 0 when all
# stayed flat, no request failed and every viewer request was counted once, else 1.
#   bench/soak/run.sh [--minutes 30] [--stack embedded|services] [--sample-secs 60]
#                     [--rate 30] [--upload-every 10] [--json FILE] [--keep]
# Details and figures: bench/README.md, "Soak".
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v ffmpeg >/dev/null || { echo "bench/soak/run.sh needs ffmpeg" >&2; exit 2; }
exec /usr/bin/python3 bench/soak/soak.py "$@"
