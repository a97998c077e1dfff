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
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

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


@pytest.fixture(scope="module")
def other_site():
    """Another origin serving web/upload.html and tus-js-client's browser build."""
    root = Path(tempfile.mkdtemp(prefix="rend-upload-site-"))
    (root / "upload.html").write_bytes((REPO_ROOT / "web" / "upload.html").read_bytes())
    (root / "static").mkdir()
    (root / "static" / "tus.min.js").write_bytes(
        (REPO_ROOT / "node_modules" / "tus-js-client" / "dist" / "tus.min.js").read_bytes())
    port = conftest.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                            cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/upload.html", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "site server did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=5)


def test_chromium_on_another_origin_uploads_with_a_direct_url_and_resumes_after_a_reload(srv, other_site, tmp_path):
    if not Path("/usr/bin/chromium").exists() or not (REPO_ROOT / "node_modules" / "playwright-core").exists():
        pytest.skip("Chromium and playwright-core are needed")
    data = hashlib.sha256(b"seed").digest() * (12 * MiB // 32)  # 12 MiB
    f = tmp_path / "browser-clip.bin"
    f.write_bytes(data)
    r = requests.post(srv.api + "/v1/uploads", json={"direct": True, "cors_origin": other_site},
                      headers=srv.auth(), timeout=10)
    assert r.status_code == 201, r.text
    direct, upload_id = r.json()["direct"], r.json()["upload_id"]
    page = f"{other_site}/upload.html#tus={quote(direct['tus_url'], safe='')}&chunk={MiB}"
    proc = subprocess.run([NODE, str(REPO_ROOT / "tests/integration/tus_browser.mjs"), page, str(f), "90000"],
                          capture_output=True, text=True, timeout=150, cwd=str(REPO_ROOT))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no report: {proc.stdout[-1000:]} {proc.stderr[-2000:]}"
    report = json.loads(lines[-1])
    assert report["done"], json.dumps(report, indent=1)
    assert report["posts"] == 1, f"the reloaded page resumed instead of creating a new upload: {report}"
    assert report["storedKeys"], "tus-js-client stored the upload's fingerprint in localStorage"
    assert report["uploadUrls"][0] == report["uploadUrls"][1], report["uploadUrls"]
    assert report["uploadUrls"][0].startswith(f"{srv.api}/v1/uploads/tus/{upload_id}?token=")
    assert report["resumedFrom"] >= MiB and report["resumedFrom"] <= report["reloadedAt"], report
    assert report["bar"] == 100
    prog = requests.get(f"{srv.api}/v1/uploads/{upload_id}", headers=srv.auth(), timeout=10).json()
    assert (prog["status"], prog["offset"]) == ("complete", len(data)), prog
    assert srv.read_object("sources/" + prog["asset_id"]) == data
    assert srv.get_asset(prog["asset_id"])["filename"] == "browser-clip.bin", "the page sends the file's name"
