"""The billing usage sync running in real `rend dev` processes (issue 12, "Usage sync" and
"Proof"; docs/billing-autumn-v1.md): delivered minutes reach the Autumn double exactly
once per (account, feature, window), a SIGKILL between a track and the cursor commit
loses and doubles nothing, two API processes on one Postgres never send a window twice,
and local mode sends nothing while GET /v1/usage shows the minutes.

Deliveries are telemetry batches POSTed to /internal/telemetry (what edges send), so
every minute is known exactly. The assets are uploads without bytes: their billing tier
is not known yet, which the sync bills as the lowest tier (720p), never as nothing.
Short windows (lag 1 s, windows of 2 s) keep each test to a few seconds.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections import Counter, defaultdict

import pytest
import requests

from autumn_double import AutumnDouble
from conftest import REPO_ROOT, backends, rend_bin, services_available, services_env

KEY = "am_sk_test_rend_billing_sync"
FAST = {
    "REND_BILLING_DELIVERY_SYNC_LAG_SECS": "1",
    "REND_BILLING_DELIVERY_SYNC_MAX_WINDOW_SECS": "2",
}


@pytest.fixture
def double():
    d = AutumnDouble(keys=[KEY]).start()
    yield d
    d.stop()


@pytest.fixture(params=backends())
def backend_env(request) -> dict:
    """Embedded stores, or (under scripts/with-test-services) Postgres, Redis, s3rver, ClickHouse."""
    return services_env() if request.param == "services" else {}


def autumn_env(d: AutumnDouble, mode: str = "autumn") -> dict:
    return {"REND_BILLING_MODE": mode, "AUTUMN_SECRET_KEY": KEY, "AUTUMN_API_URL": d.url, **FAST}


def telemetry_token(srv) -> str:
    for line in (srv.data_dir / "secrets.env").read_text().splitlines():
        if line.startswith("REND_INTERNAL_TELEMETRY_TOKEN="):
            return line.split("=", 1)[1].strip()
    pytest.fail("REND_INTERNAL_TELEMETRY_TOKEN not found in secrets.env")


def deliver(srv, asset: str, seconds: list, status: int = 200, token: str | None = None) -> None:
    """One batch of segment events of `asset`, each carrying its media seconds."""
    now = int(time.time() * 1000)
    events = [{
        "event_id": f"evt_{uuid.uuid4().hex}", "ts_ms": now, "edge_id": "edge-a", "region": "eu",
        "asset_id": asset, "artifact": f"720p/seg_{i:05d}.ts", "kind": "segment", "tier": "720p",
        "session_id": "ses_a", "status": status, "bytes": 1000, "cache": "HIT", "ttfb_ms": 5,
        "duration_ms": 10, "media_seconds": s,
    } for i, s in enumerate(seconds)]
    r = requests.post(srv.api + "/internal/telemetry",
                      data=json.dumps({"batch_id": f"bat_{uuid.uuid4().hex}", "edge_id": "edge-a",
                                       "events": events}),
                      headers={"Authorization": f"Bearer {token or telemetry_token(srv)}",
                               "Content-Type": "application/json"}, timeout=30)
    assert r.status_code in (200, 202), f"telemetry -> {r.status_code} {r.text[:300]}"


def account_of(srv, key: str | None = None) -> str:
    r = requests.get(srv.api + "/v1/account", headers=srv.auth(key), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["id"]


def asset_of(srv, key: str | None = None) -> str:
    r = requests.post(srv.api + "/v1/uploads", json={}, headers=srv.auth(key), timeout=10)
    assert r.status_code == 201, r.text
    return r.json()["asset_id"]


def tracked(d: AutumnDouble) -> dict:
    """(customer, feature) -> minutes the double recorded from tracks."""
    out = defaultdict(float)
    for e in d.log()["recorded"]:
        if e["kind"] == "track":
            out[(e["customer_id"], e["feature_id"])] += float(e["value"])
    return dict(out)


def wait_for(cond, timeout: float, what: str, diag=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}\n{diag()}")


def assert_each_key_recorded_once(d: AutumnDouble) -> None:
    keys = Counter(e["idempotency_key"] for e in d.log()["recorded"] if e["kind"] == "track")
    assert keys and all(n == 1 for n in keys.values()), keys
    assert all(k for k in keys), "every track carries an idempotency key"


def close(got: dict, want: dict) -> bool:
    return got.keys() == want.keys() and all(abs(got[k] - want[k]) < 1e-9 for k in want)


def test_known_deliveries_reach_autumn_once_per_key(server_factory, double, backend_env):
    srv = server_factory(f"billing-sync-known-{uuid.uuid4().hex[:6]}",
                         extra_env={**backend_env, **autumn_env(double)})
    other_key = srv.create_key("upload,read,analytics", name="other customer")
    me, other = account_of(srv), account_of(srv, other_key)
    mine, theirs = asset_of(srv), asset_of(srv, other_key)

    deliver(srv, mine, [4.0, 4.0, 2.0])
    deliver(srv, theirs, [6.0])
    deliver(srv, mine, [100.0], status=304)  # a revalidation delivers nothing
    time.sleep(1.2)  # a later window
    deliver(srv, mine, [3.0])
    want = {(me, "delivery_720p"): 13.0 / 60, (other, "delivery_720p"): 6.0 / 60}

    wait_for(lambda: close(tracked(double), want), 20, f"tracks {want}",
             lambda: f"got {tracked(double)}\n{srv._diag()}")
    time.sleep(2.5)  # further passes send nothing more
    assert close(tracked(double), want), tracked(double)
    assert_each_key_recorded_once(double)
    for e in double.log()["recorded"]:
        assert e["idempotency_key"].startswith("rend-dlv-"), e

    # The ledger behind GET /v1/usage shows the same minutes, to the caller only.
    u = requests.get(srv.api + "/v1/usage", params={"from": "0"}, headers=srv.auth(), timeout=10).json()
    assert u["account_id"] == me and u["mode"] == "autumn"
    assert abs(u["delivered_minutes"]["720p"] - 13.0 / 60) < 1e-9, u
    assert u["synced_through"]["delivery"] is not None
    assert all(w["stream"] in ("delivery", "storage") for w in u["windows"])

    m = requests.get(srv.api + "/metrics", headers=srv.auth(), timeout=10)
    assert m.status_code == 200, m.text
    sent = [ln for ln in m.text.splitlines() if ln.startswith("rend_billing_windows_sent_total ")]
    assert sent and float(sent[0].split()[1]) >= 2, m.text
    assert "rend_billing_retries_total" in m.text and "rend_billing_delivery_lag_seconds" in m.text
    assert KEY not in m.text
    assert requests.get(srv.api + "/metrics", headers=srv.auth(other_key), timeout=10).status_code == 403


def test_sigkill_between_track_and_commit_loses_and_doubles_nothing(server_factory, double, backend_env):
    srv = server_factory(f"billing-sync-kill-{uuid.uuid4().hex[:6]}",
                         extra_env={**backend_env, **autumn_env(double)})
    me = account_of(srv)
    asset = asset_of(srv)
    token = telemetry_token(srv)
    # Tracks are applied after 3 s: the API is killed while one is in flight, so Autumn
    # records it and the cursor never moves past its window.
    double.configure(delay_ms=3000, delay_paths=["/v1/track"])
    deliver(srv, asset, [5.0, 7.0], token=token)
    wait_for(lambda: any(r["path"] == "/v1/track" for r in double.log()["requests"]), 20, "a track in flight",
             srv._diag)
    assert srv.stop(check=False, sig=signal.SIGKILL) == -signal.SIGKILL
    wait_for(lambda: tracked(double), 10, "the double to apply the in-flight track")
    double.configure(delay_ms=0)

    srv.start()  # same data dir: the same cursor; the dead process's lease expires first
    deliver(srv, asset, [1.0], token=token)
    want = {(me, "delivery_720p"): 13.0 / 60}
    wait_for(lambda: close(tracked(double), want), 40, f"tracks {want}",
             lambda: f"got {tracked(double)}\n{double.log()['requests']}\n{srv._diag()}")
    assert_each_key_recorded_once(double)
    # The killed window's key was sent again and answered 409: counted once.
    answers = defaultdict(list)
    for r in double.log()["requests"]:
        if r["path"] == "/v1/track":
            answers[r["body"]["idempotency_key"]].append(r["status"])
    assert any(409 in s for s in answers.values()), answers

    status = subprocess.run([str(rend_bin()), "billing", "status", "--data-dir", str(srv.data_dir)],
                            env=srv.env(), capture_output=True, text=True, timeout=30, cwd=str(REPO_ROOT))
    assert status.returncode == 0, status.stderr
    rows = {ln.split("\t")[0]: ln.split("\t") for ln in status.stdout.splitlines()}
    assert rows["mode"][1] == "autumn"
    assert rows["delivery"][1] != "-", status.stdout  # a cursor
    assert KEY not in status.stdout + status.stderr


def test_local_mode_sends_nothing_and_usage_shows_the_minutes(server_factory, double, backend_env):
    srv = server_factory(f"billing-sync-local-{uuid.uuid4().hex[:6]}",
                         extra_env={**backend_env, **autumn_env(double, mode="local")})
    asset = asset_of(srv)
    deliver(srv, asset, [30.0, 15.0])

    def delivered():
        r = requests.get(srv.api + "/v1/usage", params={"from": "0"}, headers=srv.auth(), timeout=10)
        assert r.status_code == 200, r.text
        return r.json()
    u = wait_for(lambda: (lambda j: j if j["delivered_minutes"] else None)(delivered()), 20, "delivered minutes",
                 srv._diag)
    assert u["mode"] == "local"
    assert abs(u["delivered_minutes"]["720p"] - 0.75) < 1e-9, u
    assert [w["delivered_minutes"] for w in u["windows"] if w["stream"] == "delivery"] == [{"720p": 0.75}], u
    assert double.log()["requests"] == [], "local mode never calls Autumn"

    # Scope and range errors.
    reader = srv.create_key("read", name="no analytics")
    assert requests.get(srv.api + "/v1/usage", headers=srv.auth(reader), timeout=10).status_code == 403
    r = requests.get(srv.api + "/v1/usage", params={"from": "yesterday"}, headers=srv.auth(), timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_range"


@pytest.mark.skipif(not services_available(), reason="needs scripts/with-test-services (Postgres)")
def test_two_api_processes_on_one_postgres_never_send_a_window_twice(server_factory, double):
    env = {**services_env(), **autumn_env(double)}
    a = server_factory("billing-sync-pg-a", extra_env=env)
    b = server_factory("billing-sync-pg-b", extra_env=env)
    me = account_of(a)
    asset = asset_of(a)
    want_s = 0.0
    for i in range(4):  # deliveries through both processes, over several windows
        srv = a if i % 2 == 0 else b
        deliver(srv, asset, [2.0 + i])
        want_s += 2.0 + i
        time.sleep(0.7)
    want = {(me, "delivery_720p"): want_s / 60}
    wait_for(lambda: close(tracked(double), want), 30, f"tracks {want}", lambda: f"got {tracked(double)}")
    time.sleep(2.5)
    assert close(tracked(double), want), tracked(double)
    sent = Counter(r["body"]["idempotency_key"] for r in double.log()["requests"] if r["path"] == "/v1/track")
    assert all(n == 1 for n in sent.values()), f"a window was sent twice: {sent}"
    assert_each_key_recorded_once(double)


def _batch(asset: str, seconds: list, ts_ms: int) -> str:
    events = [{
        "event_id": f"evt_{uuid.uuid4().hex}", "ts_ms": ts_ms, "edge_id": "edge-a", "region": "eu",
        "asset_id": asset, "artifact": f"720p/seg_{i:05d}.ts", "kind": "segment", "tier": "720p",
        "session_id": "ses_late", "status": 200, "bytes": 1000, "cache": "MISS", "ttfb_ms": 5,
        "duration_ms": 10, "media_seconds": s,
    } for i, s in enumerate(seconds)]
    return json.dumps({"batch_id": f"bat_{uuid.uuid4().hex}", "edge_id": "edge-a", "events": events})


def _post(srv, body: str) -> None:
    r = requests.post(srv.api + "/internal/telemetry", data=body,
                      headers={"Authorization": f"Bearer {telemetry_token(srv)}",
                               "Content-Type": "application/json"}, timeout=30)
    assert r.status_code in (200, 202), f"telemetry -> {r.status_code} {r.text[:300]}"


def test_a_spool_replayed_late_is_billed_once_in_a_later_window(server_factory, double, backend_env):
    """An edge's spool reaches the API after the windows of its events' own times were
    synced: the minutes are billed in the window of their (first) ingestion, and a
    second replay of the same batch (the edge never saw the answer) adds nothing."""
    srv = server_factory(f"billing-sync-late-{uuid.uuid4().hex[:6]}",
                         extra_env={**backend_env, **autumn_env(double)})
    me, asset = account_of(srv), asset_of(srv)
    on_time = _batch(asset, [4.0, 4.0], int(time.time() * 1000))
    _post(srv, on_time)
    first = {(me, "delivery_720p"): 8.0 / 60}
    wait_for(lambda: close(tracked(double), first), 20, f"tracks {first}",
             lambda: f"got {tracked(double)}\n{srv._diag()}")
    windows_before = len([e for e in double.log()["recorded"] if e["kind"] == "track"])

    # Events an hour old by the edge's clock, arriving now (a spool replayed late).
    late = _batch(asset, [6.0, 1.5], int(time.time() * 1000) - 3600 * 1000)
    _post(srv, late)
    want = {(me, "delivery_720p"): (8.0 + 7.5) / 60}
    wait_for(lambda: close(tracked(double), want), 20, f"tracks {want}",
             lambda: f"got {tracked(double)}\n{srv._diag()}")
    tracks = [e for e in double.log()["recorded"] if e["kind"] == "track"]
    assert len(tracks) > windows_before, "the late minutes went out in a later window, not by rewriting one"

    # The edge replays both batches again: nothing more is billed.
    _post(srv, late)
    _post(srv, on_time)
    time.sleep(3.5)  # more than a lag plus a window: any pass that would bill them has run
    assert close(tracked(double), want), tracked(double)
    assert_each_key_recorded_once(double)
