#!/usr/bin/env bash
# Time to playable benchmark: Rend vs one ffmpeg command, in one run. See bench/README.md.
#   bench/time_to_playable.sh [--runs N] [--baseline-runs N] [--bin PATH] [--json OUT] [--strict]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
exec "$py" "$here/time_to_playable.py" "$@"
