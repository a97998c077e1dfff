"""scripts/deploy-{control-plane,edge}-host.sh: the dry run prints the exact compose
commands in the seed's order; the real run runs them (the stand-in docker's log) and
stops at a failed step."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import release


@pytest.fixture
def readyz(repo):
    """A /readyz that answers `state["code"]` and records each hit in the docker log, so
    the log shows when the deploy waited relative to the compose calls."""
    state = {"code": 200}

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            with open(repo.log, "a") as f:
                f.write(json.dumps(["READYZ", self.path, state["code"]]) + "\n")
            self.send_response(state["code"])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{srv.server_address[1]}/readyz"
    yield state
    srv.shutdown()


@pytest.fixture
def env_files(tmp_path):
    api, worker, edge = tmp_path / "rend-api.env", tmp_path / "rend-media-worker.env", tmp_path / "rend-edge.env"
    for f in (api, worker, edge):
        f.write_text("REND_ENV=production\n")
    return {"api": api, "worker": worker, "edge": edge}


def digests(manifest):
    return {s: e["image_digest"] for s, e in json.loads(manifest.read_text())["services"].items()}


def compose_calls(repo):
    """(subcommand + args) of each compose call, and READYZ markers, in order."""
    out = []
    for c in repo.docker_calls():
        if c[0] == "READYZ":
            out.append("READYZ")
        elif c[:1] == ["compose"]:
            i = c.index("-p")
            out.append(" ".join(c[i + 2:]))
    return out


def deploy_cp(repo, manifest, env_files, readyz, *extra, env=None):
    return repo.run("deploy-control-plane-host.sh", "--manifest", str(manifest), "--api-env", str(env_files["api"]),
                    "--worker-env", str(env_files["worker"]), "--readyz-url", readyz["url"], *extra, env=env)


def test_control_plane_dry_run_prints_the_exact_commands_in_order_and_runs_nothing(repo, env_files, readyz):
    manifest = release(repo)
    before = repo.docker_calls()
    r = deploy_cp(repo, manifest, env_files, readyz, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert repo.docker_calls() == before
    cmds = [line for line in r.stdout.splitlines() if not line.startswith("#")]
    d = digests(manifest)
    prefix = (f"REND_API_IMAGE={d['rend-api']} REND_MEDIA_WORKER_IMAGE={d['rend-media-worker']} "
              f"REND_API_ENV_FILE={env_files['api']} REND_WORKER_ENV_FILE={env_files['worker']} "
              f"docker compose -f {repo.path}/deploy/compose.control-plane.yml -p rend-control-plane ")
    assert cmds == [
        prefix + "pull rend-api-migrate rend-api rend-media-worker",
        prefix + "run --rm rend-api-migrate",
        prefix + "up -d --no-deps rend-api",
        "curl -fsS -o /dev/null --retry-all-errors --retry 120 --retry-delay 1 --retry-max-time 120 --max-time 5 "
        + readyz["url"],
        prefix + "up -d --no-deps rend-media-worker",
    ]


def test_control_plane_deploy_migrates_then_serves_then_waits_then_starts_the_worker(repo, env_files, readyz):
    manifest = release(repo)
    r = deploy_cp(repo, manifest, env_files, readyz)
    assert r.returncode == 0, r.stdout + r.stderr
    assert compose_calls(repo) == ["pull rend-api-migrate rend-api rend-media-worker", "run --rm rend-api-migrate",
                                   "up -d --no-deps rend-api", "READYZ", "up -d --no-deps rend-media-worker"]
    # The stand-in resolved the compose file with the deploy's environment: the running
    # services use the manifest's digests.
    state = json.loads((repo.state / "state.json").read_text())["compose"]["rend-control-plane"]
    d = digests(manifest)
    assert {k: v["Image"] for k, v in state.items()} == {"rend-api": d["rend-api"],
                                                         "rend-media-worker": d["rend-media-worker"]}


def test_a_failed_migration_stops_the_deploy_before_the_api(repo, env_files, readyz):
    manifest = release(repo)
    r = deploy_cp(repo, manifest, env_files, readyz, env={"DOCKER_STUB_FAIL": "run --rm rend-api-migrate"})
    assert r.returncode == 1
    assert "step failed: 2. API migration step" in r.stderr
    assert not any(c.startswith("up") for c in compose_calls(repo))


def test_an_api_that_never_gets_ready_keeps_the_worker_stopped(repo, env_files, readyz):
    manifest = release(repo)
    readyz["code"] = 503
    r = deploy_cp(repo, manifest, env_files, readyz, "--readyz-timeout", "2")
    assert r.returncode == 1
    calls = compose_calls(repo)
    assert "up -d --no-deps rend-api" in calls and "READYZ" in calls
    assert "up -d --no-deps rend-media-worker" not in calls


def test_edge_deploy_dry_run_and_run(repo, env_files, readyz, tmp_path):
    manifest = release(repo)
    extra = {"REND_EDGE_CACHE_HOST_DIR": str(tmp_path / "c"), "REND_EDGE_SPOOL_HOST_DIR": str(tmp_path / "s")}
    args = ["--manifest", str(manifest), "--edge-env", str(env_files["edge"]), "--readyz-url", readyz["url"]]
    r = repo.run("deploy-edge-host.sh", *args, "--dry-run", env=extra)
    assert r.returncode == 0, r.stderr
    d = digests(manifest)
    prefix = (f"REND_EDGE_IMAGE={d['rend-edge']} REND_EDGE_ENV_FILE={env_files['edge']} "
              f"REND_EDGE_CACHE_HOST_DIR={tmp_path}/c REND_EDGE_SPOOL_HOST_DIR={tmp_path}/s "
              f"docker compose -f {repo.path}/deploy/compose.edge.yml -p rend-edge ")
    cmds = [line for line in r.stdout.splitlines() if not line.startswith("#")]
    assert cmds == [prefix + "pull rend-edge", prefix + "up -d --no-deps rend-edge",
                    "curl -fsS -o /dev/null --retry-all-errors --retry 60 --retry-delay 1 --retry-max-time 60 "
                    "--max-time 5 " + readyz["url"]]
    assert compose_calls(repo) == []
    r = repo.run("deploy-edge-host.sh", *args, env=extra)
    assert r.returncode == 0, r.stdout + r.stderr
    assert compose_calls(repo) == ["pull rend-edge", "up -d --no-deps rend-edge", "READYZ"]
    state = json.loads((repo.state / "state.json").read_text())["compose"]["rend-edge"]
    assert state["rend-edge"]["Image"] == d["rend-edge"]


def test_deploy_refuses_a_manifest_with_a_mutable_tag(repo, env_files, readyz):
    manifest = release(repo)
    m = json.loads(manifest.read_text())
    m["services"]["rend-edge"]["image_digest"] = m["services"]["rend-edge"]["image"]
    manifest.write_text(json.dumps(m))
    before = repo.docker_calls()
    r = repo.run("deploy-edge-host.sh", "--manifest", str(manifest), "--edge-env", str(env_files["edge"]))
    assert r.returncode == 1 and "rend-edge image_digest is not" in r.stderr
    assert repo.docker_calls() == before


def test_the_dry_run_lines_are_the_commands_the_deploy_runs(repo, env_files, control_plane):
    """Pasting the dry run's lines into a shell does what the deploy does, against a real
    rend api's /readyz."""
    import subprocess
    manifest = release(repo)
    ready = {"url": control_plane + "/readyz"}
    dry = deploy_cp(repo, manifest, env_files, ready, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    start = len(repo.docker_calls())
    for line in dry.stdout.splitlines():
        if not line.startswith("#"):
            r = subprocess.run(["bash", "-c", line], cwd=repo.path, env=repo.env, capture_output=True, text=True)
            assert r.returncode == 0, (line, r.stderr)
    pasted = repo.docker_calls()[start:]
    start = len(repo.docker_calls())
    real = deploy_cp(repo, manifest, env_files, ready)
    assert real.returncode == 0, real.stdout + real.stderr
    assert repo.docker_calls()[start:] == pasted
    assert [c[c.index("-p") + 2:] for c in pasted] == [
        ["pull", "rend-api-migrate", "rend-api", "rend-media-worker"], ["run", "--rm", "rend-api-migrate"],
        ["up", "-d", "--no-deps", "rend-api"], ["up", "-d", "--no-deps", "rend-media-worker"]]


def test_the_first_host_order_splits_the_control_plane_around_the_edges(repo, env_files, readyz):
    """--services api (migrate, API, ready), then the edges, then --services worker
    (API still ready, then the worker): the seed's first-host order."""
    manifest = release(repo)
    r = deploy_cp(repo, manifest, env_files, readyz, "--services", "api")
    assert r.returncode == 0, r.stdout + r.stderr
    assert compose_calls(repo) == ["pull rend-api-migrate rend-api", "run --rm rend-api-migrate",
                                   "up -d --no-deps rend-api", "READYZ"]
    assert "--services worker" in r.stdout
    n = len(compose_calls(repo))
    r = deploy_cp(repo, manifest, env_files, readyz, "--services", "worker")
    assert r.returncode == 0, r.stdout + r.stderr
    assert compose_calls(repo)[n:] == ["pull rend-media-worker", "READYZ", "up -d --no-deps rend-media-worker"]
    readyz["code"] = 503
    n = len(compose_calls(repo))
    r = deploy_cp(repo, manifest, env_files, readyz, "--services", "worker", "--readyz-timeout", "1")
    assert r.returncode == 1 and "up -d --no-deps rend-media-worker" not in compose_calls(repo)[n:]
    assert deploy_cp(repo, manifest, env_files, readyz, "--services", "edge").returncode == 2
