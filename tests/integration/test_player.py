"""Player bootstrap with geo edge selection across three local edges, the legacy
same-origin artifact route, the selection log, and playback in Chromium from a page
on a third origin (SPEC §5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import REPO_ROOT, free_port, tail
from test_loop import HLS_TIMEOUT_S, chromium_report, start_chromium_watch

PARIS = {"x-vercel-ip-latitude": "48.8566", "x-vercel-ip-longitude": "2.3522", "x-vercel-ip-country": "FR",
         "x-vercel-ip-country-region": "IDF", "x-vercel-id": "cdg1::abcde-1234"}
NEW_YORK = {"x-vercel-ip-latitude": "40.7128", "x-vercel-ip-longitude": "-74.0060", "x-vercel-ip-country": "US",
            "x-vercel-ip-country-region": "NY", "x-vercel-id": "iad1::fghij-5678"}
ARTIFACTS = REPO_ROOT / "artifacts"


@pytest.fixture(scope="module")
def site_port():
    return free_port()


@pytest.fixture(scope="module")
def three_edges(server_factory, clips, site_port):
    us, london = free_port(), free_port()
    site = f"http://127.0.0.1:{site_port}"
    srv = server_factory("three-edges", args=["--edges", "3"], extra_env={
        "REND_DEV_EDGE_US_EAST_BIND_ADDR": f"127.0.0.1:{us}",
        "REND_DEV_EDGE_LONDON_BIND_ADDR": f"127.0.0.1:{london}",
        "REND_API_CORS_ALLOWED_ORIGINS": site,
        "REND_EDGE_CORS_ALLOWED_ORIGINS": "{api}," + site,
    })
    srv.us_east = f"http://127.0.0.1:{us}"
    srv.london = f"http://127.0.0.1:{london}"
    srv.site = site
    aid = srv.upload(clips["h264_640x360"])
    srv.wait_status(aid, "hls_ready", timeout=HLS_TIMEOUT_S)
    srv.asset_id = aid
    return srv


def bootstrap(srv, headers=None) -> requests.Response:
    r = requests.get(f"{srv.api}/api/player/{srv.asset_id}", headers=headers or {}, timeout=10)
    assert r.status_code == 200, r.text
    return r


@pytest.mark.parametrize("headers,edge_attr,route,reason", [
    (PARIS, "london", "ams-1", "nearest"),
    (NEW_YORK, "us_east", "ash-1", "nearest"),
    ({"x-vercel-ip-country": "FR"}, "london", "ams-1", "country"),
    ({"x-vercel-ip-latitude": "not-a-number", "x-vercel-ip-longitude": "2.35", "x-rend-ip-continent": "EU"},
     "london", "ams-1", "continent"),
    ({}, "us_east", "ash-1", "default"),
])
def test_bootstrap_selects_the_edge_from_geo_headers(three_edges, headers, edge_attr, route, reason):
    r = bootstrap(three_edges, headers)
    body = r.json()
    base = getattr(three_edges, edge_attr)
    assert body["urls"]["master"] == f"{base}/v/{three_edges.asset_id}/master.m3u8", body
    assert body["edge"]["route_id"] == route and body["edge"]["reason"] == reason, body["edge"]
    assert "token" not in body["urls"]["master"]
    cookie = r.headers["Set-Cookie"]
    assert f"Path=/v/{three_edges.asset_id}/" in cookie and "HttpOnly" in cookie, cookie
    assert "Domain=" not in cookie, "no cookie domain is configured"


def test_selection_log_has_the_seed_fields_and_nothing_forbidden(three_edges):
    before = three_edges.stderr_path.read_text(errors="replace").count("rend_player_edge_selected")
    r = bootstrap(three_edges, {**PARIS, "Cookie": "session=secret-cookie-value",
                                "Authorization": "Bearer rend_sk_should_not_be_logged"})
    token = r.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    deadline = time.monotonic() + 5
    while True:
        lines = [l for l in three_edges.stderr_path.read_text(errors="replace").splitlines()
                 if "rend_player_edge_selected" in l]
        if len(lines) > before:
            break
        assert time.monotonic() < deadline, "no rend_player_edge_selected line"
        time.sleep(0.1)
    line = lines[-1]
    event = json.loads(line)
    for field in ("request_id", "edge_region", "country", "country_region", "continent", "has_valid_coordinates",
                  "route_id", "route_region", "reason", "playback_host", "distance_km"):
        assert field in event, f"{field} missing from {line}"
    assert event["route_id"] == "ams-1" and event["country"] == "FR" and event["has_valid_coordinates"] is True
    assert isinstance(event["distance_km"], int)
    for forbidden in ("48.8566", "2.3522", "48.85", "secret-cookie-value", "rend_sk_should_not_be_logged", token,
                      "token=", "/v/"):
        assert forbidden not in line, f"{forbidden!r} leaked into the selection log: {line}"


def test_legacy_same_origin_artifact_route_is_a_marked_fallback(three_edges):
    aid = three_edges.asset_id
    base = f"{three_edges.api}/api/player/{aid}/artifact"
    assert requests.get(f"{base}/master.m3u8", timeout=10).status_code == 401
    token = requests.post(f"{three_edges.api}/v1/assets/{aid}/playback", headers=three_edges.auth(),
                          timeout=10).json()["token"]
    r = requests.get(f"{base}/master.m3u8", params={"token": token}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers.get("x-rend-fallback") == "legacy-artifact-route"
    assert r.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    variant = [l for l in r.text.splitlines() if l and not l.startswith("#")][0]
    assert "token=" in variant
    v = requests.get(f"{base}/{variant}", timeout=10)
    seg = [l for l in v.text.splitlines() if l and not l.startswith("#")][0]
    s = requests.get(f"{base}/{variant.split('/')[0]}/{seg}", timeout=10)
    assert s.status_code == 200 and s.headers["Content-Type"] == "video/mp2t" and len(s.content) > 1000
    assert requests.get(f"{base}/..%2f..%2fsecrets.env", params={"token": token}, timeout=10).status_code == 400


@pytest.fixture(scope="module")
def site(site_port):
    """A third origin serving the embeddable watch page (web/watch.html)."""
    root = Path(tempfile.mkdtemp(prefix="rend-site-"))
    (root / "page.html").write_bytes((REPO_ROOT / "web" / "watch.html").read_bytes())
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(site_port), "--bind", "127.0.0.1"],
                            cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{site_port}/page.html", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "site server did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{site_port}"
    proc.terminate()
    proc.wait(timeout=5)


@pytest.mark.parametrize("city,headers,edge_id", [("paris", PARIS, "edge-london"),
                                                  ("new-york", NEW_YORK, "edge-us-east")])
def test_chromium_plays_cross_origin_from_the_geo_selected_edge(three_edges, site, city, headers, edge_id):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"watch-{city}.png"
    url = f"{site}/page.html?api={three_edges.api}&asset={three_edges.asset_id}"
    report = chromium_report(start_chromium_watch(url, timeout_ms=45000, env={
        "GEO_HEADERS": json.dumps(headers), "MIN_PLAY_SECONDS": "3", "SCREENSHOT": str(shot)}))
    assert report["played"] and report["currentTime"] > 3, f"did not play past 3 s:\n{json.dumps(report, indent=1)}"
    assert not any(s and s.startswith("Playback error") for s in report["statuses"]), report["statuses"]
    assert report["segmentEdgeIds"] and set(report["segmentEdgeIds"]) == {edge_id}, report["segmentEdgeIds"]
    assert shot.exists() and shot.stat().st_size > 1000, "no screenshot saved"


# --- edge registry and warm/purge fanout --------------------------------------------------

def internal(srv) -> dict:
    return {"Authorization": f"Bearer {srv.internal_token}"}


def test_every_dev_edge_registers_and_receives_warm_and_purge(three_edges, clips):
    deadline = time.monotonic() + 15
    while True:
        r = requests.get(f"{three_edges.api}/internal/edges", headers=internal(three_edges), timeout=10)
        assert r.status_code == 200, r.text
        edges = {e["edge_id"]: e for e in r.json()["data"]}
        if {"edge-local", "edge-us-east", "edge-london"} <= set(edges):
            break
        assert time.monotonic() < deadline, f"edges did not all register: {edges}"
        time.sleep(0.3)
    assert edges["edge-london"]["base_url"] == three_edges.london and edges["edge-london"]["region"] == "london"
    assert all(e["active"] for e in edges.values()), edges
    assert requests.get(f"{three_edges.api}/internal/edges", timeout=10).status_code == 401

    # Warm after the job reached every edge: a first viewer in London hits the cache.
    aid = three_edges.upload(clips["hevc_480x270_rot90"])
    three_edges.wait_status(aid, "hls_ready", timeout=HLS_TIMEOUT_S)
    s = requests.Session()
    boot = s.get(f"{three_edges.api}/api/player/{aid}", headers=PARIS, timeout=10).json()
    master = boot["urls"]["master"]
    assert master.startswith(three_edges.london)
    deadline = time.monotonic() + 10
    while s.get(master, timeout=10).headers.get("x-rend-cache") != "HIT":
        assert time.monotonic() < deadline, "the london edge was not warmed"
        time.sleep(0.3)

    # Purge after a delete reaches every edge: none serves it afterwards.
    cached = {}
    for base in (three_edges.edge, three_edges.us_east, three_edges.london):
        u = f"{base}/v/{aid}/poster.jpg"
        assert s.get(u, timeout=10).status_code == 200
        cached[base] = u
    assert requests.delete(f"{three_edges.api}/v1/assets/{aid}", headers=three_edges.auth(), timeout=10).ok
    for base, u in cached.items():
        deadline = time.monotonic() + 10
        while s.get(u, timeout=10).status_code != 404:
            assert time.monotonic() < deadline, f"{base} still serves a deleted asset"
            time.sleep(0.3)


def test_fanout_skips_a_stale_edge_and_refuses_unexpected_ones(server_factory, clips):
    import http.server
    import threading

    calls = {"fresh": [], "stale": []}

    def fake_edge(name):
        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                calls[name].append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        return srv, f"http://127.0.0.1:{srv.server_address[1]}"

    fresh, fresh_url = fake_edge("fresh")
    stale, stale_url = fake_edge("stale")
    srv = server_factory("fanout", extra_env={"REND_EDGE_ACTIVE_HEARTBEAT_WINDOW_SECS": "3",
                                              "REND_EDGE_HEARTBEAT_INTERVAL_SECS": "1"})
    try:
        def beat(edge_id, url):
            return requests.post(f"{srv.api}/internal/edges/heartbeat", headers=internal(srv), timeout=10,
                                 json={"edge_id": edge_id, "region": "test", "base_url": url, "version": "t"})

        assert beat("fake-stale", stale_url).status_code == 200
        assert beat("Bad Id", fresh_url).status_code == 400
        assert requests.post(f"{srv.api}/internal/edges/heartbeat", json={"edge_id": "x", "region": "r",
                             "base_url": fresh_url}, timeout=10).status_code == 401
        aid = srv.upload(clips["hevc_480x270_rot90"])
        srv.wait_status(aid, "hls_ready", timeout=HLS_TIMEOUT_S)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the stale edge ages out; the fresh one keeps beating
            assert beat("fake-fresh", fresh_url).status_code == 200
            time.sleep(0.5)
        calls["fresh"].clear()
        calls["stale"].clear()
        assert requests.delete(f"{srv.api}/v1/assets/{aid}", headers=srv.auth(), timeout=10).ok
        deadline = time.monotonic() + 10
        while "/internal/purge" not in calls["fresh"]:
            assert time.monotonic() < deadline, f"the fresh edge got no purge: {calls}"
            time.sleep(0.2)
        time.sleep(1)
        assert calls["stale"] == [], f"a stale edge was called: {calls}"
    finally:
        fresh.shutdown()
        stale.shutdown()

    expected = server_factory("expected", extra_env={
        "REND_EXPECTED_EDGES": f"edge-local=local={{edge}},edge-x=eu=https://x.example"})
    r = requests.post(f"{expected.api}/internal/edges/heartbeat", headers=internal(expected), timeout=10,
                      json={"edge_id": "edge-rogue", "region": "eu", "base_url": "https://rogue.example"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "unexpected_edge", r.text
    deadline = time.monotonic() + 10
    while True:  # its own edge matches REND_EXPECTED_EDGES and registers
        edges = requests.get(f"{expected.api}/internal/edges", headers=internal(expected), timeout=10).json()["data"]
        if [e["edge_id"] for e in edges] == ["edge-local"]:
            break
        assert time.monotonic() < deadline, edges
        time.sleep(0.3)
