"""The stand-in docker answers like Docker, including its failures, so the scripts'
error paths are exercised for real."""
import json
import subprocess


def docker(repo, *args, env=None):
    e = dict(repo.env)
    e.update(env or {})
    return subprocess.run(["docker", *args], env=e, capture_output=True, text=True, cwd=repo.path)


def test_build_push_pull_inspect_round_trip_and_unknown_refs(repo, tmp_path):
    meta = tmp_path / "m.json"
    r = docker(repo, "buildx", "build", "--target", "rend-edge", "--platform", "linux/arm64", "--tag",
               "r.example.com/rend/rend-edge:t1", "--metadata-file", str(meta), "--push", ".")
    assert r.returncode == 0, r.stderr
    digest = json.loads(meta.read_text())["containerimage.digest"]
    ref = f"r.example.com/rend/rend-edge@{digest}"
    assert docker(repo, "image", "inspect", ref).returncode == 1  # not pulled yet
    miss = docker(repo, "image", "inspect", "--format", "{{.Os}}", "nope:1")
    assert miss.returncode == 1 and "No such image: nope:1" in miss.stderr
    assert docker(repo, "pull", ref).returncode == 0
    out = docker(repo, "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", ref)
    assert out.stdout.strip() == "linux/arm64"
    bad = docker(repo, "pull", "r.example.com/rend/rend-edge@sha256:" + "0" * 64)
    assert bad.returncode == 1 and "manifest unknown" in bad.stderr
    assert docker(repo, "manifest", "inspect", "x/y:z").returncode == 1
    assert docker(repo, "buildx", "imagetools", "inspect", ref).stdout.split()[-1] == digest
    unknown = docker(repo, "buildx", "build", "--target", "no-such-stage", "--metadata-file", str(meta), ".")
    assert unknown.returncode == 1 and 'target stage "no-such-stage" could not be found' in unknown.stderr
    assert docker(repo, "version", env={"DOCKER_STUB_NO_ENGINE": "1"}).returncode == 1
    logged = repo.docker_calls()
    assert logged[0][:2] == ["buildx", "build"] and ["pull", ref] in logged
