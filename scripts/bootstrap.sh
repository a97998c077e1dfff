#!/usr/bin/env bash
# Installs what Rend needs on a Debian 12 machine, idempotently: only what is
# missing is installed, so running it again is fast.
#   scripts/bootstrap.sh          build + run (`make dev`)
#   scripts/bootstrap.sh --test   also what the tests use (`make test`)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

pkgs=(build-essential cmake ninja-build ccache pkg-config
      libboost1.81-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev libpq-dev libhiredis-dev libjemalloc-dev zlib1g-dev
      libgtest-dev libgmock-dev ffmpeg curl ca-certificates
      python3 python3-yaml)  # the build embeds docs/openapi.yaml as JSON (cmake/openapi_to_cpp.py)
if [ "$want_test" = 1 ]; then
  # chromium: the watch-page test plays a video in a real browser (playwright-core).
  # python3-yaml: scripts/check-topology reads compose.yml.
  # python3-jsonschema: the responses the integration tests receive are validated
  # against docs/openapi.yaml's schemas (tests/integration/test_openapi.py).
  pkgs+=(python3 python3-pytest python3-requests python3-yaml python3-jsonschema chromium)
  # The real services the backend tests run against (scripts/stack up --services-only;
  # s3rver comes from npm).
  # docker-compose: only to check that compose.yml stays valid (no engine here).
  pkgs+=(postgresql postgresql-client redis-server clickhouse-server docker-compose)
  # make fuzz / fuzz-ci: libFuzzer and the sanitizer runtimes of Debian's clang 14.
  pkgs+=(clang libclang-rt-14-dev)
  # make check-format / make format (.clang-format).
  pkgs+=(clang-format)
  # tests/ops lints the operator scripts.
  pkgs+=(shellcheck)
fi
# Node.js runs npm for hls.js (served to the watch page). Keep an existing Node
# install (e.g. NodeSource's, which bundles npm) rather than mixing in Debian's npm.
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# hls.js for the watch page, pinned by package-lock.json.
if [ ! -f node_modules/hls.js/dist/hls.min.js ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "bootstrap: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
