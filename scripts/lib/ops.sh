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
    if not isinstance(d, str) or not re.fullmatch(r"[a-z0-9][a-z0-9._:/-]*/" + re.escape(s) + r"@sha256:[0-9a-f]{64}", d):
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
