#!/usr/bin/env bash
# First-host verification after a deploy: the API, every edge's private /readyz and
# registration, the public deny surface, a warmed HIT signed playback on each edge,
# and telemetry reaching analytics without loss (docs/stack.md, README).
#
#   scripts/verify-first-host-deploy.sh --api-base URL \
#     --edge-base URL --edge-internal-base URL [--edge-base URL --edge-internal-base URL]... \
#     --api-env FILE --edge-env FILE [--asset-id ID] [--rewrite-playback-base] \
#     [--database-url URL] [--clickhouse-url URL --clickhouse-database DB \
#      --clickhouse-user USER --clickhouse-password PW] [--run-readiness-gate] \
#     [--telemetry-timeout SECS] [--asset-timeout SECS] [--heartbeat-max-age SECS]
#
# One line per check, `ok CHECK: …` or `FAIL CHECK: reason`, printed as it runs;
# exit 0 only when every check is ok (1 otherwise, 2 on bad usage). Tokens, keys,
# passwords and cookies are never printed.
# REND_READINESS_API_KEY (environment, scopes upload, read, delete, analytics): reads
# analytics through the API, and without --asset-id uploads a generated clip (deleted
# afterwards). --run-readiness-gate runs `rend readiness --target configured
# --skip-local-stack` (REND_BIN, else rend on PATH) with the same edges and credentials.
set -euo pipefail
exec /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/lib/verify_first_host.py" "$@"
