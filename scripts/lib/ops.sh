# shellcheck shell=bash
# Shared helpers of the operator scripts (release-images, preflight-*, deploy-*).
# Sourced, never run. Bash only; JSON through python3 (Debian's, always present on
# hosts that run these scripts) because a shell JSON parser is a bug farm.

ops_die() { # message → stderr, exit 2 (usage and input errors; checks exit 1)
  echo "$(basename "$0"): $*" >&2
  exit 2
}

# One preflight line per check. OPS_FAILED counts failures for the exit code.
OPS_FAILED=0
ops_ok() { echo "ok $1"; }
ops_fail() {
  echo "FAIL $1: $2"
  OPS_FAILED=$((OPS_FAILED + 1))
}
# A check whose tool is absent on this host ("where local tools allow it"):
# reported, not counted as a failure.
ops_skip() { echo "skip $1: $2"; }

# Prints a shell-quoted command line (what --dry-run shows and what runs).
ops_quote() {
  local out="" a
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./:@=,+-]+$ ]]; then out+="${out:+ }$a"; else out+="${out:+ }$(printf '%q' "$a")"; fi
  done
  printf '%s\n' "$out"
}

# The three services of a release, in manifest order.
# shellcheck disable=SC2034 # used by the scripts that source this file
OPS_SERVICES=(rend-api rend-media-worker rend-edge)

# ops_manifest_field MANIFEST SERVICE FIELD: prints services.SERVICE.FIELD, or
# nothing (exit 1) when absent or not a string.
ops_manifest_field() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
try:
    with open(sys.argv[1]) as f:
        m = json.load(f)
    v = m["services"][sys.argv[2]][sys.argv[3]]
except Exception:
    sys.exit(1)
if not isinstance(v, str):
    sys.exit(1)
print(v)
PY
}

# ops_manifest_check MANIFEST SERVICE...: validates the release manifest's shape
# for the given services. Prints one reason a line for every problem; exit 1 if any.
ops_manifest_check() {
  python3 - "$@" <<'PY'
import json, re, sys
path, services = sys.argv[1], sys.argv[2:]
try:
    with open(path) as f:
        m = json.load(f)
except (OSError, ValueError) as e:
    print(f"manifest {path} unreadable: {e.__class__.__name__}")
    sys.exit(1)
bad = []
if not isinstance(m, dict) or not isinstance(m.get("services"), dict):
    print("manifest has no services object")
    sys.exit(1)
if not isinstance(m.get("release"), str) or not m["release"]:
    bad.append("manifest has no release")
for s in services:
    e = m["services"].get(s)
    if not isinstance(e, dict):
        bad.append(f"{s} missing from manifest")
        continue
    d = e.get("image_digest")
    if not isinstance(d, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:/-]*/" + re.escape(s) + r"@sha256:[0-9a-f]{64}", d):
        bad.append(f"{s} image_digest is not a <registry>/{s}@sha256:<64 hex> ref")
    p = e.get("platform")
    if not isinstance(p, str) or not re.fullmatch(r"[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?", p):
        bad.append(f"{s} has no platform (os/arch)")
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
PY
}

# ops_env_get FILE NAME: the value of NAME in a KEY=value env file (last one wins;
# optional surrounding quotes removed). Empty output when unset.
ops_env_get() {
  python3 - "$1" "$2" <<'PY'
import sys
val = None
try:
    with open(sys.argv[1]) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            if line.startswith("export "):
                line = line[7:].lstrip()
            k, v = line.split("=", 1)
            if k.strip() == sys.argv[2]:
                v = v.strip()
                if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                    v = v[1:-1]
                val = v
except OSError:
    sys.exit(1)
if val is not None:
    print(val)
PY
}

OPS_PROBE() { python3 "$(dirname "${BASH_SOURCE[0]}")/ops_probe.py" "$@"; }

# Docker engine and the compose plugin.
ops_check_docker() {
  local v
  if v="$(docker version --format '{{.Server.Version}}' 2>&1)"; then
    ops_ok "docker (engine $v)"
  else
    ops_fail docker "$(printf '%s' "$v" | tail -n1)"
  fi
  if v="$(docker compose version --short 2>&1)"; then
    ops_ok "compose (v$v)"
  else
    ops_fail compose "$(printf '%s' "$v" | head -n1)"
  fi
}

# ops_check_env_files NAME=FILE...: each env file exists and is readable.
ops_check_env_files() {
  local kv bad=""
  for kv in "$@"; do
    [[ -r "${kv#*=}" ]] || bad+="${bad:+; }${kv%%=*} env file ${kv#*=} is not readable"
  done
  if [[ -z "$bad" ]]; then ops_ok "env-files"; else ops_fail env-files "$bad"; fi
}

# ops_check_env ROLE ARGS...: scripts/validate-production-env.sh (another part of the
# tree) decides whether the env files are deployable; its report is shown indented.
ops_check_env() {
  local role="$1" out validator
  shift
  validator="$OPS_ROOT/scripts/validate-production-env.sh"
  if [[ ! -x "$validator" ]]; then
    ops_fail env "scripts/validate-production-env.sh not found"
    return
  fi
  if out="$("$validator" --role "$role" "$@" 2>&1)"; then
    ops_ok "env ($role)"
  else
    ops_fail env "scripts/validate-production-env.sh --role $role reported problems:"
    printf '%s\n' "$out" | sed 's/^/    /'
  fi
}

# ops_check_manifest MANIFEST PLATFORM SERVICE...: digest refs, then platform
# metadata, then (for a valid ref) pull readiness and the pulled image's OS/arch.
# Exports OPS_IMAGE_<SERVICE> (rend-api → OPS_IMAGE_rend_api) for the compose run.
ops_check_manifest() {
  local manifest="$1" want="$2" out s ref plat got
  shift 2
  if [[ ! -r "$manifest" ]]; then
    ops_fail manifest-digest "manifest $manifest is not readable"
    ops_fail manifest-platform "manifest $manifest is not readable"
    return
  fi
  if out="$(ops_manifest_check "$manifest" "$@")"; then
    ops_ok "manifest-digest ($*)"
  else
    ops_fail manifest-digest "$(printf '%s' "$out" | paste -sd';' | sed 's/;/; /g')"
  fi
  local bad=""
  for s in "$@"; do
    plat="$(ops_manifest_field "$manifest" "$s" platform || true)"
    [[ "$plat" == "$want" ]] || bad+="${bad:+; }$s is ${plat:-unset}, host expects $want"
  done
  if [[ -z "$bad" ]]; then ops_ok "manifest-platform ($want)"; else ops_fail manifest-platform "$bad"; fi
  for s in "$@"; do
    ref="$(ops_manifest_field "$manifest" "$s" image_digest || true)"
    if [[ ! "$ref" =~ @sha256:[0-9a-f]{64}$ ]]; then
      ops_fail "image-pull $s" "no digest ref in the manifest"
      continue
    fi
    printf -v "OPS_IMAGE_${s//-/_}" '%s' "$ref"
    export "OPS_IMAGE_${s//-/_}"
    if out="$(docker pull --platform "$want" "$ref" 2>&1)"; then
      ops_ok "image-pull $s"
    else
      ops_fail "image-pull $s" "$(printf '%s' "$out" | tail -n1)"
      continue
    fi
    if got="$(docker image inspect --format '{{.Os}}/{{.Architecture}}' "$ref" 2>&1)" && [[ "$got" == "$want" ]]; then
      ops_ok "image-platform $s ($got)"
    else
      ops_fail "image-platform $s" "pulled image is ${got:-unknown}, host expects $want"
    fi
  done
}

# ops_compose_config COMPOSE_FILE: renders the compose file (JSON) with the current
# environment into OPS_COMPOSE_JSON; one check line.
ops_check_compose_config() {
  local out
  if out="$(docker compose -f "$1" config --format json 2>&1)"; then
    OPS_COMPOSE_JSON="$out"
    ops_ok "compose-config ($1)"
  else
    OPS_COMPOSE_JSON=""
    ops_fail compose-config "$(printf '%s' "$out" | tail -n1)"
  fi
}

# Published ports: private by default (loopback or a private address), then free.
ops_check_ports() {
  local out svc ip port
  if [[ -z "$OPS_COMPOSE_JSON" ]]; then
    ops_fail port-publishing "compose config did not render"
    return
  fi
  if out="$(printf '%s' "$OPS_COMPOSE_JSON" | OPS_PROBE ports)"; then
    ops_ok "port-publishing (private)"
  else
    ops_fail port-publishing "$out"
    return
  fi
  while read -r svc ip port; do
    [[ -n "$port" ]] || continue
    if out="$(OPS_PROBE bind "$ip" "$port")"; then ops_ok "bind-port $svc $ip:$port"; else ops_fail "bind-port $svc $ip:$port" "$out"; fi
  done <<<"$(printf '%s' "$OPS_COMPOSE_JSON" | OPS_PROBE ports)"
}

# ops_url_safe URL: the URL without userinfo, query or fragment (never a secret in output).
ops_url_safe() { python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit((p.scheme, p.hostname + (f":{p.port}" if p.port else "") if p.hostname else "", p.path, "", "")))' "$1" 2>/dev/null || echo "(unparsable URL)"; }

# ops_check_health NAME URL: GET answers 2xx.
ops_check_health() {
  local name="$1" url="$2" code
  if [[ -z "$url" ]]; then
    ops_fail "$name" "no health URL configured"
    return
  fi
  code="$(OPS_TOKEN="" OPS_PROBE http GET "$url")" || true
  if [[ "$code" =~ ^2[0-9][0-9]$ ]]; then
    ops_ok "$name ($(ops_url_safe "$url") $code)"
  elif [[ "$code" =~ ^[0-9]+$ ]]; then
    ops_fail "$name" "$(ops_url_safe "$url") answered $code"
  else
    ops_fail "$name" "$(ops_url_safe "$url") $code"
  fi
}

# ---- deploy helpers -------------------------------------------------------------------
# OPS_DEPLOY_ENV holds NAME=VALUE words for compose's interpolation; every command is
# printed with them as a prefix, so a dry run shows exactly what runs (and can be pasted).
OPS_DEPLOY_ENV=()
OPS_DRY_RUN=0
ops_deploy_env() { # NAME=VALUE... (also exported for the real run)
  local kv
  for kv in "$@"; do
    OPS_DEPLOY_ENV+=("$kv")
    export "${kv?}"
  done
}
# ops_deploy_passthrough NAME...: host variables of the compose file, when set.
ops_deploy_passthrough() {
  local n
  for n in "$@"; do
    [[ -n "${!n:-}" ]] && ops_deploy_env "$n=${!n}"
  done
  return 0
}
# ops_step DESCRIPTION CMD...: prints the command; runs it unless --dry-run; a failed
# step stops the deploy (the later steps depend on it).
ops_step() {
  local what="$1"
  shift
  echo "# $what"
  if [[ "$1" == docker ]]; then ops_quote "${OPS_DEPLOY_ENV[@]}" "$@"; else ops_quote "$@"; fi
  ((OPS_DRY_RUN)) && return 0
  if ! "$@"; then
    echo "$(basename "$0"): step failed: $what; later steps not run" >&2
    exit 1
  fi
}
# ops_wait_ready URL SECS: curl retries until /readyz answers 2xx or SECS pass.
ops_wait_ready_cmd() {
  echo curl -fsS -o /dev/null --retry-all-errors --retry "$2" --retry-delay 1 --retry-max-time "$2" --max-time 5 "$1"
}
