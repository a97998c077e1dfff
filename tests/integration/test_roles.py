"""The roles run as separate processes on the same embedded stores (SPEC §1):
`rend api`, `rend worker media` and `rend edge`, each stopped and started on its own."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

import json

from conftest import REPO_ROOT, backends, free_port, rend_bin, services_env, tail


class Role:
    def __init__(self, name: str, args: list, env: dict, log_dir: Path):
        self.name, self.args, self.env, self.log = name, args, env, log_dir / f"{name}.log"
        self.proc = None

    def start(self) -> "Role":
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([str(rend_bin()), *self.args], env=self.env, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, cwd=str(REPO_ROOT))
        return self

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=15)
        assert rc == 0, f"rend {self.name} exited {rc}\n{tail(self.log)}"


def wait_ready(url: str, role: Role, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert role.proc.poll() is None, f"rend {role.name} exited early\n{tail(role.log)}"
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} not ready\n{tail(role.log)}")


def wait_status(api: str, key: str, aid: str, wanted: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        a = requests.get(f"{api}/v1/assets/{aid}", headers={"Authorization": f"Bearer {key}"}, timeout=10).json()
        if a["status"] == wanted:
            return a
        assert a["status"] not in ("failed", "deleted"), a
        time.sleep(0.2)
    pytest.fail(f"{aid} not {wanted} in {timeout}s: {a}")


def test_api_worker_and_edge_as_separate_processes(tmp_path, clips):
    data = tmp_path / "data"
    api_port, edge_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REND_", "S3_", "CLICKHOUSE_")) and k != "DATABASE_URL"}
    env.update({
        "REND_API_BIND_ADDR": f"127.0.0.1:{api_port}",
        "REND_EDGE_BIND_ADDR": f"127.0.0.1:{edge_port}",
        "REND_PLAYBACK_BASE_URL": f"http://127.0.0.1:{edge_port}",
        "REND_MEDIA_WORKER_POLL_INTERVAL_SECS": "1",
    })
    api = f"http://127.0.0.1:{api_port}"
    dd = ["--data-dir", str(data)]
    key = subprocess.run([str(rend_bin()), "keys", "create", "--scopes", "all", *dd], env=env,
                         capture_output=True, text=True, check=True, cwd=str(REPO_ROOT)).stdout.strip()
    roles = {
        "api": Role("api", ["api", *dd], env, tmp_path).start(),
        "edge": Role("edge", ["edge", *dd], env, tmp_path).start(),
    }
    try:
        wait_ready(api + "/readyz", roles["api"])
        wait_ready(f"http://127.0.0.1:{edge_port}/readyz", roles["edge"])
        auth = {"Authorization": f"Bearer {key}"}

        # No worker yet: the upload is accepted and waits in the queue.
        up = requests.post(api + "/v1/uploads", json={}, headers=auth, timeout=10).json()
        r = requests.put(up["upload_url"], data=Path(clips["h264_640x360"]).read_bytes(), headers=auth, timeout=60)
        assert r.status_code == 200, r.text
        time.sleep(1.5)
        assert wait_status(api, key, up["asset_id"], "queued", timeout=5)["status"] == "queued"

        # A worker started on its own finds the job by polling the shared database.
        roles["worker"] = Role("worker", ["worker", "media", *dd], env, tmp_path).start()
        wait_status(api, key, up["asset_id"], "hls_ready")

        # The edge, a separate process, serves it from the shared object store.
        s = requests.Session()
        boot = s.get(f"{api}/api/player/{up['asset_id']}", timeout=10).json()
        master = s.get(boot["urls"]["master"], timeout=10)
        assert master.status_code == 200 and master.text.startswith("#EXTM3U"), master.text[:200]

        # Restart the edge alone: it keeps serving (cache rebuilt from disk or refilled).
        roles["edge"].stop()
        roles["edge"] = Role("edge", ["edge", *dd], env, tmp_path).start()
        wait_ready(f"http://127.0.0.1:{edge_port}/readyz", roles["edge"])
        assert s.get(boot["urls"]["master"], timeout=10).status_code == 200
    finally:
        for role in roles.values():
            if role.proc and role.proc.poll() is None:
                role.stop()


def role_env(backend: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REND_", "S3_", "CLICKHOUSE_")) and k != "DATABASE_URL"}
    if backend == "services":
        env.update(services_env())
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.mark.parametrize("backend", backends())
def test_two_workers_never_run_the_same_job(tmp_path, clips, backend):
    data = tmp_path / "data"
    api_port = free_port()
    env = role_env(backend, REND_API_BIND_ADDR=f"127.0.0.1:{api_port}", REND_MEDIA_WORKER_POLL_INTERVAL_SECS=1)
    api = f"http://127.0.0.1:{api_port}"
    dd = ["--data-dir", str(data)]
    key = subprocess.run([str(rend_bin()), "keys", "create", "--scopes", "all", *dd], env=env,
                         capture_output=True, text=True, check=True, cwd=str(REPO_ROOT)).stdout.strip()
    auth = {"Authorization": f"Bearer {key}"}
    roles = [Role("api", ["api", *dd], env, tmp_path).start()]
    try:
        wait_ready(api + "/readyz", roles[0])
        roles += [Role(f"worker{i}", ["worker", "media", *dd], env, tmp_path).start() for i in (1, 2)]
        body = Path(clips["hevc_480x270_rot90"]).read_bytes()
        ids = []
        for _ in range(6):
            up = requests.post(api + "/v1/uploads", json={}, headers=auth, timeout=10).json()
            assert requests.put(up["upload_url"], data=body, headers=auth, timeout=60).status_code == 200
            ids.append(up["asset_id"])
        for aid in ids:
            wait_status(api, key, aid, "hls_ready", timeout=120)
        started = {}
        for role in roles[1:]:
            for line in role.log.read_text(errors="replace").splitlines():
                if '"event":"job_started"' in line:
                    aid = json.loads(line)["asset_id"]
                    started.setdefault(aid, []).append(role.name)
        assert sorted(started) == sorted(ids), started
        assert all(len(v) == 1 for v in started.values()), f"a job ran twice: {started}"
    finally:
        for role in roles:
            if role.proc.poll() is None:
                role.stop()


@pytest.mark.parametrize("backend", backends())
def test_a_job_whose_worker_was_killed_completes_after_the_lock_timeout(tmp_path, backend):
    src = tmp_path / "hd.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=30:d=12",
                    "-f", "lavfi", "-i", "sine=d=12", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt",
                    "yuv420p", "-c:a", "aac", "-shortest", str(src)], check=True)
    data = tmp_path / "data"
    api_port = free_port()
    env = role_env(backend, REND_API_BIND_ADDR=f"127.0.0.1:{api_port}", REND_MEDIA_WORKER_POLL_INTERVAL_SECS=1,
                   REND_MEDIA_JOB_LOCK_TIMEOUT_SECS=5)
    api = f"http://127.0.0.1:{api_port}"
    dd = ["--data-dir", str(data)]
    key = subprocess.run([str(rend_bin()), "keys", "create", "--scopes", "all", *dd], env=env,
                         capture_output=True, text=True, check=True, cwd=str(REPO_ROOT)).stdout.strip()
    auth = {"Authorization": f"Bearer {key}"}
    api_role = Role("api", ["api", *dd], env, tmp_path).start()
    first = Role("worker1", ["worker", "media", *dd], env, tmp_path).start()
    second = None
    try:
        wait_ready(api + "/readyz", api_role)
        up = requests.post(api + "/v1/uploads", json={}, headers=auth, timeout=10).json()
        assert requests.put(up["upload_url"], data=src.read_bytes(), headers=auth, timeout=60).status_code == 200
        wait_status(api, key, up["asset_id"], "playable", timeout=30)
        # Progress is reported while the ladder encodes (12 s source: 3 segments a rung).
        deadline = time.monotonic() + 60
        while True:
            a = requests.get(f"{api}/v1/assets/{up['asset_id']}", headers=auth, timeout=10).json()
            if a["status"] == "playable" and isinstance(a["progress"], (int, float)) and 0 < a["progress"] < 1:
                break
            assert a["status"] == "playable" and time.monotonic() < deadline, f"no progress while processing: {a}"
            time.sleep(0.2)
        # SIGKILL: no clean-up, no release; the job stays claimed until its lock expires.
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(timeout=10)
        killed_at = time.monotonic()
        second = Role("worker2", ["worker", "media", *dd], env, tmp_path).start()
        a = wait_status(api, key, up["asset_id"], "hls_ready", timeout=120)
        assert time.monotonic() - killed_at >= 3, "the second worker must wait for the dead worker's lock"
        assert a["error"] is None and len(a["tiers"]) == 4, a
        assert "job_started" in tail(second.log, 200), "the second worker did not run the job"
    finally:
        for role in (api_role, second):
            if role and role.proc.poll() is None:
                role.stop()
        if first.proc.poll() is None:
            first.proc.kill()


# --- production start-up checks -----------------------------------------------------------

def production_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REND_", "S3_", "CLICKHOUSE_", "AWS_")) and k != "DATABASE_URL"}
    env.update({"REND_ENV": "production", "REND_PLAYBACK_SIGNING_SECRET": "s" * 40,
                "REND_EDGE_INTERNAL_TOKEN": "t" * 40, "REND_INTERNAL_TELEMETRY_TOKEN": "k" * 40,
                # Never contacted: the configuration is refused before any connection.
                "S3_ENDPOINT": f"http://127.0.0.1:{free_port()}", "S3_BUCKET": "rend",
                # The rest of the production profile (issue 14); loopback hosts need
                # the dev-defaults allowance.
                "REND_ALLOW_DEV_DEFAULTS": "true", "AWS_ACCESS_KEY_ID": "it-access-key",
                "AWS_SECRET_ACCESS_KEY": "it-secret-access-key-0000", "REND_PLAYBACK_SIGNING_KEY_ID": "it",
                "REND_EDGE_ID": "edge-it", "REND_EDGE_REGION": "it", "REND_EDGE_BASE_URL": "https://edge.example.net",
                "REND_CONTROL_PLANE_URL": f"http://127.0.0.1:{free_port()}"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_briefly(args: list, env: dict, tmp_path) -> subprocess.CompletedProcess:
    """Runs a role that should refuse its configuration; one that starts instead is stopped."""
    proc = subprocess.Popen([str(rend_bin()), *args, "--data-dir", str(tmp_path / "data")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO_ROOT))
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        return subprocess.CompletedProcess(proc.args, 0, out, "(still running after 10 s) " + err)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_a_production_edge_refuses_to_start_without_a_private_internal_listener(tmp_path):
    """Without REND_EDGE_INTERNAL_BIND_ADDR, /metrics and /internal/* would be public."""
    env = production_env(REND_EDGE_BIND_ADDR=f"127.0.0.1:{free_port()}", REND_EDGE_TELEMETRY_ENABLED="false",
                         REND_EDGE_CACHE_DIR=tmp_path / "cache", REND_EDGE_TELEMETRY_SPOOL_DIR=tmp_path / "spool")
    r = run_briefly(["edge"], env, tmp_path)
    assert r.returncode != 0, f"rend edge started:\n{r.stdout[-500:]}{r.stderr[-1500:]}"
    assert "REND_EDGE_INTERNAL_BIND_ADDR" in r.stderr, r.stderr[-1500:]

    # With it, the edge starts and /metrics is only on the private listener.
    public, internal = free_port(), free_port()
    env.update({"REND_EDGE_BIND_ADDR": f"127.0.0.1:{public}", "REND_EDGE_INTERNAL_BIND_ADDR": f"127.0.0.1:{internal}"})
    edge = Role("edge-prod", ["edge", "--data-dir", str(tmp_path / "data")], env, tmp_path).start()
    try:
        wait_ready(f"http://127.0.0.1:{public}/healthz", edge)
        assert requests.get(f"http://127.0.0.1:{public}/metrics", timeout=5).status_code == 404
        assert requests.get(f"http://127.0.0.1:{internal}/metrics", timeout=5).status_code == 200
    finally:
        edge.stop()


def test_a_production_api_refuses_to_start_without_the_expected_edges(tmp_path):
    """The registry is pinned in production: no REND_EXPECTED_EDGES, no start."""
    env = production_env(REND_API_BIND_ADDR=f"127.0.0.1:{free_port()}",
                         DATABASE_URL=f"postgres://rend:x@127.0.0.1:{free_port()}/rend",
                         REND_REDIS_URL=f"redis://127.0.0.1:{free_port()}",
                         CLICKHOUSE_URL=f"http://127.0.0.1:{free_port()}")
    r = run_briefly(["api"], env, tmp_path)
    assert r.returncode != 0, f"rend api started:\n{r.stderr[-1500:]}"
    assert "REND_EXPECTED_EDGES" in r.stderr, r.stderr[-1500:]


def local_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REND_", "S3_", "CLICKHOUSE_", "AWS_")) and k != "DATABASE_URL"}
    env.update(extra)
    return env


# A value each role reads late today (player routing is parsed when the API role is
# built, after the stores; the edge telemetry settings after the cache settings...):
# every role must refuse it before it creates its data dir, opens a store or binds.
LATE_BAD_VALUES = [
    (["api"], "REND_PLAYER_GEO_HEADERS", "akamai"),
    (["api"], "REND_PLAYER_EDGE_BASE_URLS_MODE", "sometimes"),
    (["api"], "REND_BILLING_MODE", "stripe"),
    (["dev"], "REND_PLAYER_GEO_HEADERS", "akamai"),
    (["dev"], "REND_EDGE_TELEMETRY_BATCH_SIZE", "0"),
    (["edge"], "REND_EDGE_TELEMETRY_FLUSH_INTERVAL_SECS", "soon"),
    (["worker", "media"], "REND_MEDIA_MAX_FPS", "0"),
    (["migrate"], "REND_HTTP_MAX_CONNECTIONS", "0"),
]


@pytest.mark.parametrize("cmd,var,value", LATE_BAD_VALUES, ids=lambda x: x if isinstance(x, str) else "-".join(x))
def test_a_bad_setting_stops_a_role_before_it_touches_anything(tmp_path, cmd, var, value):
    data = tmp_path / "data"
    port = free_port()
    env = local_env(REND_API_BIND_ADDR=f"127.0.0.1:{port}", REND_EDGE_BIND_ADDR=f"127.0.0.1:{free_port()}",
                    **{var: value})
    r = subprocess.run([str(rend_bin()), *cmd, "--data-dir", str(data)], env=env, capture_output=True, text=True,
                       timeout=30, cwd=str(REPO_ROOT))
    assert r.returncode == 2, f"exit {r.returncode}\n{r.stderr[-1500:]}"
    assert var in r.stderr, r.stderr[-1500:]
    assert not data.exists(), f"rend {' '.join(cmd)} created {sorted(str(p) for p in data.rglob('*'))} before refusing {var}"


# Flags are matched exactly: `--flag value` or `--flag=value`, nothing else. A prefix
# match used to take `--data-dirt x` as `--data-dir x`.
BAD_FLAGS = [
    (["api"], ["--data-dirt", "{data}"], "--data-dirt"),
    (["api"], ["--data-dir-x={data}"], "--data-dir-x"),
    (["edge"], ["--data-directory", "{data}"], "--data-directory"),
    (["worker", "media"], ["--data-dirx={data}"], "--data-dirx"),
    (["dev"], ["--data-dir", "{data}", "--edgesx", "2"], "--edgesx"),
    (["dev"], ["--data-dir", "{data}", "--edges=9"], "--edges"),
    (["keys", "create"], ["--data-dir", "{data}", "--scopes-all", "all"], "--scopes-all"),
    (["keys", "create"], ["--data-dir", "{data}", "--names", "x"], "--names"),
    # A flag another command takes is still unknown here.
    (["api"], ["--data-dir", "{data}", "--edges", "2"], "--edges"),
    (["migrate"], ["--data-dir", "{data}", "--scopes", "all"], "--scopes"),
    (["api"], ["--data-dir"], "--data-dir"),
    (["api"], ["--data-dir", "{data}", "stray"], "stray"),
]


@pytest.mark.parametrize("cmd,flags,named", BAD_FLAGS, ids=lambda x: x if isinstance(x, str) else " ".join(x))
def test_flags_are_matched_exactly(tmp_path, cmd, flags, named):
    data = tmp_path / "data"
    env = local_env(REND_API_BIND_ADDR=f"127.0.0.1:{free_port()}", REND_EDGE_BIND_ADDR=f"127.0.0.1:{free_port()}")
    args = [a.replace("{data}", str(data)) for a in flags]
    r = subprocess.run([str(rend_bin()), *cmd, *args], env=env, capture_output=True, text=True, timeout=30,
                       cwd=str(REPO_ROOT))
    assert r.returncode == 2, f"exit {r.returncode}\n{r.stderr[-1500:]}"
    assert named in r.stderr, r.stderr[-1500:]
    assert not data.exists()


def test_both_flag_spellings_are_accepted(tmp_path):
    env = local_env()
    for args in (["--data-dir", str(tmp_path / "a"), "--scopes", "read", "--name", "n1"],
                 [f"--data-dir={tmp_path / 'b'}", "--scopes=read", "--name=n2"]):
        r = subprocess.run([str(rend_bin()), "keys", "create", *args], env=env, capture_output=True, text=True,
                           timeout=30, cwd=str(REPO_ROOT))
        assert r.returncode == 0, r.stderr[-1500:]
        assert r.stdout.strip(), r.stderr[-1500:]
    assert (tmp_path / "a" / "rend.db").exists() and (tmp_path / "b" / "rend.db").exists()


# ---- One topology: scripts/check-topology fails, naming file, role and variable, when
# compose.yml, scripts/stack or an env example drifts from config/topology.json.
TOPOLOGY_FILES = ["config/topology.json", "compose.yml", "scripts/stack", ".env.local.example",
                  ".env.docker.example", "scripts/check-topology"]
DRIFTS = [
    ("compose.yml", "REND_EDGE_REGION: us-east", "REND_EDGE_REGION: us-west",
     "compose.yml: edge-us-east: REND_EDGE_REGION"),
    ("compose.yml", '"127.0.0.1:4000:4000"', '"127.0.0.1:4001:4000"', "compose.yml: api: ports"),
    ("compose.yml", "      REND_API_AUTO_MIGRATE: \"false\"\n",
     "      REND_API_AUTO_MIGRATE: \"false\"\n      REND_MEDIA_MAX_FPS: \"60\"\n",
     "compose.yml: worker-media: REND_MEDIA_MAX_FPS"),
    ("scripts/stack", "port_of REND_STACK_EDGE_PORT edge 4100", "port_of REND_STACK_EDGE_PORT edge 4200",
     "scripts/stack: edge: REND_STACK_EDGE_PORT"),
    ("scripts/stack", '    "REND_ALLOW_INSECURE_EDGE_URLS=true"\n', "",
     "scripts/stack: every role: REND_ALLOW_INSECURE_EDGE_URLS"),
    ("scripts/stack", "edge-london london", "edge-london londn", "scripts/stack: edge-london: REND_EDGE_REGION"),
    ("scripts/stack", '"REND_PLAYBACK_BASE_URL=http://$HOST:$EDGE_PORT"', '"REND_PLAYBACK_BASE_URL=http://$HOST:$API_PORT"',
     "scripts/stack: edge: REND_PLAYBACK_BASE_URL"),
    ("scripts/stack", '    "REND_MEDIA_WORKER_ID=stack-worker-media" \\\n',
     '    "REND_MEDIA_WORKER_ID=stack-worker-media" \\\n    "REND_MEDIA_MAX_FPS=60" \\\n',
     "scripts/stack: worker-media: REND_MEDIA_MAX_FPS"),
    (".env.local.example", "REND_PLAYBACK_BASE_URL=http://127.0.0.1:4100", "REND_PLAYBACK_BASE_URL=http://127.0.0.1:4105",
     ".env.local.example: edge: REND_PLAYBACK_BASE_URL"),
    (".env.docker.example", "REND_CONTROL_PLANE_URL=http://rend-api:4000", "REND_CONTROL_PLANE_URL=http://rend-api:4001",
     ".env.docker.example: api: REND_CONTROL_PLANE_URL"),
    ("config/topology.json", '"port": 4101,', '"port": 4111,', "compose.yml: edge-us-east: ports"),
]


@pytest.fixture
def topology_root(tmp_path):
    """A copy of the checked-in topology files, removed after the test: they are the
    repo's own example files (example passwords included), not artifacts of a run, and
    test_secrets.py scans what the run leaves behind."""
    dst = tmp_path / "topology"
    for rel in TOPOLOGY_FILES:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        (dst / rel).write_bytes((REPO_ROOT / rel).read_bytes())
    yield dst
    shutil.rmtree(dst, ignore_errors=True)


def check_topology(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["/usr/bin/python3", str(root / "scripts/check-topology"), "--root", str(root)],
                          capture_output=True, text=True, timeout=30)


def test_the_checked_in_topology_agrees(topology_root):
    r = check_topology(topology_root)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("rel,old,new,named", DRIFTS, ids=[d[3] for d in DRIFTS])
def test_a_topology_drift_fails_naming_file_role_and_variable(topology_root, rel, old, new, named):
    root = topology_root
    text = (root / rel).read_text()
    assert text.count(old) >= 1, f"{rel} no longer contains {old!r}: update this test"
    (root / rel).write_text(text.replace(old, new, 1))
    r = check_topology(root)
    assert r.returncode == 1, r.stdout + r.stderr
    assert named in r.stderr, r.stderr
