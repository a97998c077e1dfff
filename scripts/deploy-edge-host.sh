#!/usr/bin/env bash
# Deploys a release's rend-edge to this edge host with deploy/compose.edge.yml, the
# image only from the release manifest's digest ref (docs/edge-host-runbook-v1.md).
#
#   scripts/deploy-edge-host.sh --manifest .rend/releases/production-001.json [--dry-run] \
#     [--edge-env /etc/rend/rend-edge.env] [--compose-file F] [--project rend-edge] \
#     [--readyz-url http://127.0.0.1:4100/readyz] [--readyz-timeout 60]
#
# Order: pull; start rend-edge; wait until its /readyz answers 2xx (cache directory and
# object-store origin). Run it after the control plane's API is ready. --dry-run prints
# the exact commands and runs nothing. A failed step stops the deploy (exit 1). Host
# variables of the compose file (REND_EDGE_PUBLISH_ADDR, REND_EDGE_HOST_PORT,
# REND_EDGE_INTERNAL_*, REND_EDGE_CACHE_HOST_DIR, REND_EDGE_SPOOL_HOST_DIR) are taken
# from the environment.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib/ops.sh
source "$here/lib/ops.sh"
root="$(cd "$here/.." && pwd)"

manifest="" edge_env="/etc/rend/rend-edge.env"
compose_file="$root/deploy/compose.edge.yml" project="rend-edge" readyz="" timeout=60
while (($#)); do
  case "$1" in
    --manifest) manifest="${2-}"; shift 2 || ops_die "--manifest needs a file" ;;
    --dry-run) OPS_DRY_RUN=1; shift ;;
    --edge-env | --env-file) edge_env="${2-}"; shift 2 || ops_die "$1 needs a file" ;;
    --compose-file) compose_file="${2-}"; shift 2 || ops_die "--compose-file needs a file" ;;
    --project) project="${2-}"; shift 2 || ops_die "--project needs a name" ;;
    --readyz-url) readyz="${2-}"; shift 2 || ops_die "--readyz-url needs a URL" ;;
    --readyz-timeout) timeout="${2-}"; shift 2 || ops_die "--readyz-timeout needs seconds" ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) ops_die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ -n "$manifest" ]] || ops_die "--manifest is required"
[[ "$timeout" =~ ^[1-9][0-9]{0,4}$ ]] || ops_die "--readyz-timeout must be whole seconds (1..99999)"
if ! problems="$(ops_manifest_check "$manifest" rend-edge)"; then
  echo "$(basename "$0"): refusing $manifest:" >&2
  printf '%s\n' "$problems" | sed 's/^/  /' >&2
  exit 1
fi
[[ -n "$readyz" ]] || readyz="http://${REND_EDGE_PUBLISH_ADDR:-127.0.0.1}:${REND_EDGE_HOST_PORT:-4100}/readyz"

ops_deploy_env "REND_EDGE_IMAGE=$(ops_manifest_field "$manifest" rend-edge image_digest)" \
  "REND_EDGE_ENV_FILE=$(realpath -m "$edge_env")"
ops_deploy_passthrough REND_EDGE_PUBLISH_ADDR REND_EDGE_HOST_PORT REND_EDGE_INTERNAL_PUBLISH_ADDR \
  REND_EDGE_INTERNAL_HOST_PORT REND_EDGE_CACHE_HOST_DIR REND_EDGE_SPOOL_HOST_DIR
compose=(docker compose -f "$compose_file" -p "$project")

echo "# release $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["release"])' "$manifest") to $project$( ((OPS_DRY_RUN)) && echo ' (dry run: nothing is run)')"
ops_step "1. pull the manifest's image" "${compose[@]}" pull rend-edge
ops_step "2. start rend-edge (node-local cache and telemetry spool)" "${compose[@]}" up -d --no-deps rend-edge
# shellcheck disable=SC2046
ops_step "3. wait until rend-edge /readyz passes (at most ${timeout}s)" $(ops_wait_ready_cmd "$readyz" "$timeout")
((OPS_DRY_RUN)) || echo "deployed: verify with scripts/verify-first-host-deploy.sh (docs/edge-host-runbook-v1.md)"
