#!/usr/bin/env bash
# Preflight of the control-plane host (rend-api + rend-media-worker) before
# scripts/deploy-control-plane-host.sh (docs/edge-host-runbook-v1.md).
#
#   scripts/preflight-control-plane-host.sh --manifest .rend/releases/production-001.json \
#     [--expected-platform linux/amd64] [--api-env /etc/rend/rend-api.env] \
#     [--worker-env /etc/rend/rend-media-worker.env] [--env-file F (both)] \
#     [--compose-file deploy/compose.control-plane.yml] [--allow-dev-defaults]
#
# Checks: Docker/Compose, the compose and env files (scripts/validate-production-env.sh),
# the manifest's digest refs and platform metadata, pulling each image and its OS/arch,
# managed dependency connectivity where this host has the tools (pg_isready,
# redis-cli, ClickHouse /ping, object-store health URL), and free host bind ports.
# One line per check (`ok <check>` / `FAIL <check>: <reason>`, `skip` when a tool is
# missing); exit 1 if any failed, 2 on bad usage. --allow-dev-defaults is passed to
# the env validator (staging or local dry runs only).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib/ops.sh
source "$here/lib/ops.sh"
OPS_ROOT="$(cd "$here/.." && pwd)"

manifest="" platform="linux/amd64" dev_defaults=()
api_env="/etc/rend/rend-api.env" worker_env="/etc/rend/rend-media-worker.env"
compose_file="$OPS_ROOT/deploy/compose.control-plane.yml"
while (($#)); do
  case "$1" in
    --manifest) manifest="${2-}"; shift 2 || ops_die "--manifest needs a file" ;;
    --expected-platform) platform="${2-}"; shift 2 || ops_die "--expected-platform needs os/arch" ;;
    --api-env) api_env="${2-}"; shift 2 || ops_die "--api-env needs a file" ;;
    --worker-env) worker_env="${2-}"; shift 2 || ops_die "--worker-env needs a file" ;;
    --env-file) api_env="${2-}"; worker_env="${2-}"; shift 2 || ops_die "--env-file needs a file" ;;
    --compose-file) compose_file="${2-}"; shift 2 || ops_die "--compose-file needs a file" ;;
    --allow-dev-defaults) dev_defaults=(--allow-dev-defaults); shift ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) ops_die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ -n "$manifest" ]] || ops_die "--manifest is required"
api_env="$(realpath -m "$api_env")" worker_env="$(realpath -m "$worker_env")"
export REND_API_ENV_FILE="$api_env" REND_WORKER_ENV_FILE="$worker_env"

ops_check_docker
ops_check_env_files "api=$api_env" "worker=$worker_env"
ops_check_env control-plane ${dev_defaults[@]+"${dev_defaults[@]}"} --api-env "$api_env" --worker-env "$worker_env"
ops_check_manifest "$manifest" "$platform" rend-api rend-media-worker
export REND_API_IMAGE="${OPS_IMAGE_rend_api:-}" REND_MEDIA_WORKER_IMAGE="${OPS_IMAGE_rend_media_worker:-}"
ops_check_compose_config "$compose_file"
ops_check_ports

env_get() { if [[ -r "$api_env" ]]; then ops_env_get "$api_env" "$1"; fi; }
# url_part URL FIELD: host, port (scheme default), user or password of a URL.
url_part() {
  python3 - "$1" "$2" <<'PY' 2>/dev/null || true
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
default = {"postgres": 5432, "postgresql": 5432, "redis": 6379, "rediss": 6379}.get(p.scheme, "")
v = {"host": p.hostname, "port": p.port or default, "user": p.username, "password": p.password, "scheme": p.scheme}[sys.argv[2]]
print(u.unquote(str(v)) if v not in (None, "") else "")
PY
}

# Managed dependencies. Only host and port go on command lines; passwords travel in
# the environment (REDISCLI_AUTH) or are not needed (pg_isready does not authenticate).
db="$(env_get DATABASE_URL)"
if [[ "$db" != postgres://* && "$db" != postgresql://* ]]; then
  ops_fail postgres "DATABASE_URL in $api_env is not a postgres:// URL"
elif ! command -v pg_isready >/dev/null; then
  ops_skip postgres "pg_isready not installed (apt-get install postgresql-client)"
elif out="$(pg_isready -h "$(url_part "$db" host)" -p "$(url_part "$db" port)" -t 5 2>&1)"; then
  ops_ok "postgres ($out)"
else
  ops_fail postgres "${out:-pg_isready failed}"
fi

redis="$(env_get REND_REDIS_URL)"
if [[ "$redis" != redis://* && "$redis" != rediss://* ]]; then
  ops_fail redis "REND_REDIS_URL in $api_env is not a redis:// URL"
elif ! command -v redis-cli >/dev/null; then
  ops_skip redis "redis-cli not installed (apt-get install redis-tools)"
else
  tls=()
  [[ "$redis" == rediss://* ]] && tls=(--tls)
  user="$(url_part "$redis" user)"
  userargs=()
  [[ -n "$user" ]] && userargs=(--user "$user")
  out="$(
    # An empty REDISCLI_AUTH would still send AUTH; only a URL password sets it.
    pw="$(url_part "$redis" password)"
    if [[ -n "$pw" ]]; then export REDISCLI_AUTH="$pw"; else unset REDISCLI_AUTH; fi
    timeout 10 redis-cli ${tls[@]+"${tls[@]}"} ${userargs[@]+"${userargs[@]}"} \
      -h "$(url_part "$redis" host)" -p "$(url_part "$redis" port)" ping 2>&1
  )" || true
  if [[ "$out" == PONG ]]; then ops_ok "redis (PONG)"; else ops_fail redis "$(ops_url_safe "$redis"): ${out:-no answer}"; fi
fi

ch="$(env_get CLICKHOUSE_URL)"
if [[ -z "$ch" ]]; then
  ops_fail clickhouse "CLICKHOUSE_URL is not set in $api_env"
else
  ops_check_health clickhouse "${ch%/}/ping"
fi

health="$(env_get OBJECT_STORE_HEALTH_URL)"
if [[ -z "$health" ]]; then
  ops_fail object-store "OBJECT_STORE_HEALTH_URL is not set in $api_env"
else
  ops_check_health object-store "$health"
fi

if ((OPS_FAILED)); then
  echo "preflight-control-plane-host: $OPS_FAILED check(s) failed"
  exit 1
fi
echo "preflight-control-plane-host: all checks passed"
