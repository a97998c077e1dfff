"""Telemetry ingest (POST /internal/telemetry) and the analytics API (GET /v1/analytics/...),
SPEC §7, against a real `rend dev`: on SQLite (embedded) and on ClickHouse (services).

Events are generated here, not by playing video, so every aggregate is known exactly.
Each test uses its own asset (or its own edge ids and region), so tests sharing the
session server never see each other's events.
"""

from __future__ import annotations

import json
import os
import struct
import threading
import time
import uuid

import pytest
import requests

import rawhttp
from conftest import RendServer

T0 = 1_800_000_000_000  # 2027-01-15T08:00:00Z: far from "now", so default-range queries never see these
HOUR = 3_600_000


# --- helpers ------------------------------------------------------------------------------

def telemetry_token(srv: RendServer) -> str:
    """rend dev generates the token into its data dir (local mode)."""
    for line in (srv.data_dir / "secrets.env").read_text().splitlines():
        if line.startswith("REND_INTERNAL_TELEMETRY_TOKEN="):
            return line.split("=", 1)[1].strip()
    pytest.fail("REND_INTERNAL_TELEMETRY_TOKEN not found in secrets.env")


def post_batch(srv: RendServer, body, token: str | None = None, headers: dict | None = None) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    h = {"Content-Type": "application/json"}
    if token is not False:
        h["Authorization"] = f"Bearer {token or telemetry_token(srv)}"
    h.update(headers or {})
    return requests.post(srv.api + "/internal/telemetry", data=data, headers=h, timeout=30)


BINARY = "application/vnd.rend.telemetry.v1"


def _leb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _s(v: str) -> bytes:
    raw = v.encode()
    return _leb(len(raw)) + raw


def binary_row(e: dict) -> bytes:
    """One event as the binary v1 format carries it (src/telemetry/wire.h)."""
    return (_s(e["event_id"]) + struct.pack("<q", e["ts_ms"]) + _s(e["edge_id"]) + _s(e["region"]) +
            _s(e["asset_id"]) + _s(e["artifact"]) + _s(e["kind"]) + _s(e["tier"]) + _s(e["session_id"]) +
            struct.pack("<iq", e["status"], e["bytes"]) + _s(e["cache"]) +
            struct.pack("<qqd", e["ttfb_ms"], e["duration_ms"], e["media_seconds"]))


def binary_batch(b: dict, count: int | None = None) -> bytes:
    """A batch dict as the edges send it: "RNDT" 1 | batch_id | edge_id | u32 count | rows."""
    n = len(b["events"]) if count is None else count
    return (b"RNDT\x01" + _s(b["batch_id"]) + _s(b["edge_id"]) + struct.pack("<I", n) +
            b"".join(binary_row(e) for e in b["events"]))


def post_binary(srv: RendServer, body: bytes, content_type: str = BINARY) -> requests.Response:
    return post_batch(srv, body, headers={"Content-Type": content_type})


def new_asset(srv: RendServer) -> str:
    return srv.create_upload()["asset_id"]


def event(asset: str, i: int, *, kind="segment", tier="720p", session="ses_a", status=200, nbytes=1000,
          cache="HIT", ttfb=10, media_seconds=4.0, edge="edge-a", region="eu", ts=None) -> dict:
    return {
        "event_id": f"evt_{uuid.uuid4().hex}",
        "ts_ms": T0 + i if ts is None else ts,
        "edge_id": edge,
        "region": region,
        "asset_id": asset,
        "artifact": f"{tier}/seg_{i:05d}.ts" if kind == "segment" else ("master.m3u8" if kind == "master" else ""),
        "kind": kind,
        "tier": tier if kind in ("segment", "playlist") else "",
        "session_id": session,
        "status": status,
        "bytes": nbytes,
        "cache": cache,
        "ttfb_ms": ttfb,
        "duration_ms": 2 * ttfb,
        "media_seconds": media_seconds if kind == "segment" else 0.0,
    }


def batch(events: list, batch_id: str | None = None, edge="edge-a") -> dict:
    return {"batch_id": batch_id or f"bat_{uuid.uuid4().hex}", "edge_id": edge, "events": events}


def expected(events: list) -> dict:
    """What the analytics API must report for these events (each event_id once)."""
    unique = {e["event_id"]: e for e in events}.values()
    minutes = {}
    # Only served media counts: segment events answered 200/206 that sent bytes (a
    # refusal, a HEAD or an empty answer from an older edge adds no view or minute).
    served = [e for e in unique if e["kind"] == "segment" and e["status"] in (200, 206) and e["bytes"] > 0]
    for e in served:
        minutes[e["tier"]] = minutes.get(e["tier"], 0.0) + e["media_seconds"] / 60
    hits = sum(1 for e in unique if e["cache"] == "HIT")
    misses = sum(1 for e in unique if e["cache"] == "MISS")
    return {
        "requests": len(unique),
        "bytes": sum(e["bytes"] for e in unique),
        "views": len({e["session_id"] for e in served if e["session_id"]}),
        "delivered_minutes": minutes,
        "cache_hits": hits,
        "cache_misses": misses,
        "cache_hit_ratio": hits / (hits + misses) if hits + misses else None,
    }


def asset_usage(srv: RendServer, asset: str, key: str | None = None, **params) -> requests.Response:
    params.setdefault("from", T0)
    params.setdefault("to", T0 + HOUR)
    return requests.get(f"{srv.api}/v1/analytics/assets/{asset}", params=params, headers=srv.auth(key), timeout=30)


def assert_usage(got: dict, want: dict) -> None:
    for k in ("requests", "bytes", "views", "cache_hits", "cache_misses"):
        assert got[k] == want[k], f"{k}: got {got[k]}, want {want[k]} in {got}"
    if want["cache_hit_ratio"] is None:
        assert got["cache_hit_ratio"] is None, got
    else:
        assert got["cache_hit_ratio"] == pytest.approx(want["cache_hit_ratio"]), got
    assert set(got["delivered_minutes"]) == set(want["delivered_minutes"]), got
    for tier, m in want["delivered_minutes"].items():
        assert got["delivered_minutes"][tier] == pytest.approx(m, abs=1e-6), (tier, got)


def mixed_events(asset: str) -> list:
    """50 events: three sessions, two tiers, ranges, errors, misses, playlists, a poster."""
    ev = []
    for i in range(30):
        ev.append(event(asset, i, tier="720p", session=f"ses_{i % 3}", nbytes=100_000 + i,
                        cache="MISS" if i % 5 == 0 else "HIT", ttfb=i, media_seconds=4.0,
                        status=206 if i % 7 == 0 else 200))
    for i in range(30, 40):
        ev.append(event(asset, i, tier="360p", session="ses_1", nbytes=40_000, ttfb=i, media_seconds=2.5))
    ev.append(event(asset, 40, tier="360p", session="ses_9", status=404, nbytes=120, cache="MISS", ttfb=1))
    for i in range(41, 46):
        ev.append(event(asset, i, kind="playlist", tier="720p", session="ses_only_playlists", nbytes=300, ttfb=2))
    for i in range(46, 49):
        ev.append(event(asset, i, kind="master", session=f"ses_{i % 3}", nbytes=500, ttfb=3))
    ev.append(event(asset, 49, kind="poster", session="", nbytes=20_000, ttfb=4))
    return ev


# --- ingest -------------------------------------------------------------------------------

def test_batch_is_counted_exactly_once(rend):
    asset = new_asset(rend)
    events = mixed_events(asset)
    b = batch(events)
    r = post_batch(rend, b)
    assert r.status_code == 200, r.text
    assert r.json() == {"batch_id": b["batch_id"], "accepted": 50}

    r = asset_usage(rend, asset)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["asset_id"] == asset
    assert got["from"] == "2027-01-15T08:00:00.000Z" and got["to"] == "2027-01-15T09:00:00.000Z", got
    want = expected(events)
    # ses_0..2; not ses_9 (its only segment was a 404: a refusal is no view), nor the
    # playlist-only session, nor the poster's empty one.
    assert want["views"] == 3 and want["requests"] == 50
    assert_usage(got, want)
    assert got["delivered_minutes"]["720p"] == pytest.approx(30 * 4.0 / 60)
    assert got["delivered_minutes"]["360p"] == pytest.approx(10 * 2.5 / 60)
    p50, p95 = got["ttfb_ms"]["p50"], got["ttfb_ms"]["p95"]
    assert 0 <= p50 <= p95 <= 40, got["ttfb_ms"]

    # The edge's retry after a lost answer: acknowledged again, counted once.
    r = post_batch(rend, b)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 50
    assert_usage(asset_usage(rend, asset).json(), want)

    # A batch overlapping half of the first one, plus new events and a duplicate
    # inside itself.
    extra = [event(asset, 100 + i, session="ses_new", nbytes=7) for i in range(25)]
    overlap = events[25:] + extra + [extra[0]]
    r = post_batch(rend, batch(overlap))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == len(overlap)
    want = expected(events + extra)
    assert want["requests"] == 75
    assert_usage(asset_usage(rend, asset).json(), want)


def test_binary_batch_is_counted_exactly_once(rend):
    """What edges send: the binary format, counted like JSON, deduplicated across both."""
    asset = new_asset(rend)
    events = mixed_events(asset)
    b = batch(events)
    r = post_binary(rend, binary_batch(b))
    assert r.status_code == 200, r.text
    assert r.json() == {"batch_id": b["batch_id"], "accepted": 50}
    want = expected(events)
    got = asset_usage(rend, asset).json()
    assert_usage(got, want)
    assert got["delivered_minutes"]["720p"] == pytest.approx(30 * 4.0 / 60)

    # The edge's retry, and the same events from an older edge as JSON: counted once.
    assert post_binary(rend, binary_batch(b)).json()["accepted"] == 50
    assert post_batch(rend, b).status_code == 200
    # Media types are case-insensitive and may carry parameters.
    extra = [event(asset, 100 + i, session="ses_new", nbytes=7) for i in range(5)]
    r = post_binary(rend, binary_batch(batch(extra)), content_type=BINARY.upper() + "; charset=binary")
    assert r.status_code == 200, r.text
    assert_usage(asset_usage(rend, asset).json(), expected(events + extra))


def test_malformed_binary_batches_are_refused_and_store_nothing(rend):
    asset = new_asset(rend)
    good = [event(asset, i) for i in range(3)]
    body = binary_batch(batch(good))

    def with_event(**changes):
        bad = dict(event(asset, 3))
        bad.update(changes)
        return binary_batch(batch(good + [bad]))

    cases = [
        (body[:-1], BINARY, "body is truncated or malformed at events[2].media_seconds"),
        (body + b"xx", BINARY, "body has 2 bytes after the last of its 3 events"),
        (binary_batch(batch(good), count=4), BINARY, "body is truncated or malformed at events[3].event_id"),
        (binary_batch(batch(good), count=0), BINARY, "events must not be empty"),
        (binary_batch(batch(good), count=2**32 - 1), BINARY, "events has 4294967295 entries"),
        (b"RNDT\x02" + body[5:], BINARY, "body is not a telemetry batch"),
        (json.dumps(batch(good)).encode(), BINARY, "body is not a telemetry batch"),
        (body, "application/json", "a binary batch needs Content-Type " + BINARY),
        (with_event(status=600), BINARY, "events[3].status must be an HTTP status (100..599)"),
        (with_event(kind="video"), BINARY, "events[3].kind must be one of master, playlist, segment, poster, other"),
        (with_event(cache="hit"), BINARY, "events[3].cache must be HIT or MISS"),
        (with_event(event_id=""), BINARY, "events[3].event_id must not be empty"),
        (with_event(media_seconds=float("nan")), BINARY, "events[3].media_seconds must be between 0 and 86400"),
        (with_event(artifact="master.m3u8?token=abc"), BINARY,
         "events[3].artifact must be at most 512 characters of [A-Za-z0-9._~/-]"),
    ]
    for data, ctype, message in cases:
        r = post_binary(rend, data, content_type=ctype)
        assert r.status_code == 400, (message, r.status_code, r.text)
        err = r.json()["error"]
        assert err["code"] == "invalid_batch", r.text
        assert err["message"].startswith(message), (message, err)
    got = asset_usage(rend, asset).json()
    assert got["requests"] == 0, f"a refused batch left events behind: {got}"


def test_concurrent_batches_all_land(rend):
    """Several edges at once: group commit merges their batches; every event counts once."""
    asset = new_asset(rend)
    token = telemetry_token(rend)
    threads, per_thread, size = 6, 5, 200
    bodies = [[batch([event(asset, t * 10_000 + j * size + k, session=f"ses_{t}", nbytes=3) for k in range(size)],
                     edge=f"edge-{t}") for j in range(per_thread)] for t in range(threads)]
    errors = []

    def send(mine):
        with requests.Session() as s:
            for b in mine:
                for _attempt in range(50):
                    r = s.post(rend.api + "/internal/telemetry", data=json.dumps(b),
                               headers={"Authorization": f"Bearer {token}"}, timeout=30)
                    if r.status_code != 503:  # busy: retry like an edge would
                        break
                    time.sleep(0.05)
                if r.status_code != 200 or r.json()["accepted"] != size:
                    errors.append(f"{r.status_code} {r.text[:200]}")

    workers = [threading.Thread(target=send, args=(bodies[t],)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
    got = asset_usage(rend, asset, to=T0 + 10 * HOUR).json()
    assert got["requests"] == threads * per_thread * size, got
    assert got["bytes"] == threads * per_thread * size * 3, got
    assert got["views"] == threads, got


def test_clickhouse_replay_after_merge_is_counted_once(rend):
    """ReplacingMergeTree only collapses duplicates when parts merge; queries must be exact
    before and after. Force the merge, then replay."""
    if rend.backend != "services":
        pytest.skip("ClickHouse only (services backend)")
    asset = new_asset(rend)
    events = [event(asset, i, session=f"ses_{i % 4}") for i in range(40)]
    b = batch(events)
    assert post_batch(rend, b).status_code == 200
    assert post_batch(rend, b).status_code == 200  # a second part with the same rows
    db = rend.extra_env["CLICKHOUSE_DATABASE"]
    r = requests.post(os.environ["REND_TEST_CLICKHOUSE_URL"],
                      data=f"OPTIMIZE TABLE {db}.playback_events FINAL", timeout=60)
    assert r.status_code == 200, r.text
    assert post_batch(rend, b).status_code == 200  # the replay arrives after the merge
    assert post_batch(rend, batch(events[:20])).status_code == 200
    assert_usage(asset_usage(rend, asset).json(), expected(events))


# --- refusals -----------------------------------------------------------------------------

def test_malformed_batches_are_refused_and_store_nothing(rend):
    asset = new_asset(rend)
    good = [event(asset, i) for i in range(3)]

    def with_event(**changes):
        bad = dict(event(asset, 3))
        for k, v in changes.items():
            if v is KeyError:
                del bad[k]
            else:
                bad[k] = v
        return batch(good + [bad])

    cases = [
        (b"{not json", "body is not valid JSON"),
        (b"[]", "body must be a JSON object"),
        ({"edge_id": "edge-a", "events": good}, "batch_id is required"),
        ({"batch_id": "bat_1", "edge_id": "edge-a", "events": []}, "events must not be empty"),
        ({"batch_id": "bat_1", "edge_id": "edge-a", "events": {}}, "events must be an array"),
        (with_event(status="200"), "events[3].status must be an integer"),
        (with_event(bytes=-1), "events[3].bytes must be between 0 and 2^53-1"),
        (with_event(ts_ms=KeyError), "events[3].ts_ms is required"),
        (with_event(kind="video"), "events[3].kind must be one of master, playlist, segment, poster, other"),
        (with_event(cache="hit"), "events[3].cache must be HIT or MISS"),
        (with_event(event_id=""), "events[3].event_id must not be empty"),
        (with_event(media_seconds="4"), "events[3].media_seconds must be a number"),
        (with_event(artifact="master.m3u8?token=abc"),
         "events[3].artifact must be at most 512 characters of [A-Za-z0-9._~/-]"),
    ]
    for body, message in cases:
        r = post_batch(rend, body)
        assert r.status_code == 400, (body, r.status_code, r.text)
        err = r.json()["error"]
        assert err["code"] == "invalid_batch", r.text
        assert err["message"].startswith(message), (message, err)

    got = asset_usage(rend, asset).json()
    assert got["requests"] == 0, f"a refused batch left events behind: {got}"
    assert got["bytes"] == 0 and got["views"] == 0 and got["delivered_minutes"] == {}, got
    assert got["cache_hit_ratio"] is None and got["ttfb_ms"] == {"p50": None, "p95": None}, got


def test_oversized_batches_get_413(rend):
    asset = new_asset(rend)
    auth = {"Authorization": f"Bearer {telemetry_token(rend)}", "Content-Type": "application/json"}
    limit = 8 * 1024 * 1024  # REND_TELEMETRY_MAX_BATCH_BYTES default

    # Announced too large: refused before the body is read.
    r = rawhttp.request(rend.api, "POST", "/internal/telemetry", headers=auth,
                        body=iter([b"x" * 65536] * (limit // 65536 + 2)), content_length=limit + 2 * 65536)
    assert r.status == 413, (r.status, r.body[:300])
    assert r.json()["error"]["code"] == "body_too_large"

    # A valid batch that only turns out too large while streaming (chunked).
    events = [event(asset, i) for i in range(limit // 300)]
    body = json.dumps(batch(events)).encode()
    assert len(body) > limit
    chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))
    r = rawhttp.request(rend.api, "POST", "/internal/telemetry", headers=auth, body=chunks, chunked=True)
    assert r.status == 413, (r.status, r.body[:300])
    assert asset_usage(rend, asset).json()["requests"] == 0


def test_ingest_needs_the_telemetry_token(rend):
    asset = new_asset(rend)
    b = batch([event(asset, 0)])
    for token, label in [(False, "no header"), ("wrong-" + "x" * 40, "wrong token"),
                         (rend.api_key, "an API key"), (rend.internal_token, "the edge internal token")]:
        r = post_batch(rend, b, token=token)
        assert r.status_code == 401, (label, r.status_code, r.text)
        assert r.json()["error"]["code"] == "unauthorized", r.text
    r = post_batch(rend, b, headers={"Authorization": f"Basic {telemetry_token(rend)}"})
    assert r.status_code == 401, r.text
    assert asset_usage(rend, asset).json()["requests"] == 0


# --- analytics API ------------------------------------------------------------------------

def test_analytics_routes_need_the_analytics_scope(rend):
    asset = new_asset(rend)
    narrow = rend.create_key("read,upload,delete", name="no-analytics")
    # Analytics-only works for the edge view; the asset belongs to the session key.
    analytics_only = rend.create_key("analytics", name="analytics-only")
    for url in (f"{rend.api}/v1/analytics/assets/{asset}", f"{rend.api}/v1/analytics/edges"):
        r = requests.get(url, timeout=10)
        assert r.status_code == 401, (url, r.text)
        r = requests.get(url, headers={"Authorization": "Bearer rend_sk_wrong"}, timeout=10)
        assert r.status_code == 401, (url, r.text)
        r = requests.get(url, headers=rend.auth(narrow), timeout=10)
        assert r.status_code == 403, (url, r.text)
        assert r.json()["error"]["code"] == "insufficient_scope"
        r = requests.get(url, headers=rend.auth(), timeout=10)
        assert r.status_code == 200, (url, r.text)
    r = requests.get(f"{rend.api}/v1/analytics/assets/{asset}", headers=rend.auth(analytics_only), timeout=10)
    assert r.status_code == 404, "analytics-only works on its own assets only"


def test_edge_view_is_for_operators_only(rend):
    """/v1/analytics/edges sums every tenant's traffic: an analytics key is not enough."""
    analytics_only = rend.create_key("analytics", name="analytics-only")
    everything_else = rend.create_key("all", name="all-customer-scopes")
    for key in (analytics_only, everything_else):
        r = requests.get(f"{rend.api}/v1/analytics/edges", headers=rend.auth(key), timeout=10)
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "insufficient_scope"
        assert "operator" in r.json()["error"]["message"]
    operator = rend.create_key("operator", name="operator")
    r = requests.get(f"{rend.api}/v1/analytics/edges", headers=rend.auth(operator), timeout=10)
    assert r.status_code == 200, r.text
    assert "edges" in r.json()
    r = requests.get(f"{rend.api}/v1/analytics/edges", headers=rend.auth(), timeout=10)
    assert r.status_code == 200, "the `rend dev` key has every scope, operator included"


def test_asset_ids_unknown_and_foreign_assets(rend):
    for bad in ("nope", "ast_short", "ast_" + "A" * 26, "key_" + "a" * 26):
        r = asset_usage(rend, bad)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["code"] == "invalid_asset_id"
    r = asset_usage(rend, "ast_" + "a" * 26)
    assert r.status_code == 404, r.text
    # Another customer's asset looks missing, even with events for it.
    asset = new_asset(rend)
    assert post_batch(rend, batch([event(asset, 0)])).status_code == 200
    other = rend.create_key("analytics", name="other-customer")
    r = asset_usage(rend, asset, key=other)
    assert r.status_code == 404, r.text
    assert asset_usage(rend, asset).json()["requests"] == 1


def test_time_ranges(rend):
    asset = new_asset(rend)
    now = int(time.time() * 1000)
    events = [event(asset, 0, ts=now - HOUR), event(asset, 1, ts=now - 2 * HOUR),
              event(asset, 2, ts=now - 30 * HOUR)]
    assert post_batch(rend, batch(events)).status_code == 200

    r = requests.get(f"{rend.api}/v1/analytics/assets/{asset}", headers=rend.auth(), timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["requests"] == 2, "default range is the last 24 h"

    # Half-open [from, to), in ms or RFC 3339 (with an offset, '+' sent encoded and raw).
    assert asset_usage(rend, asset, **{"from": now - 2 * HOUR, "to": now - HOUR}).json()["requests"] == 1
    assert asset_usage(rend, asset, **{"from": now - 2 * HOUR, "to": now - HOUR + 1}).json()["requests"] == 2
    r = asset_usage(rend, asset, **{"from": "2027-01-15T08:00:00Z", "to": "2027-01-15T10:00:00+01:00"})
    assert r.status_code == 200 and r.json()["requests"] == 0, r.text
    assert r.json()["to"] == "2027-01-15T09:00:00.000Z", r.text
    r = requests.get(f"{rend.api}/v1/analytics/assets/{asset}?from=2027-01-15T09:00:00+01:00&to={T0 + 1}",
                     headers=rend.auth(), timeout=10)
    assert r.status_code == 200 and r.json()["from"] == "2027-01-15T08:00:00.000Z", r.text

    for params in ({"from": "yesterday"}, {"to": "2027-13-01T00:00:00Z"}, {"from": 10, "to": 10},
                   {"from": 11, "to": 10}, {"from": "-5"}):
        r = requests.get(f"{rend.api}/v1/analytics/assets/{asset}", params=params, headers=rend.auth(), timeout=10)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["error"]["code"] == "invalid_range", r.text
        r = requests.get(f"{rend.api}/v1/analytics/edges", params=params, headers=rend.auth(), timeout=10)
        assert r.status_code == 400, (params, r.text)


def test_edge_summaries_and_region_rollup(rend):
    asset = new_asset(rend)
    tag = uuid.uuid4().hex[:8]
    region, other_region = f"r-{tag}-eu", f"r-{tag}-us"
    e1, e2, e3 = f"e1-{tag}", f"e2-{tag}", f"e3-{tag}"
    base = T0 + 5 * HOUR  # apart from the other tests' events
    ev1 = [event(asset, i, edge=e1, region=region, ts=base + i, session=f"s{i % 2}", nbytes=10,
                 cache="HIT" if i < 6 else "MISS", tier="720p") for i in range(8)]
    ev2 = [event(asset, i, edge=e2, region=region, ts=base + i, session="s0", nbytes=20, tier="1080p")
           for i in range(4)]
    ev3 = [event(asset, i, edge=e3, region=other_region, ts=base + i, kind="master", nbytes=5) for i in range(2)]
    for evs, edge in ((ev1, e1), (ev2, e2), (ev3, e3)):
        r = post_batch(rend, batch(evs, edge=edge))
        assert r.status_code == 200, r.text

    r = requests.get(f"{rend.api}/v1/analytics/edges", params={"from": base, "to": base + HOUR},
                     headers=rend.auth(), timeout=30)
    assert r.status_code == 200, r.text
    j = r.json()
    edges = {e["edge_id"]: e for e in j["edges"]}
    for edge, evs, reg in ((e1, ev1, region), (e2, ev2, region), (e3, ev3, other_region)):
        assert edge in edges, j
        assert edges[edge]["region"] == reg
        assert_usage(edges[edge], expected(evs))
        assert edges[edge]["ttfb_ms"]["p50"] is not None
    assert edges[e1]["cache_hit_ratio"] == pytest.approx(0.75)
    assert edges[e3]["views"] == 0 and edges[e3]["delivered_minutes"] == {}

    regions = {g["region"]: g for g in j["regions"]}
    g = regions[region]
    assert g["edges"] == 2 and g["requests"] == 12 and g["bytes"] == 8 * 10 + 4 * 20, g
    assert g["delivered_minutes"] == pytest.approx({"720p": 8 * 4 / 60, "1080p": 4 * 4 / 60}), g
    assert g["cache_hit_ratio"] == pytest.approx(10 / 12), g
    assert regions[other_region]["edges"] == 1 and regions[other_region]["requests"] == 2

    # A range with nothing in it: empty lists, not an error.
    r = requests.get(f"{rend.api}/v1/analytics/edges", params={"from": 1000, "to": 2000}, headers=rend.auth(),
                     timeout=30)
    assert r.status_code == 200 and r.json()["edges"] == [] and r.json()["regions"] == [], r.text
