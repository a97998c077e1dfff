#!/usr/bin/env bash
# Validates production env files before a deploy (seed: "Validate production env
# files"; docs/production-env.md). A thin wrapper: every rule lives in `rend env check`,
# the same check each role runs at start with REND_ENV=production.
#
#   scripts/validate-production-env.sh --role control-plane|edge-host|all
#       [--allow-dev-defaults] [--api-env F] [--worker-env F] [--edge-env F] [--env-file F]
#
# Without a file flag it reads .env.production, then .env.production.local, then the
# process environment (never .env.local). Exit 0: valid; 1: problems, one line each
# naming the variable and the file (never a value); 2: usage error or no binary.
# The binary: $REND_BIN, else build/rend of this checkout, else `rend` on PATH.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${REND_BIN:-}"
if [[ -z "$bin" ]]; then
  if [[ -x "$root/build/rend" ]]; then
    bin="$root/build/rend"
  else
    bin="$(command -v rend || true)"
  fi
fi
if [[ -z "$bin" || ! -x "$bin" ]]; then
  echo "validate-production-env: no rend binary (set REND_BIN, or build it: ninja -C build rend)" >&2
  exit 2
fi
exec "$bin" env check "$@"
