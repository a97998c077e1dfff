"""The watch page the API serves: its script origin never comes from the query, and
it carries a strict Content-Security-Policy; JSON answers get a deny-all one."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from urllib.parse import urlparse

import pytest
import requests

from test_loop import HLS_TIMEOUT_S, chromium_report, start_chromium_watch

EVIL = "https://evil.example"


@pytest.fixture(scope="module")
def watch_srv(server_factory, clips):
    srv = server_factory("api-watch", extra_env={"REND_EDGE_CORS_ALLOWED_ORIGINS": "{api}"})
    srv.asset_id = srv.upload(clips["h264_640x360"])
    srv.wait_status(srv.asset_id, {"playable", "hls_ready"}, timeout=HLS_TIMEOUT_S)
    return srv


def csp_directives(header: str) -> dict:
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def test_watch_page_csp_allows_only_its_own_scripts_and_the_edges(watch_srv):
    r = requests.get(f"{watch_srv.api}/watch/{watch_srv.asset_id}", params={"api": EVIL}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    csp = r.headers.get("Content-Security-Policy")
    assert csp, "the watch page has no Content-Security-Policy"
    d = csp_directives(csp)
    assert d.get("default-src") == ["'none'"], csp
    for name in ("base-uri", "form-action", "object-src"):
        assert d.get(name) == ["'none'"], f"{name}: {csp}"
    assert d.get("frame-ancestors") == ["*"], "the page is embeddable"
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp and "evil.example" not in csp, csp
    # Every inline script and style block of the served page is allowed by its hash,
    # so the browser runs exactly what the API served and nothing injected.
    html = r.text
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        for block in re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.S):
            digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in d.get(directive, []), f"{directive} lacks the hash of an inline {tag}"
    assert d["script-src"][0] == "'self'" and all(s.startswith("'sha256-") for s in d["script-src"][1:]), csp
    for name in ("connect-src", "media-src", "img-src"):
        assert watch_srv.edge in d.get(name, []), f"{name} must allow the edge: {csp}"
    assert "blob:" in d.get("media-src", []), csp


def test_json_answers_deny_everything_and_are_not_sniffed(watch_srv):
    for r in (requests.get(f"{watch_srv.api}/api/player/{watch_srv.asset_id}", timeout=10),
              requests.get(f"{watch_srv.api}/v1/assets", timeout=10),
              requests.get(f"{watch_srv.api}/healthz", timeout=10)):
        assert r.headers.get("Content-Type", "").startswith("application/json"), r.url
        assert r.headers.get("Content-Security-Policy") == "default-src 'none'; frame-ancestors 'none'", r.url
        assert r.headers.get("X-Content-Type-Options") == "nosniff", r.url


def test_api_served_watch_page_ignores_a_foreign_api_origin_in_chromium(watch_srv):
    """?api=https://evil.example on the API's own page: nothing is requested from it, and it plays."""
    url = f"{watch_srv.api}/watch/{watch_srv.asset_id}?api={EVIL}"
    report = chromium_report(start_chromium_watch(url))
    requested = report.get("requests")
    assert requested, f"watch_page.mjs recorded no requests:\n{json.dumps(report, indent=1)}"
    assert not [u for u in requested if urlparse(u).hostname == "evil.example"], requested
    assert report["played"], f"the watch page did not play:\n{json.dumps(report, indent=1)}"
    assert any(u.startswith(f"{watch_srv.api}/static/hls.min.js") for u in requested), requested
    # The policy lets the page do all it needs (hls.js, its worker, the edge, the poster).
    assert not [m for m in report["console"] if "Content Security Policy" in m], report["console"]


@pytest.mark.parametrize("api", ["javascript:alert(1)//", "https://evil.example/some/path", "//evil.example",
                                 "data:text/javascript,alert(1)"])
def test_hosted_copy_refuses_an_api_that_is_not_an_http_origin(watch_srv, tmp_path, api):
    """A copy of the page on another site takes `api=` only as an http(s) origin."""
    import subprocess, sys, time
    from conftest import REPO_ROOT, free_port
    (tmp_path / "page.html").write_bytes((REPO_ROOT / "web" / "watch.html").read_bytes())
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/page.html", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "site server did not start"
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/page.html?" + requests.compat.urlencode(
            {"api": api, "asset": watch_srv.asset_id})
        report = chromium_report(start_chromium_watch(url, timeout_ms=3000))
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    requested = report.get("requests") or []
    assert not [u for u in requested if urlparse(u).hostname == "evil.example" or not u.startswith("http")], requested
    assert not report["played"]
    assert (report["status"] or "").startswith("Could not load"), report
