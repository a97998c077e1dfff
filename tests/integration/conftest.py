"""End-to-end fixtures: a real `rend dev` process on free loopback ports, and test clips.

Run from the repo root:  python3 -m pytest tests/integration -q
(use Debian's /usr/bin/python3 with python3-pytest and python3-requests installed).

Environment:
  REND_BIN   the rend binary (default: <repo>/build/rend; a relative path is taken
             relative to the repo root).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Optional

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# Upload limit of the session server: well above every test clip, small enough that
# the oversize tests are cheap.
SESSION_MAX_UPLOAD_BYTES = 4 * 1024 * 1024

# Variables that would point a test server at someone else's services.
# scripts/with-test-services exports its stack's whole env file (OBJECT_STORE_HEALTH_URL
# included), so every setting Rend reads must be listed here.
_SCRUBBED_PREFIXES = ("REND_", "S3_", "CLICKHOUSE_", "OBJECT_STORE_", "AUTUMN_")
_SCRUBBED_NAMES = {"DATABASE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}


def inherited_env() -> dict:
    """The caller's environment without any Rend setting: the base of every test server's env."""
    return {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES) and k not in _SCRUBBED_NAMES}


def rend_bin() -> Path:
    value = os.environ.get("REND_BIN")
    path = Path(value) if value else Path("build") / "rend"
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, n: int = 60) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "<no output>"
    return "\n".join(lines[-n:])


def parse_ts(value: Optional[str]) -> Optional[datetime]:
    """RFC 3339 timestamp -> aware datetime (None stays None)."""
    if value is None:
        return None
    assert isinstance(value, str), f"timestamp is not a string: {value!r}"
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert dt.tzinfo is not None, f"timestamp without offset: {value!r}"
    return dt


# --- backends ------------------------------------------------------------------------
# Every test that uses the `rend` fixture runs twice: on the embedded defaults, and on
# the real services (Postgres, Redis, s3rver, ClickHouse) that scripts/with-test-services
# starts for `make test` and announces through REND_TEST_* variables.

def services_available() -> bool:
    return bool(os.environ.get("REND_TEST_POSTGRES_URL"))


def backends() -> list:
    if services_available():
        return ["embedded", "services"]
    if os.environ.get("REND_REQUIRE_SERVICES") == "1":
        raise RuntimeError("REND_REQUIRE_SERVICES=1 but REND_TEST_POSTGRES_URL is not set")
    return ["embedded"]


def _psql(sql: str) -> None:
    r = subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-q", os.environ["REND_TEST_POSTGRES_URL"], "-c", sql],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"psql failed: {r.stderr[-1000:]}"


def services_env() -> dict:
    """Env for one `rend dev` on the real services, with its own database on each."""
    suffix = os.urandom(5).hex()
    db = f"rend_it_{suffix}"
    _psql(f"CREATE DATABASE {db}")
    admin = os.environ["REND_TEST_POSTGRES_URL"]
    return {
        "DATABASE_URL": admin.rsplit("/", 1)[0] + "/" + db,
        "REND_REDIS_URL": os.environ["REND_TEST_REDIS_URL"],
        "S3_ENDPOINT": os.environ["REND_TEST_S3_ENDPOINT"],
        "S3_BUCKET": os.environ.get("REND_TEST_S3_BUCKET", "rend"),
        "S3_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "S3RVER",
        "AWS_SECRET_ACCESS_KEY": "S3RVER",
        "CLICKHOUSE_URL": os.environ["REND_TEST_CLICKHOUSE_URL"],
        "CLICKHOUSE_DATABASE": db,
    }


def _s3_keys(endpoint: str, bucket: str, prefix: str) -> dict:
    """ListObjectsV2 against s3rver (which does not check signatures), key -> size."""
    import xml.etree.ElementTree as ET

    out, token = {}, None
    while True:
        params = {"list-type": "2", "prefix": prefix}
        if token:
            params["continuation-token"] = token
        r = requests.get(f"{endpoint}/{bucket}", params=params, timeout=10)
        assert r.status_code == 200, f"s3 list {prefix}: {r.status_code} {r.text[:300]}"
        root = ET.fromstring(r.content)
        ns = {"s": root.tag.split("}")[0].strip("{")} if root.tag.startswith("{") else {}
        q = (lambda t: f"s:{t}") if ns else (lambda t: t)
        for c in root.findall(q("Contents"), ns):
            out[c.find(q("Key"), ns).text] = int(c.find(q("Size"), ns).text)
        token_el = root.find(q("NextContinuationToken"), ns)
        if token_el is None or not token_el.text:
            return out
        token = token_el.text


@dataclass
class RendServer:
    """One `rend dev` process. start()/stop() may be called repeatedly (restart with the same data dir)."""

    data_dir: Path
    log_dir: Path
    extra_env: dict = field(default_factory=dict)
    backend: str = "embedded"
    args: list = field(default_factory=list)  # extra `rend dev` arguments, e.g. ["--edges", "3"]
    api_port: int = 0
    edge_port: int = 0
    internal_token: str = ""
    api_key: str = ""
    proc: Optional[subprocess.Popen] = None
    generation: int = 0

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def edge(self) -> str:
        return f"http://127.0.0.1:{self.edge_port}"

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"

    def object_keys(self, prefix: str) -> dict:
        """Objects in the server's object store under `prefix`, key -> size."""
        if self.backend == "services":
            return _s3_keys(self.extra_env["S3_ENDPOINT"], self.extra_env["S3_BUCKET"], prefix)
        root = self.objects_dir
        return {str(p.relative_to(root)): p.stat().st_size
                for p in root.rglob("*") if p.is_file() and str(p.relative_to(root)).startswith(prefix)
                and not str(p.relative_to(root)).startswith(".tmp")}

    def read_object(self, key: str) -> bytes:
        if self.backend == "services":
            r = requests.get(f"{self.extra_env['S3_ENDPOINT']}/{self.extra_env['S3_BUCKET']}/{key}", timeout=30)
            assert r.status_code == 200, f"s3 get {key}: {r.status_code}"
            return r.content
        return (self.objects_dir / key).read_bytes()

    @property
    def stdout_path(self) -> Path:
        return self.log_dir / f"rend-{self.generation}.stdout.log"

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"rend-{self.generation}.stderr.log"

    def env(self) -> dict:
        env = inherited_env()
        env.update(
            {
                "REND_API_BIND_ADDR": f"127.0.0.1:{self.api_port}",
                "REND_EDGE_BIND_ADDR": f"127.0.0.1:{self.edge_port}",
                "REND_PLAYBACK_BASE_URL": self.edge,
                "REND_EDGE_INTERNAL_TOKEN": self.internal_token,
                "REND_MAX_UPLOAD_BYTES": str(SESSION_MAX_UPLOAD_BYTES),
            }
        )
        # extra_env values may refer to this instance's URLs: "{api}", "{edge}"
        env.update({k: str(v).format(api=self.api, edge=self.edge) for k, v in self.extra_env.items()})
        return env

    def start(self) -> "RendServer":
        binary = rend_bin()
        if not binary.exists():
            pytest.fail(
                f"rend binary not found at {binary}; build it with "
                "`cmake -S . -B build -G Ninja && ninja -C build rend` or set REND_BIN"
            )
        assert self.proc is None, "already running"
        self.generation += 1
        # Fresh ports on every start: the previous ones may have been taken meanwhile.
        self.api_port, self.edge_port = free_port(), free_port()
        while self.edge_port == self.api_port:
            self.edge_port = free_port()
        if not self.internal_token:
            self.internal_token = "it-" + os.urandom(16).hex()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [str(binary), "dev", "--data-dir", str(self.data_dir), *self.args],
                env=self.env(),
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                cwd=str(REPO_ROOT),
            )
        self._wait_ready()
        return self

    def _diag(self) -> str:
        return (
            f"--- stderr tail ({self.stderr_path}) ---\n{tail(self.stderr_path)}\n"
            f"--- stdout tail ({self.stdout_path}) ---\n{tail(self.stdout_path, 20)}"
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        pending = {"api": self.api + "/readyz", "edge": self.edge + "/readyz"}
        last = {}
        key_file = self.data_dir / "api-key"
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.proc = None
                pytest.fail(f"rend dev exited with code {rc} before it was ready\n{self._diag()}")
            for name, url in list(pending.items()):
                try:
                    r = requests.get(url, timeout=2)
                    last[name] = r.status_code
                    if r.status_code == 200:
                        del pending[name]
                except requests.RequestException as e:
                    last[name] = repr(e)
            if not pending and key_file.exists():
                key = key_file.read_text().strip()
                if key:
                    assert "\n" not in key, "api-key file must be a single line"
                    self.api_key = key
                    return
            time.sleep(0.1)
        self.stop(check=False)
        pytest.fail(
            f"rend dev not ready within {READY_TIMEOUT_S}s (pending readyz: {sorted(pending)}, "
            f"last answers: {last}, api-key file exists: {key_file.exists()})\n{self._diag()}"
        )

    def stop(self, check: bool = True, sig: int = signal.SIGTERM) -> Optional[int]:
        """SIGTERM (or `sig`); with check, assert a clean exit (code 0) within STOP_TIMEOUT_S."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is not None:
            rc = proc.returncode
            if check:
                pytest.fail(f"rend dev had already exited (code {rc}) before teardown\n{self._diag()}")
            return rc
        proc.send_signal(sig)
        name = signal.Signals(sig).name
        try:
            rc = proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            if check:
                pytest.fail(f"rend dev did not exit within {STOP_TIMEOUT_S}s of {name}\n{self._diag()}")
            return None
        if check:
            assert rc == 0, f"rend dev exited with code {rc} after {name}\n{self._diag()}"
        return rc

    def create_key(self, scopes: str, name: str = "integration-test") -> str:
        """`rend keys create` against this server's data dir (a second customer / a narrower key)."""
        r = subprocess.run(
            [str(rend_bin()), "keys", "create", "--scopes", scopes, "--name", name, "--data-dir", str(self.data_dir)],
            env=self.env(), capture_output=True, text=True, timeout=30, cwd=str(REPO_ROOT),
        )
        assert r.returncode == 0, f"rend keys create failed ({r.returncode}): {r.stderr[-1000:]}"
        key = r.stdout.strip().splitlines()[-1].strip()
        assert key, f"rend keys create printed no key: {r.stdout!r}"
        return key

    # --- API helpers -------------------------------------------------------------------

    def auth(self, key: Optional[str] = None) -> dict:
        return {"Authorization": f"Bearer {key or self.api_key}"}

    def create_upload(self, visibility: Optional[str] = "public", size_bytes: Optional[int] = None) -> dict:
        body = {}
        if visibility is not None:
            body["visibility"] = visibility
        if size_bytes is not None:
            body["size_bytes"] = size_bytes
        r = requests.post(self.api + "/v1/uploads", json=body, headers=self.auth(), timeout=10)
        assert r.status_code == 201, f"POST /v1/uploads {body} -> {r.status_code} {r.text[:500]}"
        j = r.json()
        for k in ("upload_id", "asset_id", "upload_url"):
            assert isinstance(j.get(k), str) and j[k], f"POST /v1/uploads response lacks {k}: {j}"
        assert j["upload_url"].startswith("http://") or j["upload_url"].startswith("https://"), (
            f"upload_url is not absolute: {j['upload_url']}"
        )
        return j

    def put_bytes(self, upload_url: str, data: bytes) -> requests.Response:
        return requests.put(
            upload_url,
            data=data,
            headers={**self.auth(), "Content-Type": "application/octet-stream"},
            timeout=60,
        )

    def upload(self, path_or_bytes, visibility: str = "public") -> str:
        data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
        up = self.create_upload(visibility=visibility, size_bytes=len(data))
        r = self.put_bytes(up["upload_url"], data)
        assert r.status_code == 200, f"PUT {up['upload_url']} ({len(data)} bytes) -> {r.status_code} {r.text[:500]}"
        j = r.json()
        assert j.get("asset_id") == up["asset_id"], j
        assert j.get("bytes") == len(data), f"PUT response bytes {j.get('bytes')} != {len(data)}: {j}"
        assert j.get("status") == "queued", f"PUT response status: {j}"
        return up["asset_id"]

    def get_asset(self, asset_id: str) -> dict:
        r = requests.get(f"{self.api}/v1/assets/{asset_id}", headers=self.auth(), timeout=10)
        assert r.status_code == 200, f"GET /v1/assets/{asset_id} -> {r.status_code} {r.text[:500]}"
        return r.json()

    def wait_status(self, asset_id: str, wanted, timeout: float = 90.0, interval: float = 0.2) -> dict:
        """Polls until the status is in `wanted`; fails early on an unexpected terminal status."""
        wanted = {wanted} if isinstance(wanted, str) else set(wanted)
        terminal = {"failed", "deleted", "hls_ready"}
        deadline = time.monotonic() + timeout
        seen = []
        asset = None
        while time.monotonic() < deadline:
            asset = self.get_asset(asset_id)
            st = asset.get("status")
            if not seen or seen[-1] != st:
                seen.append(st)
            if st in wanted:
                return asset
            if st in terminal:
                pytest.fail(f"asset {asset_id} reached {st} while waiting for {sorted(wanted)}: {json.dumps(asset)}")
            time.sleep(interval)
        pytest.fail(
            f"asset {asset_id} not {sorted(wanted)} within {timeout}s; statuses seen {seen}; last {json.dumps(asset)}\n"
            f"{self._diag()}"
        )

    def playback(self, asset_id: str) -> dict:
        r = requests.post(f"{self.api}/v1/assets/{asset_id}/playback", headers=self.auth(), timeout=10)
        assert r.status_code == 200, f"POST /v1/assets/{asset_id}/playback -> {r.status_code} {r.text[:500]}"
        j = r.json()
        assert j.get("asset_id") == asset_id, j
        assert isinstance(j.get("token"), str) and j["token"], j
        assert isinstance(j.get("urls"), dict) and j["urls"].get("master"), j
        return j


@dataclass
class ServerFactory:
    base: Path
    started: list = field(default_factory=list)

    def __call__(self, name: str, extra_env: Optional[dict] = None, start: bool = True,
                 args: Optional[list] = None) -> RendServer:
        root = self.base / name
        srv = RendServer(data_dir=root / "data", log_dir=root / "logs", extra_env=extra_env or {}, args=args or [])
        self.started.append(srv)
        if start:
            srv.start()
        return srv


@pytest.fixture(scope="session")
def server_factory(tmp_path_factory) -> Callable[..., RendServer]:
    """Starts extra `rend dev` instances (own data dir); each is stopped cleanly at session end."""
    factory = ServerFactory(base=tmp_path_factory.mktemp("rend-extra"))
    yield factory
    errors = []
    for srv in factory.started:
        try:
            srv.stop(check=True)
        except BaseException as e:  # noqa: BLE001 - report every server, not just the first
            errors.append(f"{srv.data_dir}: {e}")
    if errors:
        pytest.fail("extra rend dev instances did not stop cleanly:\n" + "\n".join(errors))


@pytest.fixture(scope="session", params=backends())
def rend(request, tmp_path_factory) -> RendServer:
    """The shared `rend dev` instance, once per backend set (embedded, services)."""
    root = tmp_path_factory.mktemp(f"rend-{request.param}")
    extra = services_env() if request.param == "services" else {}
    srv = RendServer(data_dir=root / "data", log_dir=root / "logs", extra_env=extra, backend=request.param)
    srv.start()
    yield srv
    srv.stop(check=True)


# --- test clips ---------------------------------------------------------------------------

def _ffmpeg(*args: str) -> None:
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")


# name -> (description, list of ffmpeg invocations; "{out}" / "{tmp}" are substituted)
_CLIPS = {
    # 10 s so the 360p rung has three 4 s segments: the worker's warm covers the first
    # two of each tier, so the last one is a guaranteed cold object for MISS/HIT checks.
    "h264_640x360.mp4": [
        ["-f", "lavfi", "-i", "testsrc2=s=640x360:r=30:d=10", "-f", "lavfi", "-i", "sine=f=440:d=10",
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "30", "-pix_fmt", "yuv420p", "-g", "60",
         "-c:a", "aac", "-b:a", "64k", "-shortest", "-movflags", "+faststart", "{out}"],
    ],
    # Phone-like: HEVC (hvc1) 480x270 coded, with a 90 degree display matrix -> 270x480 portrait.
    "hevc_480x270_rot90.mp4": [
        ["-f", "lavfi", "-i", "testsrc2=s=480x270:r=30:d=3", "-f", "lavfi", "-i", "sine=f=660:d=3",
         "-c:v", "libx265", "-x265-params", "log-level=error", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-tag:v", "hvc1", "-c:a", "aac", "-b:a", "64k", "-shortest", "{tmp}"],
        ["-i", "{tmp}", "-map", "0", "-c", "copy", "-metadata:s:v:0", "rotate=90", "-tag:v", "hvc1",
         "-movflags", "+faststart", "{out}"],
    ],
}


@pytest.fixture(scope="session")
def clips() -> dict:
    """Generated once and cached across sessions in $TMPDIR (keyed by the recipe)."""
    recipe_hash = hashlib.sha256(json.dumps(_CLIPS, sort_keys=True).encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"rend-integration-clips-{recipe_hash}"
    cache.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, steps in _CLIPS.items():
        target = cache / name
        if not target.exists():
            work = Path(tempfile.mkdtemp(dir=cache))
            try:
                final = work / name
                for step in steps:
                    _ffmpeg(*[a.replace("{out}", str(final)).replace("{tmp}", str(work / ("tmp_" + name)))
                              for a in step])
                os.replace(final, target)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        out[name.split(".")[0]] = target
    return out


def ffprobe_json(url_or_path: str, timeout: float = 60) -> dict:
    cmd = ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", url_or_path]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"ffprobe failed ({r.returncode}) on {url_or_path}\nstderr: {r.stderr[-2000:]}"
    return json.loads(r.stdout)


# --- responses recorded for tests/integration/test_openapi.py ---------------------------------
# Every JSON answer a test receives from Rend through `requests` (told apart from other
# servers' by the headers only Rend sets) is kept, so that test_openapi.py can validate
# them against docs/openapi.yaml's schemas after every other test ran. Streamed
# responses are left alone (reading them here would consume the test's stream).

RECORDED_RESPONSES: list = []
_RECORD_LIMIT = 50000
_original_send = requests.Session.send


def _recording_send(self, request, **kwargs):
    resp = _original_send(self, request, **kwargs)
    try:
        rend = "x-request-id" in resp.headers or "x-rend-edge-id" in resp.headers
        if (rend and not kwargs.get("stream") and len(RECORDED_RESPONSES) < _RECORD_LIMIT
                and resp.headers.get("content-type", "").startswith("application/json") and resp.content):
            RECORDED_RESPONSES.append({"method": request.method, "url": request.url, "status": resp.status_code,
                                       "server": "api" if "x-request-id" in resp.headers else "edge",
                                       "body": resp.content[:1 << 20]})
    except Exception:  # noqa: BLE001 - recording must never change what a test sees
        pass
    return resp


requests.Session.send = _recording_send


# --- run order (tests/integration/test_secrets.py, test_openapi.py) --------------------------

# Validates what every other test recorded (above), so it runs after them.
RECORDED_RESPONSES_TEST = "test_openapi.py::test_recorded_responses_match_the_document"


@pytest.hookimpl(trylast=True)  # after any other reordering (fixture scopes, plugins)
def pytest_collection_modifyitems(session, config, items):
    """test_secrets.py greps every log and artifact the session produced, so it runs
    after every other module; test_openapi.py's check of the recorded responses runs
    just before it (stable order otherwise)."""
    def rank(item):
        if item.nodeid.split("::")[0].endswith("test_secrets.py"):
            return 2
        return 1 if RECORDED_RESPONSES_TEST in item.nodeid else 0

    items.sort(key=rank)


def pytest_configure(config):
    # The fault matrix's dependency restarts take ~30 s each: `-m "not slow"` skips them.
    config.addinivalue_line("markers", "slow: long fault-injection cases (deselect with -m 'not slow')")
