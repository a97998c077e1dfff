"""Entitlements in the request path (issue 12): uploads, playback and the ladder cap
against a real `rend dev` in autumn mode, talking to the in-process Autumn double."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
import requests

from autumn_double import AutumnDouble

SECRET = "am_sk_test_rend_entitlements_secret"


@pytest.fixture(scope="module")
def double():
    d = AutumnDouble(keys=[SECRET]).start()
    yield d
    d.stop()


def billed_env(double, policy: str) -> dict:
    # No cache, so a switch of the double shows on the next request.
    return {"REND_BILLING_MODE": "autumn", "AUTUMN_SECRET_KEY": SECRET, "AUTUMN_API_URL": double.url,
            "REND_BILLING_ENTITLEMENT_FAILURE_POLICY": policy, "REND_BILLING_ENTITLEMENT_CACHE_SECS": "0"}


@pytest.fixture(scope="module")
def srv(double, server_factory):
    return server_factory("entitlements-allow", extra_env=billed_env(double, "allow"))


@pytest.fixture(scope="module")
def deny_srv(double, server_factory):
    return server_factory("entitlements-deny", extra_env=billed_env(double, "deny"))


@pytest.fixture(autouse=True)
def clean_double(double):
    double.configure(reset=True)
    yield


def account_id(s) -> str:
    r = requests.get(s.api + "/v1/account", headers=s.auth(), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["id"]


def asset_count(s) -> int:
    r = requests.get(s.api + "/v1/assets?limit=100", headers=s.auth(), timeout=10)
    assert r.status_code == 200, r.text
    return len(r.json()["data"])


def post_upload(s):
    return requests.post(s.api + "/v1/uploads", json={"visibility": "public"}, headers=s.auth(), timeout=10)


def failures_counter(s, policy: str) -> int:
    r = requests.get(s.api + "/metrics", headers=s.auth(), timeout=10)  # operator scope
    assert r.status_code == 200, r.text
    m = re.search(r'^rend_billing_entitlement_failures_total\{policy="' + policy + r'"\} (\d+)$', r.text, re.M)
    assert m, r.text
    return int(m.group(1))


def checks(double) -> list:
    return [e for e in double.log()["requests"] if e.get("path") == "/v1/check"]


def playable_asset(s, clip: Path) -> str:
    asset_id = s.upload(clip)
    s.wait_status(asset_id, {"playable", "hls_ready"})
    return asset_id


def playback_routes(s, asset_id: str):
    return (requests.get(f"{s.api}/api/player/{asset_id}", timeout=10),
            requests.post(f"{s.api}/v1/assets/{asset_id}/playback", headers=s.auth(), timeout=10))


def test_denied_upload_is_402_and_creates_nothing(srv, double):
    acc = account_id(srv)
    before = asset_count(srv)
    double.configure(refuse_features=[f"{acc}/storage_720p"])
    r = post_upload(srv)
    assert r.status_code == 402, r.text
    assert r.json()["error"]["code"] == "entitlement_denied"
    assert asset_count(srv) == before
    asked = checks(double)
    assert asked and asked[-1]["body"]["customer_id"] == acc and asked[-1]["body"]["feature_id"] == "storage_720p"
    double.configure(refuse_features=[])
    assert post_upload(srv).status_code == 201
    assert asset_count(srv) == before + 1


def test_denied_playback_is_402_on_both_routes(srv, double, clips):
    asset_id = playable_asset(srv, clips["h264_640x360"])
    tier = srv.get_asset(asset_id)["billing_tier"] or "720p"
    acc = account_id(srv)
    double.configure(reset=True)  # forget the upload's checks
    double.configure(refuse_features=[f"{acc}/delivery_{tier}"])
    player, playback = playback_routes(srv, asset_id)
    for r in (player, playback):
        assert r.status_code == 402, r.text
        assert r.json()["error"]["code"] == "entitlement_denied"
        assert "set-cookie" not in {k.lower() for k in r.headers}
    assert {c["body"]["feature_id"] for c in checks(double)} == {f"delivery_{tier}"}
    double.configure(refuse_features=[])
    player, playback = playback_routes(srv, asset_id)
    assert player.status_code == 200 and playback.status_code == 200, (player.text, playback.text)


def test_allow_policy_lets_requests_through_while_autumn_fails_and_counts_them(srv, double):
    before = failures_counter(srv, "allow")
    count = asset_count(srv)
    double.configure(fail={"status": 503, "count": 1000, "retry_after": 1, "paths": ["/v1/check"]})
    assert post_upload(srv).status_code == 201
    assert asset_count(srv) == count + 1
    assert failures_counter(srv, "allow") > before


def test_deny_policy_answers_503_with_retry_after_and_creates_nothing(deny_srv, double):
    count = asset_count(deny_srv)
    double.configure(fail={"status": 503, "count": 1000, "retry_after": 7, "paths": ["/v1/check"]})
    r = post_upload(deny_srv)
    assert r.status_code == 503, r.text
    assert int(r.headers["Retry-After"]) >= 1
    assert asset_count(deny_srv) == count
    assert failures_counter(deny_srv, "deny") >= 1
    double.configure(fail=None)
    deadline = time.monotonic() + 15
    while post_upload(deny_srv).status_code != 201:
        assert time.monotonic() < deadline, "uploads stayed refused after Autumn recovered"
        time.sleep(0.2)


def test_deny_policy_refuses_playback_with_503_while_autumn_fails(deny_srv, double, clips):
    asset_id = playable_asset(deny_srv, clips["h264_640x360"])
    double.configure(fail={"status": 503, "count": 1000, "retry_after": 5, "paths": ["/v1/check"]})
    for r in playback_routes(deny_srv, asset_id):
        assert r.status_code == 503, r.text
        assert int(r.headers["Retry-After"]) >= 1
        assert "set-cookie" not in {k.lower() for k in r.headers}


def test_local_mode_never_calls_autumn_and_allows_everything(double, server_factory, clips):
    s = server_factory("entitlements-local", extra_env={"REND_BILLING_MODE": "local", "AUTUMN_API_URL": double.url})
    double.configure(refuse_features=["storage_720p", "delivery_720p", "delivery_1080p"])
    asset_id = playable_asset(s, clips["h264_640x360"])
    player, playback = playback_routes(s, asset_id)
    assert player.status_code == 200 and playback.status_code == 200
    assert double.log()["requests"] == []


def test_answers_are_cached_per_account_and_feature(double, server_factory, clips):
    s = server_factory("entitlements-cached", extra_env={**billed_env(double, "allow"),
                                                         "REND_BILLING_ENTITLEMENT_CACHE_SECS": "60"})
    asset_id = playable_asset(s, clips["h264_640x360"])
    double.configure(reset=True)
    for _ in range(5):
        player, playback = playback_routes(s, asset_id)
        assert player.status_code == 200 and playback.status_code == 200
    # Ten requests, one (account, feature): one call to Autumn.
    assert len(checks(double)) == 1


def test_a_slow_check_counts_as_allowed(srv, double):
    acc = account_id(srv)
    # Refused, but Autumn answers 202 (its check took over 3 s): that is an allowed.
    double.configure(refuse_features=[f"{acc}/storage_720p"], slow_check=True)
    before = failures_counter(srv, "allow")
    assert post_upload(srv).status_code == 201
    assert failures_counter(srv, "allow") == before


@pytest.fixture(scope="module")
def clip_1440p(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clips") / "h264_2560x1440.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                    "-f", "lavfi", "-i", "testsrc2=s=2560x1440:r=30:d=2", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "40",
                    "-pix_fmt", "yuv420p", "-g", "60", str(out)], check=True, timeout=120)
    return out


def test_ladder_is_capped_at_the_highest_allowed_storage_tier(srv, double, clip_1440p):
    acc = account_id(srv)
    double.configure(refuse_features=[f"{acc}/storage_2k", f"{acc}/storage_4k"])
    asset_id = srv.upload(clip_1440p)
    a = srv.wait_status(asset_id, "hls_ready", timeout=180)
    assert a["billing_tier"] == "1080p", a
    assert max(t["height"] for t in a["tiers"]) == 1080, a["tiers"]
    assert a["status"] == "hls_ready"


def test_the_secret_is_never_in_the_logs(srv, deny_srv, server_factory):
    for s in server_factory.started:
        for p in (s.stdout_path, s.stderr_path):
            assert SECRET not in p.read_text(errors="replace"), p
