"""The fault matrix: real Rend processes and real dependencies, each broken on purpose.
Every case checks that nothing acknowledged is lost, that /readyz tells the truth
while a dependency is down (503 naming it) and after (200), and that Rend recovers
without being restarted.

Covered elsewhere, not repeated here:
  - worker SIGKILL mid-transcode, job reclaimed after REND_MEDIA_JOB_LOCK_TIMEOUT_SECS
    and finished to hls_ready: test_roles.py::test_a_job_whose_worker_was_killed_completes_after_the_lock_timeout
  - edge SIGKILL mid-fill (no partial file served after restart):
    test_edge.py::test_sigkill_mid_fill_then_restart_never_serves_a_partial_file
  - edge SIGKILL with a telemetry spool on disk: test_telemetry.py::test_spool_survives_an_edge_sigkill

The dependency cases stop and restart DEDICATED Postgres, Redis, ClickHouse and
s3rver instances (scripts/stack in a scratch dir, own ports), never the shared
ones from scripts/with-test-services. They are marked `slow` (~90 s together;
deselect with -m "not slow")."""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

import pytest
import requests

from conftest import (REPO_ROOT, RendServer, backends, free_port, inherited_env, rend_bin, services_available,
                      services_env)
from edgeproc import SECRET, Edge, Origin, RendProcess, metrics, new_asset_id, sign

READY_BOUND_S = 30.0  # a restarted dependency must be seen as ready again within this
# A stopped dependency must be named by /readyz within this (measured: under 0.2 s for
# each; /readyz probes on every call, nothing is cached).
DOWN_BOUND_S = 5.0


# --- small helpers -----------------------------------------------------------------------

def _ffmpeg(*args: str) -> None:
    r = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


@pytest.fixture(scope="module")
def tiny_clips(tmp_path_factory) -> list:
    """Two different 1 s H.264/AAC clips (the fast path: playable within a second,
    and a ladder cheap enough to run many of them on two cores)."""
    out = []
    d = tmp_path_factory.mktemp("tiny-clips")
    for i, freq in enumerate((330, 550)):
        p = d / f"tiny{i}.mp4"
        _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=1", "-f", "lavfi", "-i", f"sine=f={freq}:d=1",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25",
                "-c:a", "aac", "-b:a", "48k", "-shortest", "-movflags", "+faststart", str(p))
        out.append(p.read_bytes())
    return out


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def clean_error(r: requests.Response) -> Optional[str]:
    """None when `r` is a clean refusal (5xx with a JSON error object), else why not."""
    if r.status_code < 500:
        return f"{r.request.method} {r.url} -> {r.status_code} (expected success or 5xx): {r.text[:200]}"
    try:
        err = r.json()["error"]
        assert isinstance(err["code"], str) and err["code"]
    except Exception:  # noqa: BLE001 - any shape problem is the finding
        return f"{r.request.method} {r.url} -> {r.status_code} without a JSON error: {r.text[:200]!r}"
    return None


def wait_readyz(api: str, status: int, timeout: float, proc: Optional[subprocess.Popen] = None) -> dict:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None:
            assert proc.poll() is None, "rend exited while its dependency was away"
        try:
            r = requests.get(api + "/readyz", timeout=5)
            last = (r.status_code, r.text[:300])
            if r.status_code == status:
                return r.json()
        except requests.RequestException as e:
            last = repr(e)
        time.sleep(0.2)
    pytest.fail(f"{api}/readyz did not become {status} within {timeout}s; last {last}")


def wait_asset(api: str, key: str, aid: str, wanted: str, timeout: float = 90) -> dict:
    """Until the asset is `wanted` or later (playable < hls_ready); failed/deleted fail at once."""
    accept = {"playable": ("playable", "hls_ready"), "hls_ready": ("hls_ready",)}[wanted]
    deadline = time.monotonic() + timeout
    a = None
    while time.monotonic() < deadline:
        r = requests.get(f"{api}/v1/assets/{aid}", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        if r.status_code == 200:
            a = r.json()
            if a["status"] in accept:
                return a
            assert a["status"] not in ("failed", "deleted"), (
                f"acknowledged upload {aid} ended {a['status']} (error: {a.get('error')})")
        time.sleep(0.2)
    pytest.fail(f"{aid} not {wanted} within {timeout}s: {a}")


# --- SIGKILL the API mid-upload ---------------------------------------------------------------

def _role_env(backend: str, **extra) -> dict:
    env = inherited_env()
    if backend == "services":
        env.update(services_env())
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _half_put(url: str, key: str, data: bytes, sent: int) -> socket.socket:
    """A PUT whose headers promise all of `data` but whose body stops after `sent` bytes;
    the socket stays open (the client is still 'uploading')."""
    host, rest = url.split("://", 1)[1].split("/", 1)
    h, p = host.split(":")
    s = socket.create_connection((h, int(p)), timeout=10)
    s.sendall((f"PUT /{rest} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
               f"Content-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\n\r\n").encode())
    s.sendall(data[:sent])
    return s


@pytest.mark.parametrize("backend", backends())
def test_api_sigkill_mid_upload_keeps_the_asset_waiting_and_acknowledged_uploads_intact(tmp_path, backend, clips,
                                                                                         tiny_clips):
    dd = ["--data-dir", str(tmp_path / "data")]
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    env = _role_env(backend, REND_API_BIND_ADDR=f"127.0.0.1:{port}", REND_MEDIA_WORKER_POLL_INTERVAL_SECS=1)
    key = subprocess.run([str(rend_bin()), "keys", "create", "--scopes", "all", *dd], env=env, capture_output=True,
                         text=True, check=True, cwd=str(REPO_ROOT)).stdout.strip()
    auth = {"Authorization": f"Bearer {key}"}
    api = RendProcess("api", ["api", *dd], tmp_path / "api.log")
    worker = RendProcess("worker", ["worker", "media", *dd], tmp_path / "worker.log")
    srv = RendServer(data_dir=tmp_path / "data", log_dir=tmp_path, extra_env=env, backend=backend)
    try:
        api.start(env, api_url + "/readyz")
        with open(worker.log, "ab") as log:  # the worker has no HTTP listener to wait on
            worker.proc = subprocess.Popen([str(rend_bin()), *worker.args], env=env, stdout=log, stderr=log,
                                           stdin=subprocess.DEVNULL, cwd=str(REPO_ROOT))
        # Acknowledged before the kill.
        done = tiny_clips[0]
        up1 = requests.post(api_url + "/v1/uploads", json={}, headers=auth, timeout=10).json()
        assert requests.put(up1["upload_url"], data=done, headers=auth, timeout=60).status_code == 200

        # Half sent when the API dies.
        body = clips["h264_640x360"].read_bytes()
        up2 = requests.post(api_url + "/v1/uploads", json={}, headers=auth, timeout=10).json()
        s = _half_put(up2["upload_url"], key, body, len(body) // 2)
        if backend == "embedded":
            # Proof that the API is mid-upload: its uncommitted object holds what was sent
            # (it writes 256 KiB chunks). S3 buffers the part in memory: nothing to see.
            tmp_dir = srv.objects_dir / ".tmp"
            deadline = time.monotonic() + 10
            while sum(f.stat().st_size for f in tmp_dir.glob("*")) < 256 * 1024:
                assert time.monotonic() < deadline, "the API never stored the first half"
                time.sleep(0.05)
        else:
            time.sleep(0.5)  # let the API read what was sent
        api.kill()
        s.close()

        api.start(env, api_url + "/readyz")
        a = requests.get(f"{api_url}/v1/assets/{up2['asset_id']}", headers=auth, timeout=10).json()
        assert a["status"] == "waiting_upload", f"a half-sent upload must not be queued: {a}"
        assert f"sources/{up2['asset_id']}" not in srv.object_keys("sources/"), "a partial source was kept"

        # The client retries the whole PUT: the dead process's claim on the upload is a
        # short lease, so the retry is told to wait (409 + Retry-After) until it lapses,
        # then accepted, and the video plays.
        deadline = time.monotonic() + 40
        while True:
            r = requests.put(up2["upload_url"], data=body, headers=auth, timeout=60)
            if r.status_code != 409 or r.json()["error"]["code"] != "upload_in_progress":
                break
            assert time.monotonic() < deadline, "the killed API's claim never lapsed"
            time.sleep(float(r.headers["Retry-After"]))
        assert r.status_code == 200, r.text
        for up, data in ((up1, done), (up2, body)):
            wait_asset(api_url, key, up["asset_id"], "playable", timeout=90)
            assert sha(srv.read_object(f"sources/{up['asset_id']}")) == sha(data), "stored source differs"
    finally:
        if worker.proc and worker.proc.poll() is None:
            worker.stop()
        if api.proc and api.proc.poll() is None:
            api.stop()


# --- full filesystems -------------------------------------------------------------------------

@pytest.fixture
def small_fs(tmp_path):
    """An 8 MiB tmpfs (unmounted in teardown), plus fill(leave)/free() for the space on it."""
    mnt = tmp_path / "small-fs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here (needs root / CAP_SYS_ADMIN): {r.stderr.strip()}")

    class SmallFs:
        path = mnt
        filler = mnt / "filler"

        def fill(self, leave: int) -> None:
            """Grow a filler file until only about `leave` bytes are free."""
            st = os.statvfs(mnt)
            free = st.f_bavail * st.f_frsize
            with open(self.filler, "ab") as f:
                f.write(b"\0" * max(0, free - leave))
            st = os.statvfs(mnt)
            assert st.f_bavail * st.f_frsize <= leave + 64 * 1024

        def free(self) -> None:
            self.filler.unlink(missing_ok=True)

    yield SmallFs()
    if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_cache_filesystem_never_serves_or_caches_a_truncated_object(tmp_path, small_fs):
    origin = Origin("embedded", tmp_path)
    aid = new_asset_id()
    bodies = {f"720p/seg_{i:05d}.ts": os.urandom(3 << 20) for i in range(2)}
    for path, data in bodies.items():
        origin.put(f"assets/{aid}/{path}", data)
    # The cache believes it has room (its own bound is far away, no free-space floor): the
    # filesystem running out is what it meets.
    edge = Edge(tmp_path / "edge", {**origin.env(), "REND_EDGE_CACHE_DIR": str(small_fs.path / "cache"),
                                     "REND_EDGE_CACHE_MAX_BYTES": str(1 << 30), "REND_EDGE_CACHE_MIN_FREE_BYTES": "0"})
    edge.start()
    token = sign(aid)
    try:
        small_fs.fill(leave=1 << 20)  # a 3 MiB fill hits ENOSPC a third of the way in

        def problem(r: requests.Response, path: str) -> Optional[str]:
            if r.status_code == 503:
                return None if r.headers.get("Retry-After") else f"{path}: 503 without Retry-After"
            if r.status_code != 200:
                return f"{path}: {r.status_code} {r.text[:120]} (expected the bytes or 503 + Retry-After)"
            if r.content != bodies[path]:
                return f"{path}: 200 with {len(r.content)} of {len(bodies[path])} bytes (or wrong bytes)"
            return None

        # Every problem is collected, so one run shows the full-disk and the recovery behaviour.
        problems = []
        for round_ in ("full", "still full"):  # the second must not find something corrupt cached
            for path in bodies:
                try:
                    p = problem(edge.get(aid, path, token), path)
                except requests.RequestException as e:
                    p = f"{path}: the response was cut off: {e!r}"
                if p:
                    problems.append(f"{round_}: {p}")
        assert edge.process.proc.poll() is None, "the edge must survive a full disk"
        assert requests.get(edge.url + "/healthz", timeout=5).status_code == 200

        small_fs.free()
        for path in bodies:
            for attempt in ("first", "second"):
                r = edge.get(aid, path, token)
                p = problem(r, path) or (None if r.status_code == 200 else f"{path}: {r.status_code}")
                if p:
                    problems.append(f"space back, {attempt}: {p}")
                elif attempt == "second" and r.headers["x-rend-cache"] != "HIT":
                    problems.append(f"space back: {path} is not cached again ({r.headers['x-rend-cache']})")
        assert not problems, "\n".join(problems)
    finally:
        edge.stop()


def test_full_spool_filesystem_counts_drops_keeps_serving_and_replays_the_rest(tmp_path, small_fs):
    from test_telemetry import Stack  # the api + edge pair of the telemetry tests

    st = Stack("embedded", tmp_path / "st", REND_EDGE_TELEMETRY_SPOOL_DIR=str(small_fs.path / "spool"),
               REND_EDGE_TELEMETRY_QUEUE_CAPACITY=20, REND_EDGE_TELEMETRY_BATCH_SIZE=10)
    try:
        st.start_api()
        st.start_edge()
        aid = st.new_asset()
        st.api.stop()
        small_fs.fill(leave=16 * 1024)  # room for a few dozen spooled events, not 400
        total = 400
        st.watch(aid, total)  # asserts every viewer got a 200: serving never waits on telemetry
        st.wait_metric("rend_edge_telemetry_dropped_total", lambda v: v > 0)
        st.wait_metric("rend_edge_telemetry_queued", lambda v: v <= 20)
        assert st.edge.proc.poll() is None
        spooled = st.edge_metrics()["rend_edge_telemetry_spooled_total"]
        assert spooled > 0, "the spool took what fitted"

        small_fs.free()
        st.start_api()
        st.wait_metric("rend_edge_telemetry_spool_bytes", lambda v: v == 0, timeout=60)
        st.wait_metric("rend_edge_telemetry_queued", lambda v: v == 0, timeout=60)
        m = st.edge_metrics()
        counted = st.wait_requests(aid, total - int(m["rend_edge_telemetry_dropped_total"]), timeout=60)["requests"]
        time.sleep(1)
        m = st.edge_metrics()
        assert st.analytics(aid)["requests"] == counted, "nothing counted twice"
        # Every viewer request is either counted by the API or counted as dropped at the edge.
        assert counted + m["rend_edge_telemetry_dropped_total"] == total, (counted, m)
        assert m["rend_edge_telemetry_rejected_total"] == 0, "a torn spool record reached the API"
        assert m["rend_edge_telemetry_replayed_total"] >= spooled
    finally:
        st.close()


# --- dependencies stopped and restarted under load ---------------------------------------------

def _settings_rend_reads() -> set:
    """Every environment variable name Rend reads: the NAME_LIKE_THIS string literals
    of its non-test sources (today all of them are settings)."""
    names = set()
    for p in (REPO_ROOT / "src").rglob("*.cpp"):
        if not p.name.endswith("_test.cpp"):
            names.update(re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"', p.read_text(errors="replace")))
    return names


def test_a_test_server_takes_no_setting_from_the_callers_environment(monkeypatch, tmp_path):
    """scripts/with-test-services exports the shared stack's whole env file, so a test
    that points Rend at its own stack must not pass any of it through: an inherited
    OBJECT_STORE_HEALTH_URL once made the s3 outage case probe the shared s3rver (up)
    while fills went to the stopped one, and /readyz said "ok"."""
    names = _settings_rend_reads()
    assert {"OBJECT_STORE_HEALTH_URL", "DATABASE_URL", "S3_ENDPOINT"} <= names, "the name scan finds nothing"
    sentinel = "http://127.0.0.1:9/inherited-from-the-caller"
    for n in names:
        monkeypatch.setenv(n, sentinel)
    srv = RendServer(data_dir=tmp_path / "data", log_dir=tmp_path / "logs")
    for what, env in (("RendServer", srv.env()), ("_role_env", _role_env("embedded"))):
        leaked = sorted(k for k, v in env.items() if v == sentinel)
        assert not leaked, f"{what} passes the caller's {leaked} to rend"



class OwnStack:
    """Postgres, Redis, ClickHouse and s3rver of our own (scripts/stack in a scratch dir on
    free ports), so that stopping one disturbs no other test."""

    def __init__(self, root: Path):
        self.dir = root
        os.chmod(root, 0o755)  # Postgres runs as the postgres user and must enter it
        self.ports = {"PG": free_port(), "REDIS": free_port(), "CLICKHOUSE": free_port(), "S3": free_port()}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("REND_STACK_")}
        self.env["REND_STACK_DIR"] = str(root)
        self.env.update({f"REND_STACK_{k}_PORT": str(v) for k, v in self.ports.items()})

    def _stack(self, *args: str) -> None:
        r = subprocess.run([str(REPO_ROOT / "scripts" / "stack"), *args], env=self.env, capture_output=True,
                           text=True, timeout=180, cwd=str(REPO_ROOT))
        assert r.returncode == 0, f"scripts/stack {' '.join(args)} failed:\n{r.stderr[-3000:]}"

    def up(self) -> None:
        """Starts whatever is not running (idempotent), on the same ports and data."""
        self._stack("up", "--services-only")

    def down(self) -> None:
        self._stack("down")

    def stop(self, service: str) -> None:
        """Stops one service the way an operator or a crash would: Postgres with a fast
        shutdown (connections terminated), the others with SIGTERM. Returns once the
        process is gone and its port refuses connections (s3rver takes over a second
        to exit after SIGTERM), so what follows sees a real outage."""
        if service == "postgres":
            bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))[-1].parent
            cmd = [str(bindir / "pg_ctl"), "-D", str(self.dir / "postgres" / "data"), "-m", "fast", "-w", "stop"]
            if os.geteuid() == 0:
                cmd = ["runuser", "-u", "postgres", "--", *cmd]
            subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        else:
            pidfile = {"redis": "redis/redis.pid", "clickhouse": "clickhouse/clickhouse.pid",
                       "s3": "s3/s3rver.pid"}[service]
            pid = int((self.dir / pidfile).read_text())
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while Path(f"/proc/{pid}").exists() and not _zombie(pid):
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                time.sleep(0.1)
        port = self.ports[{"postgres": "PG", "redis": "REDIS", "clickhouse": "CLICKHOUSE", "s3": "S3"}[service]]
        deadline = time.monotonic() + 10
        while _accepts(port):
            assert time.monotonic() < deadline, f"{service} stopped, yet 127.0.0.1:{port} still accepts connections"
            time.sleep(0.05)

    def rend_env(self) -> dict:
        h = "127.0.0.1"
        return {
            "DATABASE_URL": f"postgres://rend@{h}:{self.ports['PG']}/rend",
            "REND_REDIS_URL": f"redis://{h}:{self.ports['REDIS']}/0",
            "S3_ENDPOINT": f"http://{h}:{self.ports['S3']}",
            "S3_BUCKET": "rend",
            "S3_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "S3RVER",
            "AWS_SECRET_ACCESS_KEY": "S3RVER",
            "CLICKHOUSE_URL": f"http://{h}:{self.ports['CLICKHOUSE']}",
            "CLICKHOUSE_DATABASE": "rend",
        }


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


# What /readyz calls each dependency. ClickHouse is what the analytics API and the
# telemetry ingest need.
READY_NAME = {"postgres": "database", "redis": "coordination", "s3": "object_store", "clickhouse": "analytics"}


@pytest.fixture(scope="module")
def own_services(tmp_path_factory, tiny_clips):
    """A dedicated stack plus one `rend dev` on it (telemetry flushed every 0.2 s), and
    one asset that is hls_ready before any fault (for player bootstraps)."""
    if not services_available() and os.environ.get("REND_REQUIRE_SERVICES") != "1":
        for tool in ("psql", "redis-server", "clickhouse-server"):
            if not shutil.which(tool) and not Path(f"/usr/bin/{tool}").exists():
                pytest.skip(f"{tool} is not installed (scripts/bootstrap.sh --test)")
    root = tmp_path_factory.mktemp("own-stack")
    # Not under pytest's tmp dir: that is 0700, and Postgres runs as the postgres user.
    stack = OwnStack(Path(tempfile.mkdtemp(prefix="rend-faults-stack.")))
    stack.up()
    srv = None
    try:
        srv = RendServer(data_dir=root / "rend" / "data", log_dir=root / "rend" / "logs", backend="services",
                         extra_env={**stack.rend_env(),
                                    "REND_PLAYBACK_SIGNING_SECRET": SECRET,
                                    "REND_MEDIA_WORKER_POLL_INTERVAL_SECS": "1",
                                    # a job whose worker lost it to an outage is claimed again soon
                                    "REND_MEDIA_JOB_LOCK_TIMEOUT_SECS": "10",
                                    "REND_EDGE_TELEMETRY_FLUSH_INTERVAL_SECS": "0.2",
                                    "REND_EDGE_TELEMETRY_REQUEST_TIMEOUT_SECS": "2"})
        srv.start()
        ready = srv.upload(tiny_clips[1])
        wait_asset(srv.api, srv.api_key, ready, "hls_ready")
        yield stack, srv, ready
    finally:
        if srv is not None:
            srv.stop(check=True)
        stack.down()
        shutil.rmtree(stack.dir, ignore_errors=True)


class Load:
    """A background client: viewer requests on the edge (misses, then hits), uploads,
    player bootstraps and analytics reads on the API. Records what was acknowledged
    and every answer that was not a success or a clean (5xx + JSON error) refusal."""

    def __init__(self, srv: RendServer, clip: bytes, ready_aid: str, tele_aid: str, segments: int):
        self.srv, self.clip, self.ready, self.tele = srv, clip, ready_aid, tele_aid
        self.paths = ["720p/index.m3u8"] + [f"720p/seg_{i:05d}.ts" for i in range(segments)]
        self.viewer_requests = 0
        self.viewer_served = 0  # 200/206 with a body: what becomes a playback event
        self.viewer_status: dict = {}
        self.acked: list = []  # asset ids whose PUT was answered 200
        self.api_status: dict = {}
        self.problems: list = []
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Load":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_flag.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "the load thread hung"

    def _api(self, s: requests.Session, method: str, path: str, **kw) -> Optional[requests.Response]:
        try:
            r = s.request(method, self.srv.api + path, headers=self.srv.auth(), timeout=20, **kw)
        except requests.RequestException as e:
            self.problems.append(f"{method} {path}: no answer ({e!r})")
            return None
        self.api_status[r.status_code] = self.api_status.get(r.status_code, 0) + 1
        if r.status_code >= 300:
            p = clean_error(r)
            if p:
                self.problems.append(p)
            return None
        return r

    def _upload(self, s: requests.Session) -> None:
        r = self._api(s, "POST", "/v1/uploads", json={})
        if r is None:
            return
        up = r.json()
        if self._api(s, "PUT", up["upload_url"].split(self.srv.api, 1)[1], data=self.clip) is not None:
            self.acked.append(up["asset_id"])

    def _run(self) -> None:
        token = sign(self.tele)
        i = 0
        with requests.Session() as api, requests.Session() as edge:
            while not self.stop_flag.is_set():
                path = self.paths[i % len(self.paths)]
                try:
                    r = edge.get(f"{self.srv.edge}/v/{self.tele}/{path}", headers={"Cookie": f"rend_playback={token}"},
                                 timeout=20)
                    self.viewer_requests += 1
                    self.viewer_status[r.status_code] = self.viewer_status.get(r.status_code, 0) + 1
                    if r.status_code in (200, 206) and r.content:
                        self.viewer_served += 1  # served media: the edge owes an event for it
                except requests.RequestException as e:
                    self.problems.append(f"edge {path}: no answer ({e!r})")
                if i % 4 == 0:
                    op = (i // 4) % 4
                    if op == 0:
                        self._upload(api)
                    elif op == 1:
                        self._api(api, "GET", f"/api/player/{self.ready}")
                    elif op == 2:
                        self._api(api, "GET", f"/v1/analytics/assets/{self.tele}")
                    else:
                        self._api(api, "GET", f"/v1/assets/{self.ready}")
                i += 1
                self.stop_flag.wait(0.1)


RECOVERY_S: dict = {}
DETECTED_S: dict = {}  # how long after the dependency stopped /readyz named it


def burst_failures(srv: RendServer, ready: str, when: str, n: int = 12) -> list:
    """n API requests that need the database, one after the other; every failure."""
    out = []
    with requests.Session() as s:
        for i in range(n):
            path = (f"/v1/assets/{ready}", f"/api/player/{ready}", "/v1/assets?limit=5")[i % 3]
            try:
                r = s.get(srv.api + path, headers=srv.auth(), timeout=10)
                if r.status_code != 200:
                    out.append(f"{when}: GET {path} -> {r.status_code} {r.text[:150]}")
            except requests.RequestException as e:
                out.append(f"{when}: GET {path}: no answer ({e!r})")
    return out


@pytest.mark.slow
def test_postgres_connections_terminated_the_next_requests_succeed(own_services):
    """Postgres ends every session of Rend (a failover, an idle-session killer, an
    operator): the pool must notice and reconnect, not fail the first statements."""
    stack, srv, ready = own_services
    assert not burst_failures(srv, ready, "before"), "the stack is not healthy to begin with"
    # Several connections in the pool: concurrent requests.
    with cf.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: requests.get(f"{srv.api}/v1/assets/{ready}", headers=srv.auth(), timeout=10),
                      range(32)))
    r = subprocess.run(["psql", "-X", "-q", "-tA", f"postgres://postgres@127.0.0.1:{stack.ports['PG']}/postgres", "-c",
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = 'rend' AND pid <> pg_backend_pid()"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.strip()) > 0, "Rend had no open database session to terminate"
    problems = burst_failures(srv, ready, "after its sessions were terminated", n=24)
    up = srv.create_upload()  # a write too
    assert up["asset_id"]
    assert requests.get(srv.api + "/readyz", timeout=5).status_code == 200
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("dependency", [
"redis", "clickhouse", "s3", "postgres"])
def test_dependency_stopped_and_restarted_under_load(own_services, tiny_clips, dependency):
    stack, srv, ready = own_services
    problems = []
    # A fresh asset for this case's viewer traffic, its artifacts put straight into the
    # bucket, so that its analytics count is exactly this case's viewer requests.
    tele = srv.create_upload()["asset_id"]
    segments = 12
    s3 = f"{srv.extra_env['S3_ENDPOINT']}/{srv.extra_env['S3_BUCKET']}/assets/{tele}/720p"
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:4", "#EXT-X-PLAYLIST-TYPE:VOD"]
    for n in range(segments):
        lines += ["#EXTINF:4.000000,", f"seg_{n:05d}.ts"]
        assert requests.put(f"{s3}/seg_{n:05d}.ts", data=os.urandom(10_000), timeout=10).status_code == 200
    assert requests.put(f"{s3}/index.m3u8", data="\n".join(lines + ["#EXT-X-ENDLIST", ""]),
                        timeout=10).status_code == 200

    def edge_metric(name: str) -> float:
        return metrics(requests.get(srv.edge + "/metrics", timeout=5).text).get(name, 0.0)

    spooled_before = edge_metric("rend_edge_telemetry_spooled_total")
    load = Load(srv, tiny_clips[0], ready, tele, segments).start()
    try:
        deadline = time.monotonic() + 20
        while not load.acked:
            assert time.monotonic() < deadline, f"no upload acknowledged before the fault: {load.problems}"
            time.sleep(0.1)
        stack.stop(dependency)
        down_at = time.monotonic()
        # /readyz says which dependency is away. Analytics does not gate readiness (the
        # edges spool meanwhile; uploads and playback go on): 200, named as degraded.
        gates = dependency != "clickhouse"
        seen = None
        while time.monotonic() - down_at < DOWN_BOUND_S:
            r = requests.get(srv.api + "/readyz", timeout=5)
            seen = (r.status_code, r.text[:300])
            body = r.json()
            if (gates and r.status_code == 503 and READY_NAME[dependency] in body.get("down", [])) or \
                    (not gates and r.status_code == 200 and READY_NAME[dependency] in body.get("degraded", [])
                     and body["checks"][READY_NAME[dependency]] == "down"):
                DETECTED_S[dependency] = round(time.monotonic() - down_at, 2)
                break
            time.sleep(0.2)
        else:
            want = "503 naming" if gates else "200 with degraded naming"
            problems.append(f"/readyz while {dependency} was down: {seen} (expected {want} "
                            f"{READY_NAME[dependency]!r})")
        if dependency == "s3":
            # The edge's own readiness names its origin too.
            r = requests.get(srv.edge + "/readyz", timeout=5)
            if r.status_code != 503 or r.json().get("checks", {}).get("origin") != "down":
                problems.append(f"edge /readyz while s3 was down: {r.status_code} {r.text[:200]}")
        before = load.viewer_requests
        time.sleep(3)  # the load keeps going against the missing dependency
        assert load.viewer_requests > before, "the edge stopped answering viewers"
        assert srv.proc.poll() is None, f"rend dev died while {dependency} was down\n{srv._diag()}"

        if dependency == "clickhouse":
            # The API cannot store events: the edge must have spooled them (counted below).
            deadline = time.monotonic() + 15
            while edge_metric("rend_edge_telemetry_spooled_total") == spooled_before:
                if time.monotonic() > deadline:
                    problems.append("no telemetry was spooled while ClickHouse was down")
                    break
                time.sleep(0.2)
        stack.up()
        up_at = time.monotonic()
        readyz = wait_readyz(srv.api, 200, READY_BOUND_S, srv.proc)
        while readyz["checks"].get("analytics") != "ok" or readyz.get("degraded"):
            assert time.monotonic() - up_at < READY_BOUND_S, f"/readyz after {dependency} came back: {readyz}"
            time.sleep(0.2)
            readyz = wait_readyz(srv.api, 200, READY_BOUND_S, srv.proc)
        RECOVERY_S[dependency] = round(time.monotonic() - up_at, 2)
        # Ready means ready: the requests right after succeed (no stale connection fails them).
        problems += burst_failures(srv, ready, f"right after {dependency} was ready again")
        if dependency == "s3":
            wait_readyz(srv.edge, 200, READY_BOUND_S, srv.proc)
        acked_before = len(load.acked)
        deadline = time.monotonic() + 30
        while len(load.acked) == acked_before:  # the load's own uploads work again
            if time.monotonic() > deadline:
                problems.append(f"no upload acknowledged within 30 s of {dependency} being back: {load.problems[-3:]}")
                break
            time.sleep(0.1)
    finally:
        load.stop()
        stack.up()  # whatever happened, the next case starts with every service running

    problems += load.problems
    assert srv.proc.poll() is None, f"rend dev died\n{srv._diag()}"
    # Nothing acknowledged is lost: every accepted upload is stored as sent and is processed.
    want = sha(tiny_clips[0])
    deadline = time.monotonic() + 60  # one bound for all of them: a lock timeout and a ladder each
    for aid in load.acked:
        try:
            wait_asset(srv.api, srv.api_key, aid, "hls_ready", timeout=max(1.0, deadline - time.monotonic()))
        except BaseException as e:  # noqa: BLE001 - report every lost upload, not just the first
            problems.append(f"not processed: {str(e)[:300]}")
            continue
        if sha(srv.read_object(f"sources/{aid}")) != want:
            problems.append(f"acknowledged upload {aid}: stored source differs from what was sent")
    # Every viewer response that served media is an event (refusals and 502s while the
    # origin was away are not playback); the analytics count is exact.
    counted = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = requests.get(f"{srv.api}/v1/analytics/assets/{tele}", headers=srv.auth(), timeout=10)
        counted = r.json().get("requests") if r.status_code == 200 else r.status_code
        if counted == load.viewer_served:
            break
        time.sleep(0.3)
    if counted != load.viewer_served:
        problems.append(f"analytics counts {counted} viewer requests, the edge served media in {load.viewer_served}")
    print(f"\n[{dependency}] readyz named it {DETECTED_S.get(dependency)} s after the stop, "
          f"200 {RECOVERY_S.get(dependency)} s after restart; acked uploads "
          f"{len(load.acked)}; viewer requests {load.viewer_requests} {load.viewer_status}; api {load.api_status}")
    assert not problems, f"{dependency}:\n" + "\n".join(problems[:30])
