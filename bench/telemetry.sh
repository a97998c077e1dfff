#!/usr/bin/env bash
# Both telemetry figures in one go: events/s one API ingests into ClickHouse
# (telemetry_ingest.sh, target >= 100,000/s) and what telemetry costs the edge's
# request rate (telemetry_edge_cost.sh, target < 3%). See bench/README.md.
#   bench/telemetry.sh [--runs N]   (passed to both)
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== ingest: events/s into ClickHouse through POST /internal/telemetry =="
bench/telemetry_ingest.sh "$@"
echo
echo "== edge: req/s with telemetry on vs off =="
bench/telemetry_edge_cost.sh "$@"
