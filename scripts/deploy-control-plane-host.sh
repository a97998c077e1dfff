#!/usr/bin/env bash
# Deploys a release to the control-plane host with deploy/compose.control-plane.yml,
# images only from the release manifest's digest refs (docs/edge-host-runbook-v1.md).
#
#   scripts/deploy-control-plane-host.sh --manifest .rend/releases/production-001.json \
#     [--dry-run] [--api-env /etc/rend/rend-api.env] [--worker-env /etc/rend/rend-media-worker.env]
#     [--env-file F (both)] [--compose-file F] [--project rend-control-plane]
#     [--readyz-url http://127.0.0.1:4000/readyz] [--readyz-timeout 120] [--services all|api|worker]
#
# Order (the seed's): pull; run the API migration step (rend migrate,
# REND_API_AUTO_MIGRATE=true) to completion; start rend-api; wait until its /readyz
# answers 2xx; start rend-media-worker (REND_API_AUTO_MIGRATE=false). --services api
# stops after the API is ready and --services worker (after the edges are up, as the
# first-host procedure orders it) waits for the API's /readyz, then starts the worker.
# --dry-run prints the exact commands and runs nothing. A failed step stops the deploy
# (exit 1).
# Host variables of the compose file (REND_API_PUBLISH_ADDR, REND_API_HOST_PORT) are
# taken from the environment.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib/ops.sh
source "$here/lib/ops.sh"
root="$(cd "$here/.." && pwd)"

manifest="" api_env="/etc/rend/rend-api.env" worker_env="/etc/rend/rend-media-worker.env"
compose_file="$root/deploy/compose.control-plane.yml" project="rend-control-plane"
readyz="" timeout=120 services=all
while (($#)); do
  case "$1" in
    --manifest) manifest="${2-}"; shift 2 || ops_die "--manifest needs a file" ;;
    --dry-run) OPS_DRY_RUN=1; shift ;;
    --api-env) api_env="${2-}"; shift 2 || ops_die "--api-env needs a file" ;;
    --worker-env) worker_env="${2-}"; shift 2 || ops_die "--worker-env needs a file" ;;
    --env-file) api_env="${2-}"; worker_env="${2-}"; shift 2 || ops_die "--env-file needs a file" ;;
    --compose-file) compose_file="${2-}"; shift 2 || ops_die "--compose-file needs a file" ;;
    --project) project="${2-}"; shift 2 || ops_die "--project needs a name" ;;
    --readyz-url) readyz="${2-}"; shift 2 || ops_die "--readyz-url needs a URL" ;;
    --readyz-timeout) timeout="${2-}"; shift 2 || ops_die "--readyz-timeout needs seconds" ;;
    --services) services="${2-}"; shift 2 || ops_die "--services needs all, api or worker" ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) ops_die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ -n "$manifest" ]] || ops_die "--manifest is required"
[[ "$timeout" =~ ^[1-9][0-9]{0,4}$ ]] || ops_die "--readyz-timeout must be whole seconds (1..99999)"
[[ "$services" =~ ^(all|api|worker)$ ]] || ops_die "--services must be all, api or worker"
if ! problems="$(ops_manifest_check "$manifest" rend-api rend-media-worker)"; then
  echo "$(basename "$0"): refusing $manifest:" >&2
  printf '%s\n' "$problems" | sed 's/^/  /' >&2
  exit 1
fi
[[ -n "$readyz" ]] || readyz="http://${REND_API_PUBLISH_ADDR:-127.0.0.1}:${REND_API_HOST_PORT:-4000}/readyz"

ops_deploy_env "REND_API_IMAGE=$(ops_manifest_field "$manifest" rend-api image_digest)" \
  "REND_MEDIA_WORKER_IMAGE=$(ops_manifest_field "$manifest" rend-media-worker image_digest)" \
  "REND_API_ENV_FILE=$(realpath -m "$api_env")" "REND_WORKER_ENV_FILE=$(realpath -m "$worker_env")"
ops_deploy_passthrough REND_API_PUBLISH_ADDR REND_API_HOST_PORT
compose=(docker compose -f "$compose_file" -p "$project")

echo "# release $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["release"])' "$manifest") to $project$( ((OPS_DRY_RUN)) && echo ' (dry run: nothing is run)')"
wait_api() {
  # shellcheck disable=SC2046
  ops_step "$1. wait until rend-api /readyz passes (at most ${timeout}s)" $(ops_wait_ready_cmd "$readyz" "$timeout")
}
case "$services" in
  all) pull=(rend-api-migrate rend-api rend-media-worker) ;;
  api) pull=(rend-api-migrate rend-api) ;;
  worker) pull=(rend-media-worker) ;;
esac
ops_step "1. pull the manifest's images" "${compose[@]}" pull "${pull[@]}"
if [[ "$services" != worker ]]; then
  ops_step "2. API migration step (REND_API_AUTO_MIGRATE=true), to completion" "${compose[@]}" run --rm rend-api-migrate
  ops_step "3. start rend-api" "${compose[@]}" up -d --no-deps rend-api
  wait_api 4
fi
if [[ "$services" == worker ]]; then
  wait_api 2 # the worker needs a migrated schema: the API's readiness says so
  ops_step "3. start rend-media-worker (REND_API_AUTO_MIGRATE=false)" "${compose[@]}" up -d --no-deps rend-media-worker
elif [[ "$services" == all ]]; then
  ops_step "5. start rend-media-worker (REND_API_AUTO_MIGRATE=false)" "${compose[@]}" up -d --no-deps rend-media-worker
fi
if ((!OPS_DRY_RUN)); then
  if [[ "$services" == api ]]; then
    echo "rend-api is ready: deploy the edges, then run this again with --services worker"
  else
    echo "deployed: verify with scripts/verify-first-host-deploy.sh (docs/edge-host-runbook-v1.md)"
  fi
fi
