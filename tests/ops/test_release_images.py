"""scripts/release-images.sh against the stand-in docker in a throwaway repository."""
import json
import re
import subprocess
from datetime import datetime

SERVICES = ["rend-api", "rend-media-worker", "rend-edge"]
REG = "registry.example.com/rend"


def release(repo, *extra, **kw):
    return repo.run("release-images.sh", "--tag", "production-001", "--registry", REG, *extra, **kw)


def test_manifest_has_exactly_the_release_shape_with_buildx_digests(repo):
    r = release(repo)
    assert r.returncode == 0, r.stderr
    m = json.loads((repo.path / ".rend/releases/production-001.json").read_text())
    assert list(m) == ["release", "git_sha", "created_at", "services"]
    assert m["release"] == "production-001"
    assert m["git_sha"] == repo.git("rev-parse", "HEAD").stdout.strip()
    assert datetime.fromisoformat(m["created_at"].replace("Z", "+00:00")).tzinfo is not None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", m["created_at"])
    assert list(m["services"]) == SERVICES
    for s in SERVICES:
        e = m["services"][s]
        assert list(e) == ["image", "image_digest", "platform"]
        assert e["image"] == f"{REG}/{s}:production-001"
        assert e["platform"] == "linux/amd64"
        # The digest is the one buildx reported for that image, not made up.
        meta = json.loads((repo.path / f".rend/releases/production-001.{s}.buildx.json").read_text())
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", meta["containerimage.digest"])
        assert e["image_digest"] == f"{REG}/{s}@{meta['containerimage.digest']}"
    builds = [c for c in repo.docker_calls() if c[:2] == ["buildx", "build"]]
    assert [c[c.index("--target") + 1] for c in builds] == SERVICES
    assert all("--load" in c and "--push" not in c for c in builds)
    assert len({m["services"][s]["image_digest"].split("@")[1] for s in SERVICES}) == 3


def test_platform_is_passed_to_buildx_and_recorded(repo):
    r = release(repo, "--platform", "linux/arm64")
    assert r.returncode == 0, r.stderr
    m = json.loads((repo.path / ".rend/releases/production-001.json").read_text())
    assert {e["platform"] for e in m["services"].values()} == {"linux/arm64"}
    assert all(c[c.index("--platform") + 1] == "linux/arm64" for c in repo.docker_calls() if c[:1] == ["buildx"])


def test_dirty_tree_is_refused_modified_or_untracked(repo):
    (repo.path / "Dockerfile").write_text((repo.path / "Dockerfile").read_text() + "\n# edit\n")
    r = release(repo)
    assert r.returncode == 1 and "dirty tree" in r.stderr and "Dockerfile" in r.stderr
    repo.git("checkout", "Dockerfile")
    (repo.path / "scripts" / "notes.txt").write_text("untracked\n")
    r = release(repo)
    assert r.returncode == 1 and "scripts/notes.txt" in r.stderr
    assert repo.docker_calls() == []
    assert not (repo.path / ".rend").exists()


def test_ignored_files_do_not_make_the_tree_dirty(repo):
    (repo.path / "build").mkdir()
    (repo.path / "build" / "x.o").write_text("ignored\n")
    assert release(repo).returncode == 0


def test_dry_run_prints_every_command_and_writes_nothing(repo, remote):
    repo.git("push", "-q", "origin", "main")
    before = repo.files()
    r = release(repo, "--push", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert repo.files() == before
    assert repo.docker_calls() == []
    lines = [line for line in r.stdout.splitlines() if line.startswith("docker buildx build")]
    assert len(lines) == 3
    for s, line in zip(SERVICES, lines):
        assert f"--target {s} " in line and f"--tag {REG}/{s}:production-001 " in line
        assert "--platform linux/amd64" in line and "--push" in line
        assert f"--metadata-file .rend/releases/production-001.{s}.buildx.json" in line
    assert "cp .rend/releases/production-001.json docs/releases/production-001.json" in r.stdout


def test_push_is_refused_for_a_commit_no_remote_has(repo, remote):
    r = release(repo, "--push")
    assert r.returncode == 1
    assert "not on any pushed branch or tag" in r.stderr
    assert repo.docker_calls() == []
    assert not (repo.path / "docs" / "releases").exists()


def test_push_of_a_pushed_commit_copies_the_manifest_to_docs_releases(repo, remote):
    repo.git("push", "-q", "origin", "main")
    r = release(repo, "--push")
    assert r.returncode == 0, r.stderr
    accepted = repo.path / "docs/releases/production-001.json"
    assert accepted.read_text() == (repo.path / ".rend/releases/production-001.json").read_text()
    builds = [c for c in repo.docker_calls() if c[:2] == ["buildx", "build"]]
    assert len(builds) == 3 and all("--push" in c for c in builds)
    # The digests are what the registry now serves.
    m = json.loads(accepted.read_text())
    for s in SERVICES:
        q = subprocess.run(["docker", "manifest", "inspect", m["services"][s]["image_digest"]], env=repo.env,
                           capture_output=True, text=True)
        assert q.returncode == 0, q.stderr


def test_push_accepts_a_commit_only_on_a_pushed_tag(repo, remote):
    repo.git("tag", "v1")
    repo.git("push", "-q", "origin", "refs/tags/v1")
    r = release(repo, "--push")
    assert r.returncode == 0, r.stderr
    assert "tag v1" in r.stdout


def test_bad_tag_registry_or_platform_is_refused_before_anything(repo):
    for args, word in [(["--tag", "../x", "--registry", REG], "--tag"),
                       (["--tag", "a b", "--registry", REG], "--tag"),
                       (["--tag", "p1", "--registry", "https://registry.example.com/rend"], "--registry"),
                       (["--tag", "p1", "--registry", "Registry.example.com/Rend"], "--registry"),
                       (["--tag", "p1", "--registry", "registry.example.com/rend/"], "--registry"),
                       (["--tag", "p1", "--registry", "registry.example.com/rend:latest"], "--registry"),
                       (["--tag", "p1", "--registry", REG, "--platform", "amd64"], "--platform"),
                       (["--registry", REG], "--tag")]:
        r = repo.run("release-images.sh", *args)
        assert r.returncode == 2 and word in r.stderr, (args, r.stderr)
    assert repo.docker_calls() == []
    assert not (repo.path / ".rend").exists()
    ok = repo.run("release-images.sh", "--tag", "p1", "--registry", "localhost:5000/team_a/rend", "--dry-run")
    assert ok.returncode == 0, ok.stderr


def test_a_failed_build_writes_no_manifest(repo):
    r = release(repo, env={"DOCKER_STUB_FAIL": "--target rend-media-worker"})
    assert r.returncode != 0
    assert not (repo.path / ".rend/releases/production-001.json").exists()


def test_a_pushed_release_tag_cannot_be_released_again(repo, remote):
    repo.git("push", "-q", "origin", "main")
    assert release(repo, "--push").returncode == 0
    repo.git("add", "docs/releases/production-001.json")
    subprocess.run(["git", "-C", str(repo.path), "commit", "-q", "-m", "accept"], env=repo.env, check=True)
    repo.git("push", "-q", "origin", "main")
    calls = len(repo.docker_calls())
    r = release(repo, "--push")
    assert r.returncode == 2 and "immutable" in r.stderr
    assert len(repo.docker_calls()) == calls
