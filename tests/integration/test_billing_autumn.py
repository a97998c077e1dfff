"""Billing through Autumn (issue 12). For now: the Autumn test double itself
(autumn_double.py) against the contract in autumn.md, so the tests that use it later
rest on a double that behaves like Autumn, failure modes included."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from autumn_double import AutumnDouble

KEY = "am_sk_test_rend_double_key"
LIVE_KEY = "am_sk_live_rend_double_key"
DOUBLE_PY = Path(__file__).resolve().parent / "autumn_double.py"


@pytest.fixture
def double():
    d = AutumnDouble(keys=[KEY, LIVE_KEY]).start()
    yield d
    d.stop()


def call(d, method, path, body=None, key=KEY, version="2.0.0", headers=None, timeout=5):
    h = {}
    if key is not None:
        h["Authorization"] = f"Bearer {key}"
    if version is not None:
        h["x-api-version"] = version
    h.update(headers or {})
    return requests.request(method, d.url + path, json=body, headers=h, timeout=timeout)


def test_bearer_auth(double):
    r = call(double, "POST", "/v1/check", {"customer_id": "acc_1", "feature_id": "delivery_720p"}, key=None)
    assert r.status_code == 401 and r.json()["code"] == "no_secret_key"
    r = call(double, "POST", "/v1/check", {"customer_id": "acc_1", "feature_id": "delivery_720p"},
             key="am_sk_test_wrong")
    assert r.status_code == 401
    assert r.json() == {"message": "Invalid secret key", "code": "invalid_secret_key", "env": "sandbox"}
    r = call(double, "POST", "/v1/check", {"customer_id": "acc_1", "feature_id": "delivery_720p"},
             key="am_sk_live_wrong")
    assert r.json()["env"] == "live"
    assert call(double, "POST", "/v1/check", {"customer_id": "acc_1", "feature_id": "delivery_720p"}).status_code == 200
    # The log says whether the key was accepted, never the key.
    log = double.log()
    assert [e["auth"] for e in log["requests"]] == ["missing", "invalid", "invalid", "ok"]
    assert "rend_double_key" not in str(log) and "wrong" not in str(log)


def test_check_shapes_follow_the_version_header(double):
    body = {"customer_id": "acc_1", "feature_id": "delivery_1080p"}
    v1 = call(double, "POST", "/v1/check", body, version="1.2").json()
    assert v1["allowed"] is True and v1["code"] == "feature_found" and v1["feature_id"] == "delivery_1080p"
    assert "usage" in v1 and "included_usage" in v1 and "unlimited" in v1
    v2 = call(double, "POST", "/v1/check", body, version="2.0.0").json()
    assert v2["allowed"] is True and v2["customer_id"] == "acc_1" and v2["required_balance"] == 1
    assert v2["balance"]["feature_id"] == "delivery_1080p" and "code" not in v2
    # Without the header the organization's default (a v1 shape here) answers.
    assert "code" in call(double, "POST", "/v1/check", body, version=None).json()
    r = call(double, "POST", "/v1/check", body, version="9.9")
    assert r.status_code == 400 and r.json()["code"] == "invalid_api_version"
    assert call(double, "POST", "/v1/check", {"customer_id": "acc_1"}).status_code == 400
    # Unknown customers are created on the fly.
    assert call(double, "GET", "/v1/customers/acc_1").status_code == 200


def test_refused_features_and_slow_checks(double):
    double.configure(refuse_features=["delivery_4k", "acc_2/storage_2k"])
    chk = lambda c, f: call(double, "POST", "/v1/check", {"customer_id": c, "feature_id": f})  # noqa: E731
    assert chk("acc_1", "delivery_4k").json()["allowed"] is False
    assert chk("acc_1", "storage_2k").json()["allowed"] is True
    assert chk("acc_2", "storage_2k").json()["allowed"] is False
    double.configure(slow_check=True)
    r = chk("acc_1", "delivery_4k")
    assert r.status_code == 202 and r.json()["allowed"] is True and r.json()["balance"] is None


def test_track_idempotency_within_24_hours(double):
    ev = {"customer_id": "acc_1", "feature_id": "delivery_720p", "value": 0.2667, "idempotency_key": "k1",
          "timestamp": int(time.time() * 1000) - 60_000}
    assert call(double, "POST", "/v1/track", ev).status_code == 200
    r = call(double, "POST", "/v1/track", ev)
    assert r.status_code == 409 and r.json()["code"] == "duplicate_idempotency_key"
    # The header form is the same key.
    r = call(double, "POST", "/v1/track", {k: v for k, v in ev.items() if k != "idempotency_key"},
             headers={"Idempotency-Key": "k1"})
    assert r.status_code == 409
    assert [(e["idempotency_key"], e["value"]) for e in double.log()["recorded"]] == [("k1", 0.2667)]
    # 24 h later the key is free again.
    double.configure(clock_offset_ms=24 * 3600 * 1000 + 1000)
    assert call(double, "POST", "/v1/track", dict(ev, timestamp=ev["timestamp"])).status_code == 200
    assert len(double.log()["recorded"]) == 2


def test_a_failed_track_releases_its_key(double):
    ev = {"customer_id": "acc_1", "feature_id": "delivery_720p", "value": 1.5, "idempotency_key": "k2"}
    double.configure(fail={"status": 503, "count": 1, "retry_after": 7})
    r = call(double, "POST", "/v1/track", ev)
    assert r.status_code == 503 and r.headers["Retry-After"] == "7"
    # A bad timestamp is refused and does not take the key either.
    r = call(double, "POST", "/v1/track", dict(ev, timestamp=int(time.time() * 1000) + 3_600_000))
    assert r.status_code == 400 and r.json()["code"] == "invalid_inputs"
    assert call(double, "POST", "/v1/track", ev).status_code == 200
    assert call(double, "POST", "/v1/track", ev).status_code == 409
    assert [e["idempotency_key"] for e in double.log()["recorded"]] == ["k2"]
    assert [e["status"] for e in double.log()["requests"]] == [503, 400, 200, 409]


def test_rate_limit_for_the_next_n_requests_only(double):
    double.configure(fail={"status": 429, "count": 2, "retry_after": 3, "paths": ["/v1/track"]})
    ev = {"customer_id": "acc_1", "feature_id": "delivery_720p", "value": 1}
    assert call(double, "POST", "/v1/check", ev).status_code == 200  # another path is not counted
    for _ in range(2):
        r = call(double, "POST", "/v1/track", ev)
        assert r.status_code == 429 and r.headers["Retry-After"] == "3"
        assert r.json()["code"] == "rate_limit_exceeded"
    assert call(double, "POST", "/v1/track", ev).status_code == 200


def test_dropped_connections_and_lost_answers(double):
    ev = {"customer_id": "acc_1", "feature_id": "delivery_720p", "value": 1, "idempotency_key": "k3"}
    double.configure(drop={"count": 1})
    with pytest.raises(requests.ConnectionError):
        call(double, "POST", "/v1/track", ev)
    assert double.log()["recorded"] == []  # dropped before it was applied
    double.configure(drop_after_apply={"count": 1})
    with pytest.raises(requests.ConnectionError):
        call(double, "POST", "/v1/track", ev)
    # Applied although the client never heard: a retry with the same key is a 409.
    assert len(double.log()["recorded"]) == 1
    assert call(double, "POST", "/v1/track", ev).status_code == 409
    assert [e["status"] for e in double.log()["requests"]] == [0, 0, 409]


def test_delayed_answers(double):
    double.configure(delay_ms=300, delay_paths=["/v1/check"])
    t0 = time.monotonic()
    assert call(double, "POST", "/v1/check", {"customer_id": "a", "feature_id": "f"}).status_code == 200
    assert time.monotonic() - t0 >= 0.3
    with pytest.raises(requests.Timeout):
        call(double, "POST", "/v1/check", {"customer_id": "a", "feature_id": "f"}, timeout=0.1)
    t0 = time.monotonic()
    call(double, "POST", "/v1/usage", {"customer_id": "a", "feature_id": "f", "value": 1})
    assert time.monotonic() - t0 < 0.3


def test_batch_track_is_all_or_nothing_and_not_deduplicated(double):
    item = {"customer_id": "acc_1", "feature_id": "delivery_720p", "value": 2, "idempotency_key": "b1"}
    r = call(double, "POST", "/v1/balances.batch_track", [item, dict(item, customer_id="acc_2", idempotency_key="b2")])
    assert r.status_code == 204 and r.content == b""
    assert len(double.log()["recorded"]) == 2
    # One bad item: nothing recorded.
    r = call(double, "POST", "/v1/balances.batch_track", [item, {"customer_id": "acc_3"}])
    assert r.status_code == 400 and len(double.log()["recorded"]) == 2
    for bad in ([], [item] * 1001, {"events": [item]}):
        assert call(double, "POST", "/v1/balances.batch_track", bad).status_code == 400
    # Autumn's batch route ignores idempotency keys: a resent batch counts twice.
    assert call(double, "POST", "/v1/balances.batch_track", [item]).status_code == 204
    assert [e["idempotency_key"] for e in double.log()["recorded"]] == ["b1", "b2", "b1"]
    double.configure(batch_dedup=True)  # a switch for a future Autumn that honours them
    for _ in range(2):
        assert call(double, "POST", "/v1/balances.batch_track", [dict(item, idempotency_key="b9")]).status_code == 204
    assert len(double.log()["recorded"]) == 4


def test_absolute_usage_and_customers(double):
    assert call(double, "GET", "/v1/customers/acc_9").json()["code"] == "customer_not_found"
    for v in (10, 12.5):
        r = call(double, "POST", "/v1/usage", {"customer_id": "acc_9", "feature_id": "storage_1080p", "value": v})
        assert r.status_code == 200 and r.json() == {"success": True}
    assert call(double, "POST", "/v1/usage", {"customer_id": "acc_9", "feature_id": "storage_1080p",
                                              "value": "12"}).status_code == 400
    got = call(double, "GET", "/v1/customers/acc_9").json()
    assert got["features"]["storage_1080p"]["usage"] == 12.5  # absolute, not added
    r = call(double, "POST", "/v1/balances.update", {"customer_id": "acc_9", "feature_id": "storage_1080p", "usage": 3})
    assert r.status_code == 200
    assert call(double, "GET", "/v1/customers/acc_9").json()["features"]["storage_1080p"]["usage"] == 3
    r = call(double, "POST", "/v1/customers", {"id": "acc_10", "name": "Ten"})
    assert r.status_code == 200 and r.json()["name"] == "Ten"
    assert call(double, "POST", "/v1/customers", {"id": "acc_10", "name": "Other"}).json()["name"] == "Ten"
    double.configure(unknown_features=["storage_8k"])
    r = call(double, "POST", "/v1/usage", {"customer_id": "acc_9", "feature_id": "storage_8k", "value": 1})
    assert r.status_code == 404 and r.json()["code"] == "feature_not_found"


def test_admin_routes_over_http(double):
    assert requests.post(double.url + "/_double/config", json={"refuse_features": ["f"]}, timeout=5).ok
    assert call(double, "POST", "/v1/check", {"customer_id": "a", "feature_id": "f"}).json()["allowed"] is False
    log = requests.get(double.url + "/_double/log", timeout=5).json()
    assert [e["path"] for e in log["requests"]] == ["/v1/check"]
    assert log["requests"][0]["x_api_version"] == "2.0.0"
    assert requests.post(double.url + "/_double/config", json={"reset": True}, timeout=5).ok
    assert requests.get(double.url + "/_double/log", timeout=5).json() == {"requests": [], "recorded": []}
    assert call(double, "POST", "/v1/check", {"customer_id": "a", "feature_id": "f"}).json()["allowed"] is True
    assert requests.post(double.url + "/_double/config", data="[1]", timeout=5).status_code == 400


def test_runs_as_a_process_and_prints_its_port():
    proc = subprocess.Popen([sys.executable, str(DOUBLE_PY), "--key", KEY], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("PORT "), line
        url = f"http://127.0.0.1:{int(line.split()[1])}"
        r = requests.post(url + "/v1/check", json={"customer_id": "a", "feature_id": "f"},
                          headers={"Authorization": f"Bearer {KEY}", "x-api-version": "2.0.0"}, timeout=5)
        assert r.status_code == 200
        proc.stdin.close()  # the parent going away stops it
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- the production key checks of `rend api` ---------------------------------------------

def _production_api_env(**extra) -> dict:
    """Everything a production API needs to get past its other checks; nothing here is contacted."""
    from conftest import free_port, inherited_env

    env = inherited_env()
    env.update({"REND_ENV": "production", "REND_PLAYBACK_SIGNING_SECRET": "s" * 40,
                "REND_EDGE_INTERNAL_TOKEN": "t" * 40, "REND_INTERNAL_TELEMETRY_TOKEN": "k" * 40,
                "REND_API_BIND_ADDR": f"127.0.0.1:{free_port()}",
                "DATABASE_URL": f"postgres://rend:x@127.0.0.1:{free_port()}/rend",
                "REND_REDIS_URL": f"redis://127.0.0.1:{free_port()}",
                "CLICKHOUSE_URL": f"http://127.0.0.1:{free_port()}",
                "S3_ENDPOINT": f"http://127.0.0.1:{free_port()}", "S3_BUCKET": "rend",
                "REND_EXPECTED_EDGES": "edge-1=eu=https://e1.example.com"})
    env.update(extra)
    return env


@pytest.mark.parametrize("extra,named", [
    ({}, "AUTUMN_SECRET_KEY"),
    ({"REND_BILLING_MODE": "local"}, "REND_BILLING_MODE"),
    ({"AUTUMN_SECRET_KEY": "am_sk_test_Pr0dCheckXyz"}, "AUTUMN_SECRET_KEY"),
    ({"AUTUMN_SECRET_KEY": "am_sk_live_Pr0dCheckXyz", "AUTUMN_API_URL": "http://autumn.internal"}, "AUTUMN_API_URL"),
], ids=["no-key", "local-mode", "sandbox-key", "plain-http"])
def test_a_production_api_refuses_billing_without_autumn_and_a_live_key(tmp_path, extra, named):
    from conftest import REPO_ROOT, rend_bin

    data = tmp_path / "data"
    r = subprocess.run([str(rend_bin()), "api", "--data-dir", str(data)], env=_production_api_env(**extra),
                       capture_output=True, text=True, timeout=30, cwd=str(REPO_ROOT))
    assert r.returncode == 2, f"exit {r.returncode}\n{r.stderr[-1500:]}"
    assert named in r.stderr, r.stderr[-1500:]
    assert "Pr0dCheckXyz" not in r.stderr + r.stdout
    assert not data.exists()  # refused before anything was created
