"""Webhooks end to end (issue 16, docs/webhooks.md): real `rend dev` processes, a real
receiver (http.server on 127.0.0.1) that verifies every signature with the documented
verifier, the outbox surviving SIGKILL, retries with growing delays, two API processes
on one Postgres never sending one event at the same time, and SSRF refusals."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from conftest import backends, free_port, services_available, services_env


# The verifier of docs/webhooks.md, verbatim: every request the receiver got must pass it.
def verify(secret: str, header: str, body: bytes, tolerance_s: int = 300) -> bool:
    parts = [p.split("=", 1) for p in header.split(",")]
    t = next(v for k, v in parts if k == "t")
    expected = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(k == "v1" and hmac.compare_digest(v, expected) for k, v in parts) and abs(time.time() - int(t)) <= tolerance_s


class Receiver:
    """A webhook receiver on 127.0.0.1. `respond(event)` -> (status, headers) decides each answer;
    every request is recorded with its raw body, signature and when it started and ended."""

    def __init__(self, port: int = 0, respond=None, hold_s: float = 0.0):
        self.respond = respond or (lambda event: (204, {}))
        self.hold_s = hold_s
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.in_flight: dict[str, int] = {}
        self.overlaps: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                started = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                event = json.loads(body)
                with receiver.lock:
                    n = receiver.in_flight.get(event["id"], 0)
                    if n:
                        receiver.overlaps.append(event["id"])
                    receiver.in_flight[event["id"]] = n + 1
                try:
                    if receiver.hold_s:
                        time.sleep(receiver.hold_s)  # the receiver's work: widens any overlap window
                    status, headers = receiver.respond(event)
                finally:
                    with receiver.lock:
                        receiver.in_flight[event["id"]] -= 1
                        receiver.requests.append({"event": event, "body": body, "started": started,
                                                  "ended": time.monotonic(),
                                                  "signature": self.headers.get("Rend-Signature", "")})
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self, asset_id: str | None = None) -> list[dict]:
        with self.lock:
            return [r for r in self.requests
                    if asset_id is None or r["event"]["data"]["asset"]["id"] == asset_id]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def wait_for(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def register(srv, url: str, events=None, key=None) -> requests.Response:
    body = {"url": url}
    if events is not None:
        body["events"] = events
    return requests.post(srv.api + "/v1/webhooks", json=body, headers=srv.auth(key), timeout=10)


def deliveries(srv, webhook_id: str) -> list[dict]:
    r = requests.get(f"{srv.api}/v1/webhooks/{webhook_id}/deliveries", headers=srv.auth(), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]


ALLOW = {"REND_ALLOW_PRIVATE_OUTBOUND_URLS": "true"}


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    """2 s of H.264/AAC: the fast path makes it playable at once, the ladder is quick."""
    out = tmp_path_factory.mktemp("webhook-clip") / "clip.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                    "-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=2", "-f", "lavfi", "-i", "sine=f=440:d=2",
                    "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "60",
                    "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def wh(server_factory):
    """A `rend dev` whose webhooks may aim at loopback receivers (default retry schedule)."""
    return server_factory("webhooks", extra_env=ALLOW)


def test_lifecycle_events_arrive_signed_and_in_order_and_rotation_signs_with_both(wh, short_clip):
    receiver = Receiver()
    try:
        r = register(wh, receiver.url)
        assert r.status_code == 201, r.text
        hook = r.json()
        assert hook["id"].startswith("whk_") and hook["url"] == receiver.url
        assert hook["secret"].startswith("whsec_")
        assert hook["events"] == ["asset.created", "asset.uploaded", "asset.playable", "asset.ready",
                                  "asset.failed", "asset.deleted", "upload.expired"]
        listed = requests.get(wh.api + "/v1/webhooks", headers=wh.auth(), timeout=10).json()["data"]
        assert [h["id"] for h in listed] == [hook["id"]]
        assert "secret" not in listed[0]  # shown once

        asset_id = wh.upload(short_clip)
        wanted = ["asset.created", "asset.uploaded", "asset.playable", "asset.ready"]
        wait_for(lambda: len(receiver.events(asset_id)) >= 4, 90, "four lifecycle events")
        got = receiver.events(asset_id)
        assert [g["event"]["type"] for g in got] == wanted
        for g in got:
            assert verify(hook["secret"], g["signature"], g["body"]), g["signature"]
            assert not verify("whsec_wrong", g["signature"], g["body"])
            e = g["event"]
            assert e["id"].startswith("evt_") and e["account_id"] and e["created_at"].endswith("Z")
            assert e["data"]["asset"]["id"] == asset_id
        assert len({g["event"]["id"] for g in got}) == 4
        # The asset as GET /v1/assets/{id} renders it.
        assert set(got[-1]["event"]["data"]["asset"]) == set(wh.get_asset(asset_id))

        ds = wait_for(lambda: [d for d in deliveries(wh, hook["id"]) if d["status"] == "delivered"] or None, 10,
                      "delivered deliveries listed")
        d = ds[0]
        assert d["attempts"] == 1 and d["last_status_code"] == 204 and d["last_error"] is None
        assert isinstance(d["last_latency_ms"], int) and d["next_attempt_at"] is None

        # Rotation: the next event is signed with the new secret and the previous one.
        r = requests.post(f"{wh.api}/v1/webhooks/{hook['id']}/rotate-secret", headers=wh.auth(), timeout=10)
        assert r.status_code == 200, r.text
        new_secret = r.json()["secret"]
        assert new_secret != hook["secret"] and r.json()["previous_secret_expires_at"]
        second = wh.create_upload()["asset_id"]
        wait_for(lambda: receiver.events(second), 10, "asset.created after rotation")
        g = receiver.events(second)[0]
        assert g["signature"].count("v1=") == 2
        assert verify(new_secret, g["signature"], g["body"]) and verify(hook["secret"], g["signature"], g["body"])
    finally:
        receiver.stop()


def test_failed_and_deleted_assets_are_events(wh):
    receiver = Receiver()
    try:
        hook = register(wh, receiver.url, events=["asset.failed", "asset.deleted"]).json()
        failed = wh.upload(b"#!/bin/sh\necho this is not a video\n" * 20)
        wait_for(lambda: receiver.events(failed), 30, "asset.failed")
        g = receiver.events(failed)[0]
        assert g["event"]["type"] == "asset.failed" and verify(hook["secret"], g["signature"], g["body"])
        assert g["event"]["data"]["asset"]["error"]["code"] == "not_a_video", g["event"]
        r = requests.delete(f"{wh.api}/v1/assets/{failed}", headers=wh.auth(), timeout=10)
        assert r.status_code == 200
        wait_for(lambda: len(receiver.events(failed)) >= 2, 10, "asset.deleted")
        assert [g["event"]["type"] for g in receiver.events(failed)] == ["asset.failed", "asset.deleted"]
        # Deleting again changes nothing: no second event. The barrier: a later event
        # (deliveries go oldest first) has arrived, so a wrong extra one would have too.
        requests.delete(f"{wh.api}/v1/assets/{failed}", headers=wh.auth(), timeout=10)
        later = wh.upload(b"not a video either\n" * 20)
        wait_for(lambda: receiver.events(later), 30, "the later asset.failed")
        assert len(receiver.events(failed)) == 2
    finally:
        receiver.stop()


def test_webhooks_are_per_account_and_need_the_scope(wh):
    r = register(wh, "http://127.0.0.1:9/hook")
    assert r.status_code == 201, r.text
    hook = r.json()
    other = wh.create_key("read,webhooks", name="other-account")
    for method, path in [("DELETE", ""), ("GET", "/deliveries"), ("POST", "/rotate-secret"),
                         ("POST", "/deliveries/dlv_aaaaaaaaaaaaaaaaaaaaaaaaaa/retry")]:
        r = requests.request(method, f"{wh.api}/v1/webhooks/{hook['id']}{path}", headers=wh.auth(other), timeout=10)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
    assert requests.get(wh.api + "/v1/webhooks", headers=wh.auth(other), timeout=10).json()["data"] == []
    no_scope = wh.create_key("read,upload", name="no-webhooks")
    assert register(wh, "http://127.0.0.1:9/hook", key=no_scope).status_code == 403
    assert requests.get(wh.api + "/v1/webhooks", headers=wh.auth(no_scope), timeout=10).status_code == 403
    r = register(wh, "http://127.0.0.1:9/hook", events=["asset.exploded"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_events", r.text
    r = requests.delete(f"{wh.api}/v1/webhooks/{hook['id']}", headers=wh.auth(), timeout=10)
    assert r.status_code == 200
    assert requests.delete(f"{wh.api}/v1/webhooks/{hook['id']}", headers=wh.auth(), timeout=10).status_code == 404


def test_manual_retry_sends_again_at_once(wh):
    answers = iter([(500, {})])
    receiver = Receiver(respond=lambda e: next(answers, (200, {})))
    try:
        hook = register(wh, receiver.url, events=["asset.created"]).json()
        wh.create_upload()
        d = wait_for(lambda: [d for d in deliveries(wh, hook["id"]) if d["attempts"] == 1] or None, 10,
                     "a first, failed attempt")[0]
        assert d["status"] == "pending" and d["last_status_code"] == 500 and d["last_error"] == "http_500"
        assert d["next_attempt_at"]  # 5–10 s away on the default schedule
        r = requests.post(f"{wh.api}/v1/webhooks/{hook['id']}/deliveries/{d['id']}/retry", headers=wh.auth(),
                          timeout=10)
        assert r.status_code == 202, r.text
        wait_for(lambda: deliveries(wh, hook["id"])[0]["status"] == "delivered", 3, "delivery after manual retry")
        r = requests.post(f"{wh.api}/v1/webhooks/{hook['id']}/deliveries/dlv_aaaaaaaaaaaaaaaaaaaaaaaaaa/retry",
                          headers=wh.auth(), timeout=10)
        assert r.status_code == 404
    finally:
        receiver.stop()


def test_redirect_to_the_metadata_address_is_refused_at_send_time(wh):
    receiver = Receiver(respond=lambda e: (302, {"Location": "http://169.254.169.254/latest/meta-data/"}))
    try:
        hook = register(wh, receiver.url, events=["asset.created"]).json()
        wh.create_upload()
        d = wait_for(lambda: [d for d in deliveries(wh, hook["id"]) if d["attempts"] >= 1] or None, 10,
                     "an attempt")[0]
        assert d["last_error"] == "outbound_refused", d
        assert d["status"] == "pending"  # refused attempts are retried like any failure
        assert len(receiver.events()) == 1  # the receiver saw the first request only
        metrics = requests.get(wh.api + "/metrics", headers=wh.auth(), timeout=10)
        assert metrics.status_code == 200, metrics.text
        refused = [line for line in metrics.text.splitlines() if line.startswith("rend_webhook_attempts_refused_total")]
        assert refused and float(refused[0].split()[-1]) >= 1, refused
    finally:
        receiver.stop()


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/hook",            # loopback without REND_ALLOW_PRIVATE_OUTBOUND_URLS
    "http://localhost:9/hook",
    "http://10.1.2.3/hook",
    "http://169.254.169.254/latest/meta-data/",
    "file:///etc/passwd",
    "http://user:secret@example.com/hook",
    "ftp://example.com/hook",
])
def test_registration_refuses_urls_aimed_at_our_own_network(rend, url):
    r = register(rend, url)
    assert r.status_code == 400, (url, r.status_code, r.text)
    err = r.json()["error"]
    assert err["code"] == "invalid_webhook_url"
    assert "secret" not in err["message"]  # the URL (credentials and all) is not echoed
    listed = requests.get(rend.api + "/v1/webhooks", headers=rend.auth(), timeout=10).json()["data"]
    assert all(h["url"] != url for h in listed)  # nothing was created


def test_metadata_address_is_refused_even_with_private_urls_allowed(wh):
    r = register(wh, "http://169.254.169.254/latest/meta-data/")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_webhook_url"


def test_failing_receiver_gets_the_event_with_increasing_delays(server_factory):
    srv = server_factory("webhooks-backoff", extra_env={**ALLOW, "REND_WEBHOOK_RETRY_BASE_MS": "600"})
    failures = {"left": 3}

    def respond(event):
        if failures["left"] > 0:
            failures["left"] -= 1
            return 503, {}
        return 200, {}

    receiver = Receiver(respond=respond)
    try:
        hook = register(srv, receiver.url, events=["asset.created"]).json()
        srv.create_upload()
        wait_for(lambda: len(receiver.events()) >= 4, 15, "four attempts")
        got = receiver.events()
        assert len({g["event"]["id"] for g in got}) == 1  # one event, attempted four times
        assert all(verify(hook["secret"], g["signature"], g["body"]) for g in got)
        starts = [g["started"] for g in got]
        delays = [b - a for a, b in zip(starts, starts[1:])]
        # base 0.6 s, doubling, jitter x[0.5, 1], plus up to one 0.25 s poll of the idle
        # dispatcher (and slack for a loaded machine). The lower bounds double, so the
        # third wait is always longer than the first can be on time.
        for n, d in enumerate(delays):
            nominal = 0.6 * 2 ** n
            assert nominal * 0.5 <= d <= nominal + 0.25 + 1.0, (n, delays)
        assert delays[2] > delays[0], delays
        d = wait_for(lambda: deliveries(srv, hook["id"])[0] if deliveries(srv, hook["id"])[0]["status"] == "delivered"
                     else None, 5, "delivered")
        assert d["attempts"] == 4 and d["last_status_code"] == 200
    finally:
        receiver.stop()
        srv.stop()


@pytest.mark.parametrize("backend", backends())
def test_event_written_before_a_sigkill_is_delivered_after_restart(server_factory, backend):
    env = {**ALLOW, "REND_WEBHOOK_RETRY_BASE_MS": "400"}
    if backend == "services":
        env.update(services_env())
    srv = server_factory(f"webhooks-crash-{backend}", extra_env=env)
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"  # nothing listens yet: the receiver is down
    hook = register(srv, url, events=["asset.created"]).json()
    asset_id = srv.create_upload()["asset_id"]
    wait_for(lambda: any(d["attempts"] >= 1 for d in deliveries(srv, hook["id"])), 10, "a failed attempt")
    assert deliveries(srv, hook["id"])[0]["last_error"] == "connection_failed"
    srv.stop(check=False, sig=signal.SIGKILL)

    receiver = Receiver(port=port)
    try:
        srv.start()
        wait_for(lambda: receiver.events(asset_id), 15, "the event after the restart")
        g = receiver.events(asset_id)[0]
        assert g["event"]["type"] == "asset.created"
        assert verify(hook["secret"], g["signature"], g["body"])
        wait_for(lambda: deliveries(srv, hook["id"])[0]["status"] == "delivered", 5, "recorded as delivered")
    finally:
        receiver.stop()
        srv.stop()


@pytest.mark.skipif(not services_available(), reason="needs REND_TEST_POSTGRES_URL (scripts/with-test-services)")
def test_two_api_processes_on_one_postgres_never_send_one_event_concurrently(server_factory):
    env = {**services_env(), **ALLOW, "REND_WEBHOOK_RETRY_BASE_MS": "300"}
    a = server_factory("webhooks-pg-a", extra_env=env)
    b = server_factory("webhooks-pg-b", extra_env=env)
    seen: dict[str, int] = {}

    def respond(event):
        # The first attempt of every event fails, so each is claimed at least twice.
        n = seen[event["id"]] = seen.get(event["id"], 0) + 1
        return (500, {}) if n == 1 else (204, {})

    receiver = Receiver(respond=respond, hold_s=0.15)
    try:
        hook = register(a, receiver.url, events=["asset.created"]).json()
        n_events = 16
        for _ in range(n_events):
            a.create_upload()
        wait_for(lambda: len({g["event"]["id"] for g in receiver.events() if seen.get(g["event"]["id"], 0) >= 2})
                 >= n_events, 60, "every event delivered")
        assert receiver.overlaps == [], f"events in flight twice at once: {sorted(set(receiver.overlaps))[:5]}"
        got = receiver.events()
        assert all(verify(hook["secret"], g["signature"], g["body"]) for g in got)
        # Both processes' dispatchers took part.
        for srv in (a, b):
            attempts = srv.stdout_path.read_text().count('"event":"webhook_delivery_attempt"') + \
                srv.stderr_path.read_text().count('"event":"webhook_delivery_attempt"')
            assert attempts > 0, f"{srv.data_dir}: no delivery attempts logged"
    finally:
        receiver.stop()
        a.stop()
        b.stop()
