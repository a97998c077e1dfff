#!/usr/bin/env bash
# Builds the three release images (Dockerfile targets rend-api, rend-media-worker,
# rend-edge) from a clean git tree with docker buildx and writes the release
# manifest .rend/releases/TAG.json with each image's immutable digest ref
# (docs/release-images-v1.md).
#
#   scripts/release-images.sh --tag production-001 --registry registry.example.com/rend \
#     [--platform linux/amd64] [--push] [--dry-run]
#
# Without --push the images are loaded into the local engine (--load); with --push
# they go to the registry and the manifest is copied to docs/releases/ (commit it).
# --dry-run prints every command and writes nothing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib/ops.sh
source "$here/lib/ops.sh"

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

tag="" registry="" platform="linux/amd64" push=0 dry=0
while (($#)); do
  case "$1" in
    --tag) tag="${2-}"; shift 2 || usage ;;
    --registry) registry="${2-}"; shift 2 || usage ;;
    --platform) platform="${2-}"; shift 2 || usage ;;
    --push) push=1; shift ;;
    --dry-run) dry=1; shift ;;
    -h | --help) usage ;;
    *) ops_die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ -n "$tag" ]] || ops_die "--tag is required"
[[ -n "$registry" ]] || ops_die "--registry is required"
# Docker's tag grammar; it also keeps the tag a plain file name (no '/', no leading '.').
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] ||
  ops_die "--tag '$tag' is not a Docker tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"
# Docker's reference grammar for a repository prefix: optional host[:port], then
# lowercase path components; no tag, no digest, no scheme, no trailing '/'.
comp='[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*'
host='[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]+)?'
[[ "$registry" =~ ^($host/)?$comp(/$comp)*$ ]] ||
  ops_die "--registry '$registry' is not a repository prefix like registry.example.com/rend (lowercase, no scheme, tag or trailing /)"
[[ "$platform" =~ ^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$ ]] ||
  ops_die "--platform '$platform' is not os/arch[/variant], e.g. linux/amd64"

root="$(git -C "$here/.." rev-parse --show-toplevel 2>/dev/null)" || ops_die "not inside a git work tree"
cd "$root"

# A release is exactly a commit: refuse modified or staged tracked files and
# untracked files that are not ignored (all would be in the build context).
dirty="$(git status --porcelain --untracked-files=all)"
if [[ -n "$dirty" ]]; then
  echo "$(basename "$0"): refusing to release from a dirty tree; commit or remove:" >&2
  printf '%s\n' "$dirty" | sed 's/^/  /' >&2
  exit 1
fi
sha="$(git rev-parse --verify "HEAD^{commit}")" || ops_die "no commit to release"

# With --push the images become a deploy candidate, so the commit must be
# recoverable by anyone: on a branch or tag that a remote has.
pushed_on() {
  local refs t r
  refs="$(git branch -r --contains "$sha" 2>/dev/null | sed 's/^[* ]*//' | grep -v -- ' -> ' || true)"
  if [[ -n "$refs" ]]; then
    printf '%s\n' "$refs" | head -n1
    return 0
  fi
  for t in $(git tag --contains "$sha" 2>/dev/null); do
    for r in $(git remote); do
      if [[ -n "$(git ls-remote --tags "$r" "refs/tags/$t" 2>/dev/null)" ]]; then
        echo "$r tag $t"
        return 0
      fi
    done
  done
  return 1
}
if ((push)); then
  if ! where="$(pushed_on)"; then
    echo "$(basename "$0"): refusing --push: commit $sha is not on any pushed branch or tag (git push it first)" >&2
    exit 1
  fi
  echo "commit $sha is on $where"
  [[ ! -e "docs/releases/$tag.json" ]] ||
    ops_die "docs/releases/$tag.json already exists: a pushed release tag is immutable, pick a new --tag"
fi

manifest=".rend/releases/$tag.json"
run() {
  ops_quote "$@"
  ((dry)) || "$@"
}
((dry)) || mkdir -p .rend/releases

for svc in "${OPS_SERVICES[@]}"; do
  meta=".rend/releases/$tag.$svc.buildx.json"
  out=(--load)
  ((push)) && out=(--push)
  ((dry)) || rm -f "$meta"
  run docker buildx build --file Dockerfile --target "$svc" --platform "$platform" \
    --tag "$registry/$svc:$tag" --metadata-file "$meta" "${out[@]}" .
done

# buildx's metadata file records the image's manifest digest as containerimage.digest
# (the digest the registry serves it under after --push).
write_manifest() {
  python3 - "$manifest" "$tag" "$sha" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$registry" "$platform" "${OPS_SERVICES[@]}" <<'PY'
import json, os, re, sys
out, tag, sha, created, registry, platform, *services = sys.argv[1:]
m = {"release": tag, "git_sha": sha, "created_at": created, "services": {}}
for s in services:
    meta = f".rend/releases/{tag}.{s}.buildx.json"
    try:
        with open(meta) as f:
            digest = json.load(f).get("containerimage.digest", "")
    except (OSError, ValueError) as e:
        sys.exit(f"release-images.sh: {meta}: no build metadata ({e.__class__.__name__})")
    if not isinstance(digest, str) or not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        sys.exit(f"release-images.sh: {meta}: containerimage.digest is not sha256:<64 hex>")
    m["services"][s] = {"image": f"{registry}/{s}:{tag}", "image_digest": f"{registry}/{s}@{digest}",
                        "platform": platform}
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(m, f, indent=2)
    f.write("\n")
os.replace(tmp, out)
PY
}
if ((dry)); then
  echo "# would write $manifest from each image's containerimage.digest"
  ((push)) && ops_quote mkdir -p docs/releases && ops_quote cp "$manifest" "docs/releases/$tag.json"
  exit 0
fi
write_manifest
echo "wrote $manifest"
if ((push)); then
  run mkdir -p docs/releases
  run cp "$manifest" "docs/releases/$tag.json"
  echo "accepted release: commit docs/releases/$tag.json"
fi
