"""`rend edge` as a cache engine (SPEC §6, issue 4), run as its own process against a
real origin: a directory object store (embedded) or s3rver (services). Tests that
need a slow or failing origin put a pacing proxy in front of s3rver, so they run on
the services backend only."""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
import time

import pytest
import requests

from conftest import backends
from edgeproc import Edge, Origin, new_asset_id, sign

ALL = backends()
SLOW = [b for b in ALL if b == "services"] or [pytest.param("services", marks=pytest.mark.skip(
    reason="needs s3rver behind the pacing proxy (run under scripts/with-test-services)"))]


@pytest.fixture
def origin(request, tmp_path):
    o = Origin(request.param, tmp_path)
    yield o
    o.close()


@pytest.fixture
def edge_factory(tmp_path, origin):
    started = []

    def make(name: str = "edge", **env) -> Edge:
        e = Edge(tmp_path / name, {**origin.env(), **{k: str(v) for k, v in env.items()}})
        started.append(e)
        return e

    yield make
    for e in started:
        e.stop()


def playlist(n: int, seconds: float = 4.0) -> bytes:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:4", "#EXT-X-PLAYLIST-TYPE:VOD"]
    for i in range(n):
        lines += [f"#EXTINF:{seconds:.6f},", f"seg_{i:05d}.ts"]
    return ("\n".join(lines + ["#EXT-X-ENDLIST"]) + "\n").encode()


def put_asset(origin: Origin, tiers=("720p",), segments: int = 4, seg_bytes: int = 64 * 1024) -> str:
    aid = new_asset_id()
    master = ["#EXTM3U"]
    for t in tiers:
        master += [f"#EXT-X-STREAM-INF:BANDWIDTH=1000000", f"{t}/index.m3u8"]
        origin.put(f"assets/{aid}/{t}/index.m3u8", playlist(segments))
        for i in range(segments):
            origin.put(f"assets/{aid}/{t}/seg_{i:05d}.ts", os.urandom(seg_bytes))
    origin.put(f"assets/{aid}/master.m3u8", ("\n".join(master) + "\n").encode())
    return aid


def _timed_get(edge, aid, path, token, t0):
    """Streams one object: (seconds to its first body byte, to its end, its bytes), from t0."""
    with edge.get(aid, path, token, stream=True) as r:
        assert r.status_code == 200
        it = r.iter_content(8192)
        first = next(it)
        ttfb = time.monotonic() - t0
        data = first + b"".join(it)
    return ttfb, time.monotonic() - t0, data


@pytest.mark.parametrize("origin", ALL, indirect=True)
def test_fifty_concurrent_cold_requests_make_one_origin_fetch(origin, edge_factory):
    aid = new_asset_id()
    body = os.urandom(4 << 20)
    origin.put(f"assets/{aid}/720p/seg_00007.ts", body)
    edge = edge_factory().start()
    before = edge.metrics().get("rend_edge_origin_requests_total", 0)
    token = sign(aid)
    barrier = threading.Barrier(50)

    def fetch(_):
        barrier.wait()
        r = edge.get(aid, "720p/seg_00007.ts", token)
        return r.status_code, r.content

    with cf.ThreadPoolExecutor(50) as ex:
        results = list(ex.map(fetch, range(50)))
    assert [s for s, _ in results] == [200] * 50
    assert all(b == body for _, b in results), "every viewer gets the identical, complete object"
    m = edge.metrics()
    assert m["rend_edge_origin_requests_total"] - before == 1
    if origin.proxy:
        assert origin.proxy.origin_gets(f"/assets/{aid}/720p/seg_00007.ts") == 1


@pytest.mark.parametrize("origin", SLOW, indirect=True)
def test_slow_origin_streams_first_bytes_to_every_viewer_before_the_fill_ends(origin, edge_factory):
    aid = new_asset_id()
    body = os.urandom(1 << 20)
    origin.put(f"assets/{aid}/720p/seg_00003.ts", body)
    origin.proxy.chunk, origin.proxy.delay = 64 * 1024, 0.12  # 16 chunks: ~2 s for the object
    edge = edge_factory().start()
    token = sign(aid)
    t0 = time.monotonic()

    def viewer(i):
        time.sleep(0.02 * i)  # viewers arrive while the fill is running
        return _timed_get(edge, aid, "720p/seg_00003.ts", token, t0)

    with cf.ThreadPoolExecutor(10) as ex:
        results = list(ex.map(viewer, range(10)))
    fill_end = max(done for _, done, _ in results)
    assert fill_end > 1.5, "the proxy paced the origin"
    for ttfb, _, data in results:
        assert data == body
        assert ttfb < fill_end / 2, f"a viewer waited {ttfb:.2f}s of a {fill_end:.2f}s fill for its first byte"
    assert origin.proxy.origin_gets(f"/assets/{aid}/720p/seg_00003.ts") == 1


@pytest.mark.parametrize("origin", SLOW, indirect=True)
def test_more_cold_objects_than_handler_threads_all_stream_at_once(origin, edge_factory):
    # 24 cold objects at once, more than the edge's 16 handler threads, through an
    # origin that sends each object's first half at once and the rest 2 s later: a
    # viewer waiting for bytes holds no thread, so every viewer gets its first bytes
    # long before any fill ends. (When each waiting read held a handler thread, the
    # last 8 misses waited for the first fills' second halves.)
    aid = new_asset_id()
    bodies = [os.urandom(64 * 1024) for _ in range(24)]
    for i, b in enumerate(bodies):
        origin.put(f"assets/{aid}/720p/seg_{i:05d}.ts", b)
    origin.proxy.chunk, origin.proxy.delay = 32 * 1024, 2.0
    edge = edge_factory().start()
    token = sign(aid)
    start = threading.Barrier(len(bodies))

    def viewer(i):
        start.wait()
        t0 = time.monotonic()
        return _timed_get(edge, aid, f"720p/seg_{i:05d}.ts", token, t0)

    with cf.ThreadPoolExecutor(len(bodies)) as ex:
        results = list(ex.map(viewer, range(len(bodies))))
    first_fill_end = min(done for _, done, _ in results)
    assert first_fill_end > 1.5, "the proxy paced the origin"
    for i, (ttfb, _, data) in enumerate(results):
        assert data == bodies[i]
        assert ttfb < first_fill_end / 2, f"viewer {i} waited {ttfb:.2f}s for its first byte; fills take {first_fill_end:.2f}s"


@pytest.mark.parametrize("origin", SLOW, indirect=True)
def test_origin_dying_mid_fill_ends_responses_short_and_caches_nothing(origin, edge_factory):
    aid = new_asset_id()
    body = os.urandom(1 << 20)
    origin.put(f"assets/{aid}/720p/seg_00004.ts", body)
    origin.proxy.die_after = 300 * 1024
    # Paced, so the origin dies well after the edge has its headers and has started
    # streaming (an origin failing before any byte is a plain 502).
    origin.proxy.chunk, origin.proxy.delay = 64 * 1024, 0.05
    edge = edge_factory().start()
    token = sign(aid)
    # Content-Length says 1 MiB; the connection is aborted after ~300 KiB, so the
    # viewer can tell the body is short (urllib3 1.x does not raise on it by itself).
    got = b""
    try:
        with edge.get(aid, "720p/seg_00004.ts", token, stream=True) as r:
            assert r.status_code == 200 and r.headers["Content-Length"] == str(len(body))
            for chunk in r.iter_content(65536):
                got += chunk
    except requests.RequestException:
        pass
    assert 0 < len(got) < len(body) and got == body[: len(got)]
    origin.proxy.die_after, origin.proxy.delay = None, 0
    r = edge.get(aid, "720p/seg_00004.ts", token)
    assert r.status_code == 200 and r.headers["x-rend-cache"] == "MISS", "nothing was cached by the failed fill"
    assert r.content == body
    assert edge.get(aid, "720p/seg_00004.ts", token).headers["x-rend-cache"] == "HIT"
    assert edge.metrics()["rend_edge_fill_failures_total"] == 1


@pytest.mark.parametrize("origin", SLOW, indirect=True)
def test_sigkill_mid_fill_then_restart_never_serves_a_partial_file(origin, edge_factory):
    aid = new_asset_id()
    body = os.urandom(1 << 20)
    origin.put(f"assets/{aid}/720p/seg_00006.ts", body)
    origin.proxy.chunk, origin.proxy.delay = 64 * 1024, 0.2
    edge = edge_factory().start()
    token = sign(aid)
    got_first = threading.Event()

    def viewer():
        try:
            with edge.get(aid, "720p/seg_00006.ts", token, stream=True) as r:
                for _ in r.iter_content(8192):
                    got_first.set()
        except requests.RequestException:
            pass

    t = threading.Thread(target=viewer)
    t.start()
    assert got_first.wait(10)
    edge.kill()
    t.join(10)
    tmp = edge.data_dir / "edge-cache" / "tmp"
    assert any(tmp.iterdir()), "the killed fill left its temp file"
    origin.proxy.delay = 0
    edge.start()
    assert not any(tmp.iterdir()), "temp files are cleaned at start"
    r = edge.get(aid, "720p/seg_00006.ts", token)
    assert r.status_code == 200 and r.headers["x-rend-cache"] == "MISS"
    assert r.content == body


@pytest.mark.parametrize("origin", SLOW, indirect=True)
def test_fill_slots_are_bounded_503_with_retry_after(origin, edge_factory):
    aid = new_asset_id()
    origin.put(f"assets/{aid}/720p/seg_00002.ts", os.urandom(512 * 1024))
    origin.put(f"assets/{aid}/720p/seg_00003.ts", os.urandom(1024))
    origin.proxy.chunk, origin.proxy.delay = 32 * 1024, 0.15
    edge = edge_factory(REND_EDGE_MAX_IN_FLIGHT_FILLS=1, REND_EDGE_FILL_QUEUE_WAIT_MS=300).start()
    token = sign(aid)
    slow = threading.Thread(target=lambda: edge.get(aid, "720p/seg_00002.ts", token).content)
    slow.start()
    deadline = time.monotonic() + 10
    while edge.metrics().get("rend_edge_fills_in_flight", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    r = edge.get(aid, "720p/seg_00003.ts", token)
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert r.json()["error"]["code"] == "edge_busy"
    slow.join(30)
    assert edge.get(aid, "720p/seg_00003.ts", token).status_code == 200
    assert edge.metrics()["rend_edge_fill_busy_total"] == 1


@pytest.mark.parametrize("origin", SLOW, indirect=True)
def test_purge_during_a_fill_keeps_it_out_of_the_cache(origin, edge_factory):
    aid = new_asset_id()
    body = os.urandom(512 * 1024)
    origin.put(f"assets/{aid}/720p/seg_00005.ts", body)
    origin.proxy.chunk, origin.proxy.delay = 32 * 1024, 0.05
    edge = edge_factory().start()
    token = sign(aid)
    with edge.get(aid, "720p/seg_00005.ts", token, stream=True) as r:
        it = r.iter_content(8192)
        data = next(it)
        assert edge.internal("purge", {"asset_id": aid}).status_code == 200
        data += b"".join(it)
    assert data == body, "the viewer already streaming gets the whole object"
    origin.proxy.delay = 0
    r = edge.get(aid, "720p/seg_00005.ts", token)
    assert r.headers["x-rend-cache"] == "MISS", "the purged fill did not land"


@pytest.mark.parametrize("origin", ALL, indirect=True)
def test_eviction_keeps_playlists_and_first_segments(origin, edge_factory):
    aid = put_asset(origin, segments=8, seg_bytes=100_000)
    # Room for the playlist and five segments.
    edge = edge_factory(REND_EDGE_CACHE_MAX_BYTES=520_000).start()
    token = sign(aid)
    order = ["720p/index.m3u8"] + [f"720p/seg_{i:05d}.ts" for i in range(8)]
    for p in order:
        assert edge.get(aid, p, token).status_code == 200
    cached = {p: edge.get(aid, p, token, headers={"Cookie": f"rend_playback={token}", "Range": "bytes=0-0"})
              .headers["x-rend-cache"] for p in order}
    # Three evictions, from "rest" by least recent use: seg 2, 3, 4. The playlist and
    # segments 0-1 (the head class) survive although they are the least recently used.
    assert edge.metrics()["rend_edge_cache_evictions_total"] >= 3
    assert cached["720p/index.m3u8"] == "HIT"
    assert cached["720p/seg_00000.ts"] == "HIT"
    assert cached["720p/seg_00001.ts"] == "HIT"
    assert cached["720p/seg_00002.ts"] == "MISS"
    assert edge.metrics()["rend_edge_cache_bytes"] <= 520_000


@pytest.mark.parametrize("origin", ALL, indirect=True)
def test_ranges_head_etag_and_cache_control(origin, edge_factory):
    aid = put_asset(origin, segments=2, seg_bytes=200_000)
    edge = edge_factory().start()
    token = sign(aid)
    seg = origin_bytes = None
    for attempt in ("MISS", "HIT"):
        if attempt == "HIT":  # the range came back before the rest of the fill landed
            deadline = time.monotonic() + 10
            while edge.metrics()["rend_edge_cache_objects"] < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
        r = edge.get(aid, "720p/seg_00001.ts", token, headers={"Cookie": f"rend_playback={token}",
                                                               "Range": "bytes=100-199"})
        assert r.status_code == 206 and r.headers["x-rend-cache"] == attempt
        assert r.headers["Content-Range"] == "bytes 100-199/200000" and len(r.content) == 100
        seg = r
    full = edge.get(aid, "720p/seg_00001.ts", token)
    origin_bytes = full.content
    assert seg.content == origin_bytes[100:200]
    assert full.headers["Accept-Ranges"] == "bytes"
    assert full.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert edge.get(aid, "720p/index.m3u8", token).headers["Cache-Control"] == "private, max-age=1"
    r = edge.get(aid, "720p/seg_00001.ts", token, headers={"Cookie": f"rend_playback={token}",
                                                           "Range": "bytes=999999-"})
    assert r.status_code == 416 and r.headers["Content-Range"] == "bytes */200000"
    r = edge.get(aid, "720p/seg_00001.ts", token, headers={"Cookie": f"rend_playback={token}",
                                                           "If-None-Match": full.headers["ETag"]})
    assert r.status_code == 304 and r.content == b""
    h = requests.head(f"{edge.url}/v/{aid}/720p/seg_00001.ts", headers={"Cookie": f"rend_playback={token}"}, timeout=10)
    assert h.status_code == 200 and h.headers["Content-Length"] == "200000" and h.content == b""


@pytest.mark.parametrize("origin", ALL[:1], indirect=True)
def test_internal_listener_hides_internal_routes_from_the_public_one(origin, edge_factory):
    aid = put_asset(origin)
    edge = edge_factory().start(internal_listener=True)
    for path in ("/metrics",):
        assert requests.get(edge.url + path, timeout=5).status_code == 404
    r = requests.post(edge.url + "/internal/warm", json={"asset_id": aid},
                      headers={"Authorization": "Bearer " + "y"}, timeout=5)
    assert r.status_code == 404
    assert edge.internal("warm", {"asset_id": aid}, token=None).status_code == 401
    assert edge.internal("warm", {"asset_id": aid}, token="wrong-token").status_code == 401
    assert edge.internal("warm", {"asset_id": aid}).status_code == 200
    assert "rend_edge_cache_bytes" in edge.metrics()
    # Viewers still play from the public listener.
    assert edge.get(aid, "720p/index.m3u8").headers["x-rend-cache"] == "HIT"


@pytest.mark.parametrize("origin", ALL, indirect=True)
def test_warm_fetches_the_head_of_the_ladder_within_the_limit(origin, edge_factory):
    aid = put_asset(origin, tiers=("1080p", "720p", "540p", "360p"), segments=5, seg_bytes=10_000)
    edge = edge_factory().start()
    r = edge.internal("warm", {"asset_id": aid}).json()
    # master + 4 variant playlists + 2 segments each = 13 <= 16
    assert r == {"asset_id": aid, "warmed": 13, "attempted": 13, "limit": 16}
    token = sign(aid)
    assert edge.get(aid, "360p/seg_00001.ts", token).headers["x-rend-cache"] == "HIT"
    assert edge.get(aid, "360p/seg_00002.ts", token).headers["x-rend-cache"] == "MISS"

    small = edge_factory("small", REND_EDGE_WARM_MAX_ARTIFACTS=4).start()
    aid2 = put_asset(origin, tiers=("1080p", "720p"), segments=3, seg_bytes=1000)
    assert small.internal("warm", {"asset_id": aid2}).json()["attempted"] == 4
    r = small.internal("warm", {"asset_id": aid2, "paths": ["720p/seg_00002.ts"]}).json()
    assert r["warmed"] == 1 and r["attempted"] == 1
    assert small.internal("warm", {"asset_id": aid2, "paths": ["../../etc/passwd"]}).status_code == 400


@pytest.mark.parametrize("origin", ALL[:1], indirect=True)
def test_metrics_are_prometheus_text_with_the_documented_names(origin, edge_factory):
    aid = put_asset(origin, segments=1)
    edge = edge_factory().start()
    token = sign(aid)
    edge.get(aid, "720p/index.m3u8", token)
    edge.get(aid, "720p/index.m3u8", token)
    requests.get(f"{edge.url}/v/{aid}/720p/index.m3u8", timeout=5)  # 401: no credential
    m = edge.metrics()
    assert m['rend_edge_requests_total{code="200",cache="MISS"}'] == 1
    assert m['rend_edge_requests_total{code="200",cache="HIT"}'] == 1
    assert m['rend_edge_requests_total{code="401",cache="none"}'] == 1
    for name in ("rend_edge_response_bytes_total", "rend_edge_origin_requests_total", "rend_edge_fills_in_flight",
                 "rend_edge_coalesced_waiters_total", "rend_edge_cache_evictions_total", "rend_edge_cache_bytes",
                 "rend_edge_cache_objects"):
        assert name in m, name
    assert m["rend_edge_cache_objects"] == 1


@pytest.mark.parametrize("origin", ALL[:1], indirect=True)
def test_cache_index_survives_a_restart(origin, edge_factory):
    aid = put_asset(origin, segments=2)
    edge = edge_factory().start()
    token = sign(aid)
    assert edge.get(aid, "720p/seg_00000.ts", token).headers["x-rend-cache"] == "MISS"
    edge.stop()
    edge.start()
    m = edge.metrics()
    assert m["rend_edge_cache_objects"] == 1 and m["rend_edge_cache_bytes"] == 64 * 1024
    assert edge.get(aid, "720p/seg_00000.ts", token).headers["x-rend-cache"] == "HIT"


@pytest.mark.parametrize("origin", ALL, indirect=True)
def test_a_missing_artifact_costs_one_origin_fetch_per_negative_ttl(origin, edge_factory):
    aid = new_asset_id()
    origin.put(f"assets/{aid}/720p/index.m3u8", playlist(1))
    edge = edge_factory().start(REND_EDGE_NEGATIVE_CACHE_SECS=60)
    token = sign(aid)
    path = "720p/seg_00009.ts"
    before = edge.metrics().get("rend_edge_origin_requests_total", 0)

    def fetch(_):
        return edge.get(aid, path, token).status_code

    with cf.ThreadPoolExecutor(10) as ex:  # concurrent misses share the one fetch
        assert list(ex.map(fetch, range(10))) == [404] * 10
    assert [fetch(i) for i in range(20)] == [404] * 20
    m = edge.metrics()
    assert m["rend_edge_origin_requests_total"] - before == 1, m
    assert m["rend_edge_negative_cache_hits_total"] >= 20
    if origin.proxy:
        assert origin.proxy.origin_gets(f"/assets/{aid}/{path}") == 1
    # Published meanwhile: still 404 until the TTL ends, or until a purge (or warm).
    origin.put(f"assets/{aid}/{path}", os.urandom(1000))
    assert fetch(0) == 404
    assert edge.internal("purge", {"asset_id": aid}).status_code == 200
    assert fetch(0) == 200
    assert edge.metrics()["rend_edge_origin_requests_total"] - before == 2


@pytest.mark.parametrize("origin", ALL[:1], indirect=True)
def test_if_none_match_lists_weak_tags_and_star_and_405_allow(origin, edge_factory):
    aid = put_asset(origin, segments=1, seg_bytes=5000)
    edge = edge_factory().start()
    token = sign(aid)
    r = edge.get(aid, "720p/seg_00000.ts", token)
    assert r.status_code == 200
    etag = r.headers["ETag"]
    for inm in (etag, "*", f'"nope", {etag}', f"W/{etag}", f'"a" ,, W/{etag}'):
        for i in range(2):  # the second one is a HIT either way
            r = edge.get(aid, "720p/seg_00000.ts", token, headers={"If-None-Match": inm})
            assert r.status_code == 304, (inm, r.status_code)
            assert r.content == b""
    for inm in ('"nope"', f'"x" {etag}', etag[1:]):
        r = edge.get(aid, "720p/seg_00000.ts", token, headers={"If-None-Match": inm})
        assert r.status_code == 200 and len(r.content) == 5000, inm
    r = edge.get(aid, "720p/seg_00000.ts", token, headers={"Range": "Bytes=10-19"})
    assert r.status_code == 206 and r.headers["Content-Range"] == "bytes 10-19/5000"
    r = requests.post(f"{edge.url}/v/{aid}/720p/seg_00000.ts", timeout=5)
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, HEAD, OPTIONS"
