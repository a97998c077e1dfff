"""scripts/preflight-{edge,control-plane}-host.sh: every check really performed, against
a real `rend api`, real sockets and directories, and the stand-in docker's registry."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import EDGE_TOKEN, TELEMETRY_TOKEN, free_port, release

EDGE_CHECKS = ["docker", "compose", "env-files", "env", "manifest-digest", "manifest-platform", "image-pull rend-edge",
               "image-platform rend-edge", "compose-config", "port-publishing", "bind-port rend-edge",
               "cache-writable", "spool-writable", "object-store", "control-plane", "telemetry-ingest"]


def lines(out):
    """{check: (status, reason)} of the preflight's report lines."""
    res = {}
    for line in out.splitlines():
        m = re.match(r"^(ok|FAIL|skip) ([a-z-]+(?: rend-[a-z-]+)?)(?: ([0-9.]+:\d+))?(?::| \(|$)(.*)", line)
        if m:
            key = m.group(2)
            res.setdefault(key, []).append((m.group(1), m.group(4).strip()))
    return res


def status(res, check):
    got = {s for s, _ in res.get(check, [])}
    assert got, f"no line for {check}"
    return "FAIL" if "FAIL" in got else got.pop()


def validator_present(repo):
    return (repo.path / "scripts" / "validate-production-env.sh").exists()


@pytest.fixture
def edge_host(repo, control_plane, tmp_path):
    """An edge host: env file, uid-10001 cache and spool directories, free ports."""
    # Outside pytest's 0700 tmp tree, which uid 10001 could not even traverse.
    top = Path(tempfile.mkdtemp(prefix="rend-ops-edge-"))
    top.chmod(0o755)
    cache, spool = top / "cache", top / "spool"
    for d in (cache, spool):
        d.mkdir()
        if os.geteuid() == 0:
            os.chown(d, 10001, 10001)
        else:  # the preflight then checks mode bits instead of writing as 10001
            d.chmod(0o777)
    env_file = tmp_path / "rend-edge.env"
    # Every edge variable of the seed with production-shaped values, so the real env
    # validator accepts it (with --allow-dev-defaults: the control plane is on loopback).
    env_file.write_text("\n".join([
        "REND_ENV=production", "REND_EDGE_BIND_ADDR=0.0.0.0:4100", "REND_EDGE_INTERNAL_BIND_ADDR=0.0.0.0:4190",
        "REND_EDGE_ID=edge-us-east", "REND_EDGE_REGION=us-east",
        "REND_EDGE_BASE_URL=https://edge-us-east.example.com", "REND_EDGE_CORS_ALLOWED_ORIGINS=https://www.rend.so",
        "REND_EXPECTED_EDGES=edge-us-east=us-east=https://edge-us-east.example.com",
        "REND_ALLOW_INSECURE_EDGE_URLS=false", f"REND_CONTROL_PLANE_URL={control_plane}",
        "REND_EDGE_HEARTBEAT_INTERVAL_SECS=10", "REND_EDGE_CACHE_MAX_BYTES=10737418240",
        "REND_EDGE_CACHE_MIN_FREE_BYTES=1073741824", "REND_EDGE_CACHE_DIR=/var/cache/rend/edge",
        f"REND_EDGE_ORIGIN_HEALTH_URL={control_plane}/healthz",
        "S3_ENDPOINT=https://s3.us-east-1.amazonaws.com", "S3_REGION=us-east-1", "S3_BUCKET=rend-media-prod",
        "AWS_ACCESS_KEY_ID=AKIAOPSTESTKEY0000001", "AWS_SECRET_ACCESS_KEY=opsTestSecretAccessKey0000000000000000001",
        f"REND_EDGE_INTERNAL_TOKEN={EDGE_TOKEN}", "REND_EDGE_WARM_MAX_ARTIFACTS=16",
        "REND_EDGE_MAX_IN_FLIGHT_FILLS=64", "REND_EDGE_MAX_ORIGIN_ARTIFACT_BYTES=536870912",
        f"REND_INTERNAL_TELEMETRY_TOKEN={TELEMETRY_TOKEN}", "REND_EDGE_TELEMETRY_ENABLED=true",
        f"REND_EDGE_TELEMETRY_INGEST_URL={control_plane}/internal/telemetry",
        "REND_EDGE_TELEMETRY_QUEUE_CAPACITY=100000", "REND_EDGE_TELEMETRY_BATCH_SIZE=1000",
        "REND_EDGE_TELEMETRY_FLUSH_INTERVAL_SECS=1", "REND_EDGE_TELEMETRY_REQUEST_TIMEOUT_SECS=5",
        "REND_EDGE_TELEMETRY_SPOOL_DIR=/var/lib/rend/telemetry-spool", "REND_EDGE_TELEMETRY_SPOOL_MAX_BYTES=1073741824",
        "REND_PLAYBACK_SIGNING_KEY_ID=k2026",
        "REND_PLAYBACK_SIGNING_SECRET=ops-test-playback-signing-secret-0123456789abcdef", ""]))
    host_env = {"REND_EDGE_CACHE_HOST_DIR": str(cache), "REND_EDGE_SPOOL_HOST_DIR": str(spool),
                "REND_EDGE_HOST_PORT": str(free_port()), "REND_EDGE_INTERNAL_HOST_PORT": str(free_port())}
    yield {"env_file": env_file, "env": host_env, "cache": cache, "spool": spool, "api": control_plane}
    shutil.rmtree(top, ignore_errors=True)


def preflight_edge(repo, host, manifest, *extra, env=None):
    e = dict(host["env"])
    e.update(env or {})
    return repo.run("preflight-edge-host.sh", "--manifest", str(manifest), "--edge-env", str(host["env_file"]),
                    "--allow-dev-defaults", *extra, env=e)


def test_edge_preflight_passes_every_check_on_a_ready_host(repo, edge_host):
    manifest = release(repo)
    r = preflight_edge(repo, edge_host, manifest)
    res = lines(r.stdout)
    for check in EDGE_CHECKS:
        if check == "env" and not validator_present(repo):
            # TODO(env helper): scripts/validate-production-env.sh comes from another branch;
            # until it is merged the env check reports it missing, which is right.
            assert res["env"] == [("FAIL", "scripts/validate-production-env.sh not found")]
            continue
        assert status(res, check) == "ok", (check, r.stdout)
    assert len(res["bind-port rend-edge"]) == 2
    if validator_present(repo):
        assert r.returncode == 0, r.stdout
    # The manifest's digest was pulled, not a tag.
    pulls = [c for c in repo.docker_calls() if c[:1] == ["pull"]]
    assert pulls and all("@sha256:" in c[-1] for c in pulls)
    # Secrets never appear in the report.
    assert EDGE_TOKEN not in r.stdout + r.stderr and TELEMETRY_TOKEN not in r.stdout + r.stderr


def test_platform_mismatch_is_refused(repo, edge_host):
    manifest = release(repo, platform="linux/arm64")
    r = preflight_edge(repo, edge_host, manifest)
    res = lines(r.stdout)
    assert r.returncode == 1
    assert status(res, "manifest-platform") == "FAIL" and "linux/arm64" in res["manifest-platform"][0][1]
    assert status(res, "image-platform rend-edge") == "FAIL"
    # The same release is fine on an arm64 host.
    res = lines(preflight_edge(repo, edge_host, manifest, "--expected-platform", "linux/arm64").stdout)
    assert status(res, "manifest-platform") == "ok" and status(res, "image-platform rend-edge") == "ok"


def test_a_manifest_claiming_the_wrong_platform_is_caught_on_the_pulled_image(repo, edge_host):
    manifest = release(repo, platform="linux/arm64")
    m = json.loads(manifest.read_text())
    m["services"]["rend-edge"]["platform"] = "linux/amd64"
    manifest.write_text(json.dumps(m))
    res = lines(preflight_edge(repo, edge_host, manifest).stdout)
    assert status(res, "manifest-platform") == "ok"
    assert res["image-platform rend-edge"] == [("FAIL", "pulled image is linux/arm64, host expects linux/amd64")]


def test_unknown_digest_and_tag_refs_are_refused(repo, edge_host):
    manifest = release(repo)
    m = json.loads(manifest.read_text())
    m["services"]["rend-edge"]["image_digest"] = "registry.example.com/rend/rend-edge@sha256:" + "0" * 64
    manifest.write_text(json.dumps(m))
    res = lines(preflight_edge(repo, edge_host, manifest).stdout)
    assert status(res, "image-pull rend-edge") == "FAIL" and "manifest unknown" in res["image-pull rend-edge"][0][1]
    m["services"]["rend-edge"]["image_digest"] = "registry.example.com/rend/rend-edge:production-001"
    manifest.write_text(json.dumps(m))
    res = lines(preflight_edge(repo, edge_host, manifest).stdout)
    assert status(res, "manifest-digest") == "FAIL" and status(res, "image-pull rend-edge") == "FAIL"


def test_public_port_publishing_is_refused(repo, edge_host):
    manifest = release(repo)
    for addr in ("0.0.0.0", "1.2.3.4"):
        res = lines(preflight_edge(repo, edge_host, manifest, env={"REND_EDGE_PUBLISH_ADDR": addr}).stdout)
        assert status(res, "port-publishing") == "FAIL", addr
        assert addr.replace("0.0.0.0", "every interface") in res["port-publishing"][0][1]


def test_taken_bind_port_is_reported(repo, edge_host):
    manifest = release(repo)
    with socket.socket() as s:
        s.bind(("127.0.0.1", int(edge_host["env"]["REND_EDGE_HOST_PORT"])))
        s.listen()
        res = lines(preflight_edge(repo, edge_host, manifest).stdout)
    bind = res["bind-port rend-edge"]
    assert sorted(s for s, _ in bind) == ["FAIL", "ok"]
    assert any("Address already in use" in reason for s, reason in bind if s == "FAIL")


def test_cache_or_spool_not_writable_by_10001_is_refused(repo, edge_host):
    if os.geteuid() != 0:
        pytest.skip("needs root to own directories as another uid")
    manifest = release(repo)
    os.chown(edge_host["cache"], 0, 0)
    os.chmod(edge_host["cache"], 0o755)
    res = lines(preflight_edge(repo, edge_host, manifest).stdout)
    assert status(res, "cache-writable") == "FAIL" and status(res, "spool-writable") == "ok"
    shutil.rmtree(edge_host["spool"])
    res = lines(preflight_edge(repo, edge_host, manifest).stdout)
    assert "does not exist" in res["spool-writable"][0][1]


def test_control_plane_and_telemetry_with_wrong_tokens_are_refused(repo, edge_host):
    manifest = release(repo)
    text = edge_host["env_file"].read_text()
    edge_host["env_file"].write_text(text.replace(EDGE_TOKEN, "wrong-edge-token-0123456789abcdef0123")
                                     .replace(TELEMETRY_TOKEN, "wrong-telemetry-token-0123456789abcdef"))
    r = preflight_edge(repo, edge_host, manifest)
    res = lines(r.stdout)
    assert "refused REND_EDGE_INTERNAL_TOKEN (401)" in res["control-plane"][0][1]
    assert "refused REND_INTERNAL_TELEMETRY_TOKEN (401)" in res["telemetry-ingest"][0][1]
    assert "wrong-edge-token" not in r.stdout


def test_unreachable_control_plane_and_object_store_fail(repo, edge_host):
    manifest = release(repo)
    dead = f"http://127.0.0.1:{free_port()}"
    edge_host["env_file"].write_text(edge_host["env_file"].read_text().replace(edge_host["api"], dead))
    res = lines(preflight_edge(repo, edge_host, manifest).stdout)
    for check in ("control-plane", "telemetry-ingest", "object-store"):
        assert status(res, check) == "FAIL" and "refused" in res[check][0][1].lower(), (check, res[check])


def test_no_docker_engine_or_compose_fails_those_checks(repo, edge_host):
    manifest = release(repo)
    res = lines(preflight_edge(repo, edge_host, manifest, env={"DOCKER_STUB_NO_ENGINE": "1"}).stdout)
    assert status(res, "docker") == "FAIL" and "Cannot connect to the Docker daemon" in res["docker"][0][1]
    res = lines(preflight_edge(repo, edge_host, manifest, env={"DOCKER_STUB_NO_COMPOSE": "1"}).stdout)
    assert status(res, "compose") == "FAIL"


# ---- control plane -------------------------------------------------------------------

@pytest.fixture
def cp_env(tmp_path, control_plane):
    def write(**over):
        vals = {"REND_ENV": "production",
                "DATABASE_URL": os.environ.get("REND_TEST_POSTGRES_URL") or f"postgres://rend:pw@127.0.0.1:{free_port()}/rend",
                "REND_REDIS_URL": os.environ.get("REND_TEST_REDIS_URL") or f"redis://:secretpw@127.0.0.1:{free_port()}/0",
                "CLICKHOUSE_URL": os.environ.get("REND_TEST_CLICKHOUSE_URL") or f"http://127.0.0.1:{free_port()}",
                "OBJECT_STORE_HEALTH_URL": f"{control_plane}/healthz"}
        vals.update(over)
        f = tmp_path / "rend-api.env"
        f.write_text("".join(f"{k}={v}\n" for k, v in vals.items()))
        return f
    return write


def preflight_cp(repo, env_file, manifest, *extra, env=None):
    e = {"REND_API_HOST_PORT": str(free_port())}
    e.update(env or {})
    return repo.run("preflight-control-plane-host.sh", "--manifest", str(manifest), "--env-file", str(env_file),
                    "--allow-dev-defaults", *extra, env=e)


def test_control_plane_preflight_checks_images_ports_and_dependencies(repo, cp_env):
    manifest = release(repo)
    r = preflight_cp(repo, cp_env(), manifest)
    res = lines(r.stdout)
    for check in ["docker", "compose", "env-files", "manifest-digest", "manifest-platform", "image-pull rend-api",
                  "image-platform rend-api", "image-pull rend-media-worker", "image-platform rend-media-worker",
                  "compose-config", "port-publishing", "bind-port rend-api", "object-store"]:
        assert status(res, check) == "ok", (check, r.stdout)
    real = {"postgres": "REND_TEST_POSTGRES_URL", "redis": "REND_TEST_REDIS_URL", "clickhouse": "REND_TEST_CLICKHOUSE_URL"}
    for check, var in real.items():
        # With scripts/with-test-services these are real servers; otherwise closed ports.
        assert status(res, check) == ("ok" if os.environ.get(var) else "FAIL"), (check, r.stdout)
    assert "secretpw" not in r.stdout + r.stderr
    assert "pw@" not in " ".join(" ".join(c) for c in repo.docker_calls())


def test_control_plane_preflight_refuses_a_manifest_without_the_worker(repo, cp_env):
    manifest = release(repo)
    m = json.loads(manifest.read_text())
    del m["services"]["rend-media-worker"]
    manifest.write_text(json.dumps(m))
    r = preflight_cp(repo, cp_env(), manifest)
    res = lines(r.stdout)
    assert r.returncode == 1
    assert "rend-media-worker missing from manifest" in res["manifest-digest"][0][1]
    assert status(res, "image-pull rend-media-worker") == "FAIL"


def test_bad_usage_exits_2(repo):
    for script in ("preflight-edge-host.sh", "preflight-control-plane-host.sh"):
        assert repo.run(script).returncode == 2
        assert repo.run(script, "--manifest", "m.json", "--bogus").returncode == 2


def test_redis_check_authenticates_without_putting_the_password_on_a_command_line(repo, cp_env, tmp_path):
    import time
    port = free_port()
    srv = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                            "--requirepass", "redis-secret-pw"], stdout=subprocess.DEVNULL, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        manifest = release(repo)
        r = preflight_cp(repo, cp_env(REND_REDIS_URL=f"redis://:redis-secret-pw@127.0.0.1:{port}/0"), manifest)
        assert lines(r.stdout)["redis"] == [("ok", "PONG)")], r.stdout
        r = preflight_cp(repo, cp_env(REND_REDIS_URL=f"redis://:wrong-pw@127.0.0.1:{port}/0"), manifest)
        res = lines(r.stdout)
        assert status(res, "redis") == "FAIL" and "127.0.0.1" in res["redis"][0][1]
        assert "redis-secret-pw" not in r.stdout and "wrong-pw" not in r.stdout
    finally:
        srv.terminate()
        srv.wait(10)
