#!/usr/bin/env bash
# Copies the deploy-managed allowlist from the platform environment (the CI job's
# Production environment) into the control plane's API and worker env files before a
# deploy (seed: "The Release and Deploy Backend workflow syncs the deploy-managed
# allowlist"; docs/production-env.md).
#
#   scripts/sync-deploy-env.sh --api-env FILE --worker-env FILE
#
# The allowlist: CLICKHOUSE_*, REND_API_CORS_ALLOWED_ORIGINS, AUTUMN_* and
# REND_BILLING_*, each copied when set and non-empty. A copied variable replaces its
# line in each file (or is appended); every other line is kept. Refuses (changing
# nothing) unless AUTUMN_SECRET_KEY is visibly live (am_sk_live_…) and CLICKHOUSE_URL,
# CLICKHOUSE_USER and CLICKHOUSE_PASSWORD are set. Prints variable names only, never
# a value.
set -euo pipefail

me="sync-deploy-env"
usage() { echo "usage: scripts/sync-deploy-env.sh --api-env FILE --worker-env FILE" >&2; exit 2; }

api_env="" worker_env=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --api-env) [[ $# -ge 2 ]] || usage; api_env="$2"; shift 2 ;;
    --api-env=*) api_env="${1#*=}"; shift ;;
    --worker-env) [[ $# -ge 2 ]] || usage; worker_env="$2"; shift 2 ;;
    --worker-env=*) worker_env="${1#*=}"; shift ;;
    *) echo "$me: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ -n "$api_env" && -n "$worker_env" ]] || usage

fail() { echo "$me: $*; nothing was changed" >&2; exit 1; }

for f in "$api_env" "$worker_env"; do
  [[ -f "$f" && -r "$f" && -w "$f" ]] || fail "$f is not a readable and writable env file"
done

# Visibly live: a sandbox key (am_sk_test_…) or a stray value must never reach production.
[[ -n "${AUTUMN_SECRET_KEY:-}" ]] || fail "AUTUMN_SECRET_KEY is not set in the environment"
[[ "$AUTUMN_SECRET_KEY" == am_sk_live_?* ]] || fail "AUTUMN_SECRET_KEY is not a live Autumn key (am_sk_live_…)"
missing=()
for name in CLICKHOUSE_URL CLICKHOUSE_USER CLICKHOUSE_PASSWORD; do
  if [[ -z "${!name:-}" ]]; then missing+=("$name"); fi
done
[[ ${#missing[@]} -eq 0 ]] || fail "${missing[*]} not set in the environment"

# The allowlisted names present in the environment, sorted for a stable log.
names=()
while IFS= read -r name; do
  if [[ -n "${!name:-}" ]]; then names+=("$name"); fi
done < <(compgen -e | grep -E '^(CLICKHOUSE_[A-Z0-9_]+|REND_API_CORS_ALLOWED_ORIGINS|AUTUMN_[A-Z0-9_]+|REND_BILLING_[A-Z0-9_]+)$' | sort)

# How a value is written: bare when it is plainly safe, else single-quoted (literal for
# Compose, systemd and `rend env check`). A value no quoting carries is refused.
declare -A line_of
for name in "${names[@]}"; do
  value="${!name}"
  if [[ "$value" == *$'\n'* || "$value" == *$'\r'* ]]; then
    fail "$name holds a line break"
  elif [[ "$value" =~ ^[A-Za-z0-9_./:,@%+=-]+$ ]]; then
    line_of[$name]="$name=$value"
  elif [[ "$value" != *"'"* ]]; then
    line_of[$name]="$name='$value'"
  else
    fail "$name holds a single quote, which an env file cannot carry here"
  fi
done

# Rewrites one file: each synced name's first line replaced in place (later duplicates
# dropped), names not yet there appended; written beside it and renamed over it, with
# the original's mode, so a reader never sees half a file.
sync_file() {
  local file="$1" tmp line key
  local -A done_=()
  tmp="$(mktemp "$(dirname "$file")/.sync-deploy-env.XXXXXX")"
  chmod --reference="$file" "$tmp"
  while IFS= read -r line || [[ -n "$line" ]]; do
    key="${line#export }"
    key="${key%%=*}"
    key="${key%"${key##*[![:space:]]}"}"
    if [[ "$line" =~ ^(export[[:space:]]+)?[A-Z0-9_]+[[:space:]]*= && -n "${line_of[$key]:-}" ]]; then
      if [[ -n "${done_[$key]:-}" ]]; then continue; fi
      printf '%s\n' "${line_of[$key]}" >>"$tmp"
      done_[$key]=1
    else
      printf '%s\n' "$line" >>"$tmp"
    fi
  done <"$file"
  local appended=()
  for name in "${names[@]}"; do
    if [[ -z "${done_[$name]:-}" ]]; then
      printf '%s\n' "${line_of[$name]}" >>"$tmp"
      appended+=("$name")
    fi
  done
  mv -f "$tmp" "$file"
  echo "$me: $file: set ${names[*]}${appended:+ (appended: ${appended[*]})}"
}

sync_file "$api_env"
sync_file "$worker_env"
