"""tus conformance with real clients (issue 13): tus-js-client in Node uploads a ~30 MB
clip in 1 MiB chunks, is aborted at about 40%, `rend` is SIGKILLed and restarted on
the same data (and database, and s3rver), the client resumes with the same upload URL,
the asset reaches hls_ready and the stored source is byte-identical (sha256). Then the
same client in Chromium, from a page on another origin, with a direct-upload URL,
reloaded mid-upload and resumed from the fingerprint it stored in localStorage."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import requests

import conftest
from conftest import REPO_ROOT, backends, services_env

MiB = 1 << 20
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


@pytest.fixture(scope="module")
def clip30(tmp_path_factory) -> Path:
    """A ~30 MB H.264/AAC clip: 8 s of noisy 360p at ~28 Mbit/s (noise does not compress)."""
    out = tmp_path_factory.mktemp("tus-clip") / "clip30.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                    "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                    "-vf", "noise=alls=30:allf=t", "-t", "8", "-c:v", "libx264", "-preset", "ultrafast",
                    "-b:v", "28M", "-maxrate", "30M", "-bufsize", "30M", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-shortest", str(out)], check=True, timeout=120)
    assert 25 * MiB < out.stat().st_size < 40 * MiB, out.stat().st_size
    return out


@pytest.fixture(scope="module", params=backends())
def srv(request, server_factory):
    services = request.param == "services"
    env = services_env() if services else {}
    env.update({"REND_MAX_UPLOAD_BYTES": str(64 * MiB)})
    s = server_factory(f"tus-client-{request.param}", extra_env=env, start=False)
    s.backend = request.param
    return s.start()


def node(*args: str, env: dict, timeout: float = 120) -> list:
    r = subprocess.run([NODE, str(REPO_ROOT / "tests/integration/tus_client.mjs"), *args], env=env,
                       capture_output=True, text=True, timeout=timeout, cwd=str(REPO_ROOT))
    events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert r.returncode == 0, f"tus_client {args[0]} failed ({r.returncode}): {events} {r.stderr[-2000:]}"
    return events


def restart_on_the_same_ports(srv, monkeypatch) -> None:
    """SIGKILL, then start again with the same data dir, database and ports, so the
    upload URL the client holds is still the one it was given."""
    ports = iter([srv.api_port, srv.edge_port])
    srv.stop(check=False, sig=signal.SIGKILL)
    monkeypatch.setattr(conftest, "free_port", lambda: next(ports))
    srv.start()


def test_tus_js_client_resumes_after_a_sigkill_and_the_source_is_identical(srv, clip30, monkeypatch):
    env = {**conftest.inherited_env(), "REND_API_KEY": srv.api_key}
    [aborted] = node("create", srv.api + "/v1/uploads/tus", str(clip30), str(MiB), "0.4", env=env)
    assert aborted["event"] == "aborted", aborted
    size = clip30.stat().st_size
    assert 0.35 * size <= aborted["offset"] < 0.6 * size, aborted
    url = aborted["url"]
    upload_id = url.rsplit("/", 1)[1]

    restart_on_the_same_ports(srv, monkeypatch)
    h = requests.head(url, headers={**srv.auth(), "Tus-Resumable": "1.0.0"}, timeout=10)
    assert h.status_code == 200 and int(h.headers["Upload-Offset"]) == aborted["offset"], h.headers

    [done] = node("resume", url, str(clip30), str(MiB), env=env, timeout=180)
    assert done["event"] == "success" and done["url"] == url, done
    assert done["resumedFrom"] >= aborted["offset"], "resumed, not restarted from zero"
    prog = requests.get(f"{srv.api}/v1/uploads/{upload_id}", headers=srv.auth(), timeout=10).json()
    assert (prog["status"], prog["offset"]) == ("complete", size), prog
    srv.wait_status(prog["asset_id"], "hls_ready", timeout=240)
    stored = srv.read_object("sources/" + prog["asset_id"])
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(clip30.read_bytes()).hexdigest()
