#!/usr/bin/env bash
# Preflight of an edge host before scripts/deploy-edge-host.sh (docs/edge-host-runbook-v1.md).
#
#   scripts/preflight-edge-host.sh --manifest .rend/releases/production-001.json \
#     [--expected-platform linux/amd64] [--edge-env /etc/rend/rend-edge.env] \
#     [--compose-file deploy/compose.edge.yml] [--allow-dev-defaults]
#
# Checks: Docker/Compose, the edge env (scripts/validate-production-env.sh), the
# manifest's rend-edge digest ref and platform, pulling it and the pulled OS/arch,
# private-by-default port publishing, uid/gid 10001 writability of the cache and spool
# directories, object-store health, control-plane register/heartbeat reachability,
# telemetry ingest reachability, and free bind ports. One line per check
# (`ok <check>` / `FAIL <check>: <reason>`); exit 1 if any failed, 2 on bad usage.
# Compose variables (REND_EDGE_PUBLISH_ADDR, REND_EDGE_CACHE_HOST_DIR, …) are read from
# the environment exactly as the deploy helper passes them to compose.
# --allow-dev-defaults is passed to the env validator (staging or local dry runs only).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib/ops.sh
source "$here/lib/ops.sh"
OPS_ROOT="$(cd "$here/.." && pwd)"

manifest="" platform="linux/amd64" dev_defaults=() edge_env="/etc/rend/rend-edge.env"
compose_file="$OPS_ROOT/deploy/compose.edge.yml"
while (($#)); do
  case "$1" in
    --manifest) manifest="${2-}"; shift 2 || ops_die "--manifest needs a file" ;;
    --expected-platform) platform="${2-}"; shift 2 || ops_die "--expected-platform needs os/arch" ;;
    --edge-env | --env-file) edge_env="${2-}"; shift 2 || ops_die "$1 needs a file" ;;
    --compose-file) compose_file="${2-}"; shift 2 || ops_die "--compose-file needs a file" ;;
    --allow-dev-defaults) dev_defaults=(--allow-dev-defaults); shift ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) ops_die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ -n "$manifest" ]] || ops_die "--manifest is required"
edge_env="$(realpath -m "$edge_env")"
export REND_EDGE_ENV_FILE="$edge_env"

ops_check_docker
ops_check_env_files "edge=$edge_env"
ops_check_env edge-host ${dev_defaults[@]+"${dev_defaults[@]}"} --edge-env "$edge_env"
ops_check_manifest "$manifest" "$platform" rend-edge
export REND_EDGE_IMAGE="${OPS_IMAGE_rend_edge:-}"
ops_check_compose_config "$compose_file"
ops_check_ports

env_get() { if [[ -r "$edge_env" ]]; then ops_env_get "$edge_env" "$1"; fi; }

# The container runs as 10001:10001 (Dockerfile); its cache and spool are these host
# directories, so they must be writable by that uid/gid, not by whoever runs this.
for kind in cache spool; do
  if [[ $kind == cache ]]; then dir="${REND_EDGE_CACHE_HOST_DIR:-/var/lib/rend-edge/cache}"; else dir="${REND_EDGE_SPOOL_HOST_DIR:-/var/lib/rend-edge/telemetry-spool}"; fi
  if [[ ! -d "$dir" ]]; then
    ops_fail "$kind-writable" "$dir does not exist (create it owned by 10001:10001)"
  elif ((EUID == 0)); then
    # Really write as 10001:10001 (no supplementary groups), then clean up.
    # shellcheck disable=SC2016 # expanded by the inner sh
    if setpriv --reuid 10001 --regid 10001 --clear-groups -- \
      sh -c 'f="$1/.rend-preflight.$$" && : >"$f" && rm -f "$f"' sh "$dir" 2>/dev/null; then
      ops_ok "$kind-writable ($dir by 10001:10001)"
    else
      ops_fail "$kind-writable" "$dir is not writable by uid/gid 10001 (chown -R 10001:10001 $dir)"
    fi
  elif out="$(OPS_PROBE writable "$dir" 10001 10001)"; then
    ops_ok "$kind-writable ($out)"
  else
    ops_fail "$kind-writable" "$out"
  fi
done

origin_health="$(env_get REND_EDGE_ORIGIN_HEALTH_URL)"
[[ -n "$origin_health" ]] || origin_health="$(env_get OBJECT_STORE_HEALTH_URL)"
if [[ -z "$origin_health" ]]; then
  ops_fail object-store "neither REND_EDGE_ORIGIN_HEALTH_URL nor OBJECT_STORE_HEALTH_URL is set in $edge_env"
else
  ops_check_health object-store "$origin_health"
fi

# Register/heartbeat: the registry listing answers 200 only to the edge internal token,
# and changes nothing (a heartbeat would register this host before its edge runs).
cp_url="$(env_get REND_CONTROL_PLANE_URL)"
if [[ -z "$cp_url" ]]; then
  ops_fail control-plane "REND_CONTROL_PLANE_URL is not set in $edge_env"
else
  code="$(OPS_TOKEN="$(env_get REND_EDGE_INTERNAL_TOKEN)" OPS_PROBE http GET "${cp_url%/}/internal/edges")" || true
  case "$code" in
    200) ops_ok "control-plane ($(ops_url_safe "$cp_url") accepts the edge internal token)" ;;
    401 | 403) ops_fail control-plane "$(ops_url_safe "$cp_url") refused REND_EDGE_INTERNAL_TOKEN ($code)" ;;
    [0-9][0-9][0-9]) ops_fail control-plane "$(ops_url_safe "${cp_url%/}/internal/edges") answered $code" ;;
    *) ops_fail control-plane "$(ops_url_safe "${cp_url%/}/internal/edges") $code" ;;
  esac
fi

# Telemetry: an empty probe batch is refused as invalid (400) after the token check
# passed, so nothing is stored; 401 is a wrong token, 503 ingest turned off.
if [[ "$(env_get REND_EDGE_TELEMETRY_ENABLED)" == "false" ]]; then
  ops_ok "telemetry-ingest (REND_EDGE_TELEMETRY_ENABLED=false)"
else
  ingest="$(env_get REND_EDGE_TELEMETRY_INGEST_URL)"
  [[ -n "$ingest" || -z "$cp_url" ]] || ingest="${cp_url%/}/internal/telemetry"
  if [[ -z "$ingest" ]]; then
    ops_fail telemetry-ingest "neither REND_EDGE_TELEMETRY_INGEST_URL nor REND_CONTROL_PLANE_URL is set in $edge_env"
  else
    code="$(OPS_TOKEN="$(env_get REND_INTERNAL_TELEMETRY_TOKEN)" OPS_PROBE http POST "$ingest" '{"batch_id":"preflight","events":[]}')" || true
    case "$code" in
      200 | 400) ops_ok "telemetry-ingest ($(ops_url_safe "$ingest") accepts the telemetry token)" ;;
      401 | 403) ops_fail telemetry-ingest "$(ops_url_safe "$ingest") refused REND_INTERNAL_TELEMETRY_TOKEN ($code)" ;;
      [0-9][0-9][0-9]) ops_fail telemetry-ingest "$(ops_url_safe "$ingest") answered $code" ;;
      *) ops_fail telemetry-ingest "$(ops_url_safe "$ingest") $code" ;;
    esac
  fi
fi

if ((OPS_FAILED)); then
  echo "preflight-edge-host: $OPS_FAILED check(s) failed"
  exit 1
fi
echo "preflight-edge-host: all checks passed"
