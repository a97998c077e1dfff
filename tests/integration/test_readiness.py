"""`rend readiness` (issue 15): the playback readiness gate run against real `rend`
processes — `rend dev --edges 3`, plus a standalone `rend edge` registered with it for
the cases that need one edge to misbehave (stopped, its telemetry refused) — and the
operator page in Chromium.

Each case runs the real binary as an operator would (`--target configured
--skip-local-stack`, the interface scripts/verify-first-host-deploy.sh uses) and reads
the artifact it wrote."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from conftest import REPO_ROOT, backends, free_port, inherited_env, rend_bin, services_env
from edgeproc import Edge
from test_loop import CHROMIUM, _missing_browser

ARTIFACTS = REPO_ROOT / "artifacts"
# A healthy run takes a few seconds; the bounds the gate waits for are its fail thresholds.
GATE_TIMEOUT_S = 180


def dev_secrets(srv) -> dict:
    out = {}
    for line in (srv.data_dir / "secrets.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k] = v
    return out


@pytest.fixture(scope="module", params=backends())
def dev(request, server_factory, tmp_path_factory):
    """`rend dev --edges 3`, once on the embedded stores and once on the real services."""
    us, london = free_port(), free_port()
    out = tmp_path_factory.mktemp(f"readiness-out-{request.param}")
    extra = services_env() if request.param == "services" else {}
    srv = server_factory(f"readiness-dev-{request.param}", args=["--edges", "3"], extra_env={
        **extra,
        "REND_DEV_EDGE_US_EAST_BIND_ADDR": f"127.0.0.1:{us}",
        "REND_DEV_EDGE_LONDON_BIND_ADDR": f"127.0.0.1:{london}",
        # The operator page reads what the gate runs below write.
        "REND_READINESS_ARTIFACT_PATH": str(out / "playback-readiness-latest.json"),
    })
    srv.backend = request.param  # where object_keys() looks
    srv.out = out
    srv.edges = {"edge-us-east": ("us-east", f"http://127.0.0.1:{us}"),
                 "edge-london": ("london", f"http://127.0.0.1:{london}")}
    srv.secrets = dev_secrets(srv)
    return srv


def edges_value(edges: dict) -> str:
    return ",".join(f"{eid}={region}={base}" for eid, (region, base) in edges.items())


def run_gate(srv, edges=None, env=None, args=(), api=None):
    """Runs `rend readiness --target configured --skip-local-stack` in srv.out; returns
    (exit code, stdout, artifact dict, artifact text)."""
    latest = srv.out / "playback-readiness-latest.json"
    if latest.exists():
        latest.unlink()
    e = inherited_env()
    e.update({
        "REND_API_BASE_URL": api or srv.api,
        "REND_READINESS_API_KEY": srv.api_key,
        "REND_EDGE_INTERNAL_TOKEN": srv.internal_token,
        "REND_READINESS_EDGES": edges_value(edges or srv.edges),
        "REND_READINESS_LATEST_OUTPUT": str(latest),
    })
    e.update(env or {})
    p = subprocess.run([str(rend_bin()), "readiness", "--target", "configured", "--skip-local-stack", *args],
                       env=e, cwd=str(srv.out), capture_output=True, text=True, timeout=GATE_TIMEOUT_S)
    assert latest.exists(), f"no artifact written (rc {p.returncode})\n{p.stdout}\n{p.stderr}"
    text = latest.read_text()
    return p.returncode, p.stdout + p.stderr, json.loads(text), text


def failed_checks(a: dict) -> set:
    return {(c["name"], c.get("edge_id", "")) for c in a["checks"] if not c["ok"]}


def asset_of(a: dict) -> str:
    for c in a["checks"]:
        if c["name"] == "upload_created":
            m = re.search(r"ast_[a-z2-7]{26}", c["detail"])
            if m:
                return m.group(0)
    raise AssertionError("the artifact names no synthetic asset")


def assert_no_secret(srv, text: str, extra=()):
    """The artifact and output never carry a secret, a URL, a host or a cookie."""
    secrets = {"API key": srv.api_key, "edge internal token": srv.internal_token, **{
        k: v for k, v in srv.secrets.items() if v}}
    secrets.update({f"extra {i}": v for i, v in enumerate(extra)})
    for name, value in secrets.items():
        assert value not in text, f"the {name} leaked"
    for shape in (r"https?://", r"127\.0\.0\.1", r"rend_playback=", r"(?i)bearer ", r"(?i)authorization",
                  r"[?&]token=", r"v2\.[A-Za-z0-9_-]+\.\d{9,}\.ast_"):
        assert not re.search(shape, text), f"the artifact matches {shape}"


def assert_cleaned_up(srv, asset_id: str):
    r = requests.get(f"{srv.api}/v1/assets/{asset_id}", headers=srv.auth(), timeout=10)
    assert r.status_code == 404 or r.json()["status"] == "deleted", r.text
    assert srv.object_keys(f"assets/{asset_id}/") == {}, "published HLS left behind"
    assert srv.object_keys(f"sources/{asset_id}") == {}, "the uploaded source left behind"
    listed = requests.get(f"{srv.api}/v1/assets", headers=srv.auth(), timeout=10).json()["data"]
    assert not [x for x in listed if x["id"] == asset_id and x["status"] != "deleted"]


def test_healthy_system_passes_with_no_secret_in_the_artifact_and_nothing_left_behind(dev):
    rc, out, a, text = run_gate(dev)
    assert rc == 0, out
    assert a["status"] == "pass", a["failures"]
    assert failed_checks(a) == set()
    assert {e["edge_id"]: (e["region"], e["status"]) for e in a["edges"]} == {
        "edge-us-east": ("us-east", "pass"), "edge-london": ("london", "pass")}
    assert [t["name"] for t in a["timings"]] == [
        "upload_response", "upload_to_opener_playable", "upload_to_hls_ready", "playback_bootstrap",
        "edge_ttfb_miss", "edge_ttfb_hit", "edge_ttfb_warmed_hit", "telemetry_visibility"]
    assert all(t["ms"] is not None and t["status"] == "pass" for t in a["timings"]), a["timings"]
    names = {c["name"] for c in a["checks"]}
    assert {"edge_registered", "edge_ready", "asset_hls_ready", "bootstrap_urls_tokenless", "bootstrap_cookie_shape",
            "edge_miss", "edge_hit", "edge_warmed_hit", "telemetry_visible", "edge_telemetry_delivered",
            "cleanup_edge_purged"} <= names
    assert a["bytes_per_delivered_minute_proxy"]["value"] > 0
    assert "not billing" in a["bytes_per_delivered_minute_proxy"]["note"]
    # Progress was printed step by step, and the run's file sits in the history.
    assert "step 1/6" in out and "step 6/6" in out and "readiness: pass" in out
    runs = list((dev.out / "runs").glob("*.json"))
    assert any(r.read_text() == text for r in runs), runs
    assert_no_secret(dev, text)
    assert_no_secret(dev, out.replace(dev.api, "").replace("http://127.0.0.1", ""))  # stdout names no secret
    assert_cleaned_up(dev, asset_of(a))


def test_a_warn_threshold_below_the_measured_time_warns_and_strict_exits_2(dev):
    env = {"REND_READINESS_WARN_UPLOAD_TO_HLS_READY_MS": "1"}
    rc, out, a, _ = run_gate(dev, env=env)
    assert rc == 0, out
    assert a["status"] == "warn", a["failures"]
    assert [w for w in a["warnings"] if w.startswith("timing upload_to_hls_ready")], a["warnings"]
    timing = next(t for t in a["timings"] if t["name"] == "upload_to_hls_ready")
    assert timing["status"] == "warn" and timing["warn_ms"] == 1 and timing["ms"] > 1
    rc, out, a, _ = run_gate(dev, env=env, args=["--strict"])
    assert (rc, a["status"]) == (2, "warn"), out


def test_a_timing_over_its_fail_threshold_fails_the_run(dev):
    rc, out, a, _ = run_gate(dev, env={"REND_READINESS_WARN_UPLOAD_TO_OPENER_PLAYABLE_MS": "1",
                                       "REND_READINESS_FAIL_UPLOAD_TO_OPENER_PLAYABLE_MS": "1"})
    assert rc == 1, out
    assert failed_checks(a) == set(), "only the timing should fail"
    assert [f for f in a["failures"] if f.startswith("timing upload_to_opener_playable")], a["failures"]
    assert next(t for t in a["timings"] if t["name"] == "upload_to_opener_playable")["status"] == "fail"


@pytest.fixture
def extra_edge(dev, tmp_path):
    """A standalone `rend edge` on the dev deployment's object store, registered with it."""
    def start(edge_id: str, telemetry_token=None):
        # The deployment's origin: its object directory, or its S3 bucket.
        origin = ({k: v for k, v in dev.extra_env.items() if k.startswith(("S3_", "AWS_"))}
                  if dev.backend == "services" else {"REND_OBJECT_STORE_DIR": str(dev.objects_dir)})
        edge = Edge(tmp_path / edge_id, {
            **origin,
            "REND_PLAYBACK_SIGNING_SECRET": dev.secrets["REND_PLAYBACK_SIGNING_SECRET"],
            "REND_EDGE_INTERNAL_TOKEN": dev.internal_token,
            "REND_CONTROL_PLANE_URL": dev.api,
            "REND_EDGE_ID": edge_id,
            "REND_EDGE_REGION": "frankfurt",
            "REND_EDGE_TELEMETRY_ENABLED": "true",
            "REND_INTERNAL_TELEMETRY_TOKEN": telemetry_token or dev.secrets["REND_INTERNAL_TELEMETRY_TOKEN"],
        })
        edge.start()
        deadline = time.monotonic() + 15
        while True:
            r = requests.get(f"{dev.api}/internal/edges", headers={"Authorization": f"Bearer {dev.internal_token}"},
                             timeout=5)
            if any(e["edge_id"] == edge_id and e["active"] and e["base_url"] == edge.url for e in r.json()["data"]):
                break
            assert time.monotonic() < deadline, f"{edge_id} did not register"
            time.sleep(0.1)
        started.append(edge)
        return edge
    started = []
    yield start
    for e in started:
        if e.process.proc:
            e.stop()


def test_a_stopped_edge_fails_the_run_naming_that_edge(dev, extra_edge):
    edge = extra_edge("edge-stopped")
    edges = {**dev.edges, "edge-stopped": ("frankfurt", edge.url)}
    edge.stop()  # its registry record stays fresh for the heartbeat window: readyz is what catches it
    rc, out, a, text = run_gate(dev, edges=edges)
    assert rc == 1, out
    assert a["status"] == "fail"
    assert ("edge_ready", "edge-stopped") in failed_checks(a)
    assert {e["edge_id"]: e["status"] for e in a["edges"]} == {
        "edge-us-east": "pass", "edge-london": "pass", "edge-stopped": "fail"}
    assert any("(edge-stopped)" in f for f in a["failures"]), a["failures"]
    assert "edge-stopped" in out and "FAIL" in out
    assert_no_secret(dev, text)
    assert_cleaned_up(dev, asset_of(a))


def test_telemetry_refused_by_ingest_fails_the_run(dev, extra_edge):
    # The API refuses this edge's batches (401: not its telemetry token), so its
    # events are rejected, never stored.
    edge = extra_edge("edge-refused", telemetry_token="not-the-telemetry-token-" + "z" * 16)
    edges = {**dev.edges, "edge-refused": ("frankfurt", edge.url)}
    rc, out, a, text = run_gate(dev, edges=edges, env={"REND_READINESS_WARN_TELEMETRY_VISIBILITY_MS": "3000",
                                                       "REND_READINESS_FAIL_TELEMETRY_VISIBILITY_MS": "5000"})
    assert rc == 1, out
    failed = failed_checks(a)
    assert ("edge_telemetry_delivered", "edge-refused") in failed, failed
    assert ("telemetry_visible", "") in failed, failed
    assert ("edge_telemetry_delivered", "edge-us-east") not in failed
    extra = next(e for e in a["edges"] if e["edge_id"] == "edge-refused")
    assert extra["telemetry"]["rejected_delta"] > 0 and extra["status"] == "fail"
    assert_no_secret(dev, text, extra=["not-the-telemetry-token-" + "z" * 16])
    assert_cleaned_up(dev, asset_of(a))


def test_an_interrupted_run_stops_waiting_and_still_deletes_its_asset(dev, extra_edge):
    # Telemetry that never arrives keeps the gate waiting in step 5 (up to its fail bound).
    edge = extra_edge("edge-interrupted", telemetry_token="not-the-telemetry-token-" + "z" * 16)
    e = inherited_env()
    latest = dev.out / "interrupted-latest.json"
    e.update({"REND_API_BASE_URL": dev.api, "REND_READINESS_API_KEY": dev.api_key,
              "REND_EDGE_INTERNAL_TOKEN": dev.internal_token,
              "REND_READINESS_EDGES": edges_value({**dev.edges, "edge-interrupted": ("frankfurt", edge.url)}),
              "REND_READINESS_FAIL_TELEMETRY_VISIBILITY_MS": "120000", "REND_READINESS_LATEST_OUTPUT": str(latest)})
    p = subprocess.Popen([str(rend_bin()), "readiness", "--target", "configured", "--skip-local-stack"], env=e,
                         cwd=str(dev.out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    try:
        for line in p.stdout:
            out.append(line)
            if "step 5/6" in line:
                break
        assert out and "step 5/6" in out[-1], "".join(out)
        p.send_signal(signal.SIGINT)
        start = time.monotonic()
        rest, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    out.append(rest)
    assert p.returncode == 1, "".join(out)
    assert time.monotonic() - start < 30, "the gate kept waiting after SIGINT"
    a = json.loads(latest.read_text())
    failed = failed_checks(a)
    assert ("run_interrupted", "") in failed, failed
    assert not any(name.startswith("cleanup") for name, _ in failed), failed
    assert_cleaned_up(dev, asset_of(a))


def test_an_edge_id_registered_at_another_address_fails(dev):
    # The operator's list says edge-london lives where edge-us-east does: the registry
    # (where warm and purge go) and the edge's own headers disagree with it.
    edges = {"edge-us-east": dev.edges["edge-us-east"], "edge-london": ("london", dev.edges["edge-us-east"][1])}
    rc, out, a, text = run_gate(dev, edges=edges)
    assert rc == 1, out
    failed = failed_checks(a)
    assert ("edge_registered", "edge-london") in failed and ("edge_headers", "edge-london") in failed, failed
    assert ("edge_registered", "edge-us-east") not in failed
    assert_no_secret(dev, text)
    assert_cleaned_up(dev, asset_of(a))


class TokenInUrlProxy:
    """A faithful reverse proxy in front of the API that changes one thing: the player
    bootstrap's URLs carry the playback token as a query (the shape the seed forbids)."""

    def __init__(self, upstream: str):
        up = urlsplit(upstream)
        self.seen_tokens = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _forward(self):
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n) if n else None
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
                conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                res = conn.getresponse()
                data = res.read()
                headers = [(k, v) for k, v in res.getheaders()
                           if k.lower() not in ("content-length", "transfer-encoding", "connection")]
                if self.command == "GET" and self.path.startswith("/api/player/") and res.status == 200:
                    token = next(v.split(";")[0].split("=", 1)[1] for k, v in headers
                                 if k.lower() == "set-cookie" and v.startswith("rend_playback="))
                    proxy.seen_tokens.append(token)
                    doc = json.loads(data)
                    doc["urls"] = {k: f"{u}?token={token}" for k, u in doc["urls"].items()}
                    data = json.dumps(doc).encode()
                self.send_response(res.status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_a_bootstrap_with_a_token_in_its_urls_fails_and_the_token_stays_out_of_the_artifact(dev):
    proxy = TokenInUrlProxy(dev.api)
    try:
        rc, out, a, text = run_gate(dev, api=proxy.url)
    finally:
        proxy.close()
    assert rc == 1, out
    assert proxy.seen_tokens, "the bootstrap never went through the proxy"
    assert ("bootstrap_urls_tokenless", "") in failed_checks(a)
    assert_no_secret(dev, text, extra=proxy.seen_tokens)
    assert all(t not in out for t in proxy.seen_tokens), "the token was printed"
    assert_cleaned_up(dev, asset_of(a))


def test_bad_configuration_is_named_before_anything_runs(dev):
    e = inherited_env()
    e.update({"REND_API_BASE_URL": dev.api, "REND_READINESS_API_KEY": dev.api_key,
              "REND_EDGE_INTERNAL_TOKEN": dev.internal_token, "REND_READINESS_EDGES": "edge-us-east=us-east"})
    p = subprocess.run([str(rend_bin()), "readiness", "--target", "configured"], env=e, cwd=str(dev.out),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "REND_READINESS_EDGES" in p.stderr, p.stderr
    assert dev.api_key not in p.stderr + p.stdout and dev.internal_token not in p.stderr + p.stdout


def key_with(srv, scopes: str) -> str:
    p = subprocess.run([str(rend_bin()), "keys", "create", "--scopes", scopes, "--name", "readiness-page",
                        "--data-dir", str(srv.data_dir)], env=srv.env(), capture_output=True, text=True, timeout=30,
                       cwd=str(REPO_ROOT))
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_operator_page_shows_the_latest_run_in_chromium(dev, extra_edge):
    edge = extra_edge("edge-page")
    edges = {**dev.edges, "edge-page": ("frankfurt", edge.url)}
    edge.stop()
    rc, _, a, _ = run_gate(dev, edges=edges)  # a failing run: failures and a failed edge to show
    assert rc == 1
    url = f"{dev.api}/internal/readiness"
    assert requests.get(url, timeout=10).status_code == 401
    no_operator = key_with(dev, "all")  # every scope but operator
    assert requests.get(url, headers={"Authorization": f"Bearer {no_operator}"}, timeout=10).status_code == 403
    key = key_with(dev, "operator")
    r = requests.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]

    if not Path(CHROMIUM).exists() or not (REPO_ROOT / "node_modules" / "playwright-core").exists():
        _missing_browser("Chromium and playwright-core are needed for the operator page test")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"readiness-page-{dev.backend}.png"
    p = subprocess.run(["node", str(Path(__file__).with_name("readiness_page.mjs")), url], capture_output=True,
                       text=True, timeout=120, cwd=str(REPO_ROOT),
                       env={**os.environ, "OPERATOR_KEY": key, "SCREENSHOT": str(shot)})
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert lines, p.stdout + p.stderr
    page = json.loads(lines[-1])
    assert "error" not in page, page["error"]
    assert page["httpStatus"] == 200
    assert page["status"] == "fail"
    assert page["statusColor"] == "rgb(198, 40, 40)", "the page's style did not apply (CSP?)"
    assert {e["id"]: e["status"] for e in page["edges"]} == {
        "edge-us-east": "pass", "edge-london": "pass", "edge-page": "fail"}
    assert [row["name"] for row in page["chartRows"]] == [t["name"] for t in a["timings"]]
    measured = {t["name"] for t in a["timings"] if t["ms"] is not None}
    assert measured and all((row["barWidth"] > 0) == (row["name"] in measured) for row in page["chartRows"]), (
        page["chartRows"])
    assert page["chartBox"]["w"] > 300 and page["chartBox"]["h"] > 100
    assert any("edge_ready (edge-page)" in f for f in page["failures"]), page["failures"]
    assert page["history"] >= 1
    assert not [c for c in page["console"] if c.startswith(("error", "pageerror"))], page["console"]
    assert "127.0.0.1" not in page["text"] and "http" not in page["text"]
    assert shot.exists() and shot.stat().st_size > 5000


# --- the default target: the local real-services stack (scripts/stack up --two-edge) ----------

def test_local_target_brings_up_the_two_edge_stack_and_passes(tmp_path):
    """`rend readiness` with no flags, as a developer runs it: Postgres, Redis, ClickHouse,
    s3rver and the roles on free ports in a scratch stack dir, verified on edge-us-east and
    edge-london; a second run with --skip-local-stack reuses what runs (and the gate's key)."""
    from conftest import services_available
    if not services_available():
        pytest.skip("the real services are not installed here (run under scripts/with-test-services)")
    # Postgres runs as the postgres OS user, which must be able to enter the stack dir.
    stack = Path(tempfile.mkdtemp(prefix="rend-readiness-stack-"))
    stack.chmod(0o755)
    env = inherited_env()
    env.update({"REND_STACK_DIR": str(stack), "REND_READINESS_LATEST_OUTPUT": str(tmp_path / "latest.json"),
                **{f"REND_STACK_{name}_PORT": str(free_port()) for name in (
                    "PG", "REDIS", "CLICKHOUSE", "S3", "API", "EDGE", "EDGE_US_EAST", "EDGE_LONDON")}})
    try:
        runs = []
        for args in ([], ["--skip-local-stack"]):
            p = subprocess.run([str(rend_bin()), "readiness", *args], env=env, cwd=str(REPO_ROOT),
                               capture_output=True, text=True, timeout=600)
            a = json.loads((tmp_path / "latest.json").read_text())
            assert p.returncode == 0 and a["status"] == "pass", p.stdout[-4000:] + p.stderr[-2000:]
            assert {e["edge_id"] for e in a["edges"]} == {"edge-us-east", "edge-london"}
            assert a["target"] == "local"
            runs.append((p, a))
        key = (stack / "readiness-api-key").read_text().strip()
        assert (stack / "readiness-api-key").stat().st_mode & 0o777 == 0o600
        assert "creating an API key" in runs[0][0].stdout and "creating an API key" not in runs[1][0].stdout
        secrets = [key] + [line.split("=", 1)[1] for line in (stack / "secrets.env").read_text().splitlines()
                           if "=" in line and not line.startswith("#")]
        api = f"http://127.0.0.1:{env['REND_STACK_API_PORT']}"
        for p, a in runs:
            text = json.dumps(a)
            for s in secrets:
                assert s not in text and s not in p.stdout, "a stack secret leaked"
            assert not re.search(r"https?://|127\.0\.0\.1", text)
            r = requests.get(f"{api}/v1/assets/{asset_of(a)}", headers={"Authorization": f"Bearer {key}"}, timeout=10)
            assert r.status_code == 404 or r.json()["status"] == "deleted"
    finally:
        subprocess.run([str(REPO_ROOT / "scripts" / "stack"), "down"], env=env, cwd=str(REPO_ROOT),
                       capture_output=True, timeout=300)
        shutil.rmtree(stack, ignore_errors=True)
