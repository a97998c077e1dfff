"""REND_EDGE_ORIGIN_HEALTH_URL (issue 14, the seed's edge list): when set, the edge's
/readyz asks that URL whether its origin is up, with a bounded timeout."""

from __future__ import annotations

import http.server
import threading
import time

import requests

from conftest import free_port
from edgeproc import Edge, Origin


class HealthServer:
    """A local origin health endpoint whose answer the test sets (or makes hang)."""

    def __init__(self):
        self.status = 200
        self.hang = threading.Event()
        self.release = threading.Event()  # ends a hanging answer at teardown
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.requests += 1
                if outer.hang.is_set():
                    outer.release.wait(10)
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health/ready"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def readyz(edge: Edge) -> requests.Response:
    return requests.get(edge.url + "/readyz", timeout=10)


def wait_readyz(edge: Edge, status: int, timeout: float = 10) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        r = readyz(edge)
        if r.status_code == status or time.monotonic() > deadline:
            return r
        time.sleep(0.05)


def test_edge_readiness_follows_the_origin_health_url(tmp_path):
    health = HealthServer()
    origin = Origin("embedded", tmp_path)
    edge = Edge(tmp_path / "edge", origin.env()).start(REND_EDGE_ORIGIN_HEALTH_URL=health.url)
    try:
        r = wait_readyz(edge, 200)
        assert r.status_code == 200 and r.json()["checks"]["origin"] == "ok", r.text
        seen = health.requests
        assert seen >= 1, "the edge did not ask the origin health URL"

        health.status = 503
        r = wait_readyz(edge, 503)
        assert r.status_code == 503 and r.json()["checks"]["origin"] == "down", r.text

        health.status = 200
        assert wait_readyz(edge, 200).status_code == 200

        # A health URL that does not answer makes the edge unready within a bounded time.
        health.hang.set()
        started = time.monotonic()
        r = readyz(edge)
        assert r.status_code == 503, r.text
        assert time.monotonic() - started < 4.5, "the origin health probe has no bounded timeout"
    finally:
        health.release.set()
        edge.stop()
        health.close()
        origin.close()


def test_without_it_the_edge_checks_its_origin_store(tmp_path):
    origin = Origin("embedded", tmp_path)
    edge = Edge(tmp_path / "edge", origin.env()).start()
    try:
        r = wait_readyz(edge, 200)
        assert r.status_code == 200 and r.json()["checks"]["origin"] == "ok", r.text
    finally:
        edge.stop()
        origin.close()
