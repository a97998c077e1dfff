"""Readiness follows the production dependencies (SPEC §9, issue: Postgres or Redis
stopped -> API /readyz names it and is 503; restarted -> ready again without
restarting Rend), and per-key rate limiting answers 429 with Retry-After."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import REPO_ROOT, backends, free_port, inherited_env, rend_bin, services_available, tail

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_PASSWORD = "pw-never-logged-" + os.urandom(4).hex()


def need_services():
    if not services_available():
        if os.environ.get("REND_REQUIRE_SERVICES") == "1":
            pytest.fail("REND_REQUIRE_SERVICES=1 but the test services are not running")
        pytest.skip("needs the test services (scripts/with-test-services)")


class OwnPostgres:
    """A throwaway cluster, so stopping it does not disturb the shared test services."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="rend-pg-"))
        os.chmod(self.dir, 0o777)
        self.port = free_port()
        self.data = self.dir / "data"
        self._as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"])

    def _as_postgres(self, cmd):
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self):
        self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.dir / "log"),
                           "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start"])

    def stop(self):
        self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-m", "fast", "stop"])

    @property
    def url(self):
        # trust auth ignores the password: it is there to prove it never reaches a log.
        return f"postgres://postgres:{PG_PASSWORD}@127.0.0.1:{self.port}/postgres"

    def remove(self):
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class OwnRedis:
    def __init__(self):
        self.port = free_port()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout.strip() != b"PONG":
            assert time.monotonic() < deadline, "redis did not start"
            time.sleep(0.1)

    def stop(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


def readyz(api: str) -> tuple[int, dict]:
    r = requests.get(api + "/readyz", timeout=10)
    return r.status_code, r.json()


def wait_readyz(api: str, status: int, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        code, body = readyz(api)
        last = (code, body)
        if code == status:
            return body
        time.sleep(0.25)
    pytest.fail(f"/readyz did not become {status} within {timeout}s; last {last}")


def test_readyz_names_a_stopped_postgres_or_redis_and_recovers(tmp_path):
    need_services()
    pg, redis = OwnPostgres(), OwnRedis()
    api_proc = None
    try:
        pg.start()
        redis.start()
        port = free_port()
        env = inherited_env()
        env.update({
            "REND_API_BIND_ADDR": f"127.0.0.1:{port}",
            "DATABASE_URL": pg.url,
            "REND_REDIS_URL": f"redis://127.0.0.1:{redis.port}",
            "S3_ENDPOINT": os.environ["REND_TEST_S3_ENDPOINT"],
            "S3_BUCKET": os.environ.get("REND_TEST_S3_BUCKET", "rend"),
            "AWS_ACCESS_KEY_ID": "S3RVER",
            "AWS_SECRET_ACCESS_KEY": "S3RVER",
            "CLICKHOUSE_URL": os.environ["REND_TEST_CLICKHOUSE_URL"],
            "CLICKHOUSE_DATABASE": "rend_readyz_" + os.urandom(4).hex(),
        })
        log = tmp_path / "api.log"
        with open(log, "wb") as out:
            api_proc = subprocess.Popen([str(rend_bin()), "api", "--data-dir", str(tmp_path / "data")], env=env,
                                        stdout=out, stderr=out, cwd=str(REPO_ROOT))
        api = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert api_proc.poll() is None, f"rend api exited\n{tail(log)}"
            try:
                if readyz(api)[0] == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"rend api never ready\n{tail(log)}"
            time.sleep(0.2)

        redis.stop()
        body = wait_readyz(api, 503)
        assert body["checks"]["coordination"] == "down" and body["down"] == ["coordination"], body
        redis.start()
        wait_readyz(api, 200)

        pg.stop()
        body = wait_readyz(api, 503)
        assert body["checks"]["database"] == "down" and body["down"] == ["database"], body
        pg.start()
        body = wait_readyz(api, 200)
        assert all(v == "ok" for v in body["checks"].values()), body
        assert api_proc.poll() is None, "rend api must survive its dependencies restarting"
        assert PG_PASSWORD not in log.read_text(errors="replace"), "the database password reached the log"
    finally:
        if api_proc and api_proc.poll() is None:
            api_proc.send_signal(signal.SIGTERM)
            api_proc.wait(timeout=15)
        if redis.proc and redis.proc.poll() is None:
            redis.stop()
        pg.remove()


@pytest.mark.parametrize("backend", backends())
def test_api_rate_limit_answers_429_with_retry_after(server_factory, backend):
    from conftest import services_env

    extra = {"REND_API_RATE_LIMIT_PER_MINUTE": "5"}
    if backend == "services":
        extra.update(services_env())
    srv = server_factory(f"ratelimit-{backend}", extra_env=extra)
    srv.backend = backend
    codes = [requests.get(srv.api + "/v1/assets", headers=srv.auth(), timeout=10) for _ in range(7)]
    assert [r.status_code for r in codes[:5]] == [200] * 5, [r.status_code for r in codes]
    limited = codes[5]
    assert limited.status_code == 429, limited.text
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    other = srv.create_key("read", name="second-customer")
    assert requests.get(srv.api + "/v1/assets", headers=srv.auth(other), timeout=10).status_code == 200, (
        "the limit is per API key")
