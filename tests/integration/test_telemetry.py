"""Playback telemetry end to end (SPEC §7, issue 5): `rend edge` and `rend api` as
separate processes. Viewer requests at the edge become events; the edge batches
them to the API's /internal/telemetry, spools them (fsync'd) while the API is down
and replays them when it is back; the analytics API must then show exactly the
number of viewer requests — nothing lost, nothing counted twice. Runs on the
embedded SQLite analytics table and on ClickHouse."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import time
import zlib
from pathlib import Path

import pytest
import requests

from conftest import REPO_ROOT, backends, free_port, inherited_env, rend_bin, services_env, tail
from edgeproc import SECRET, RendProcess, metrics, sign

TELEMETRY_TOKEN = "telemetry-test-token-" + "z" * 24


class Proc(RendProcess):
    """A role started with its environment fixed once (restarted as it was)."""

    def __init__(self, name: str, args: list, env: dict, log_dir: Path):
        super().__init__(name, args, log_dir / f"{name}.log")
        self.env = env

    def start(self, ready_url: str) -> "Proc":
        super().start(self.env, ready_url)
        return self


class Stack:
    """rend api + rend edge on one data dir (or the real services), edge telemetry on."""

    def __init__(self, backend: str, tmp: Path, **edge_env):
        self.tmp, self.data = tmp, tmp / "data"
        self.api_port, self.edge_port = free_port(), free_port()
        base = inherited_env()
        if backend == "services":
            base.update(services_env())
        base.update({
            "REND_PLAYBACK_SIGNING_SECRET": SECRET,
            "REND_INTERNAL_TELEMETRY_TOKEN": TELEMETRY_TOKEN,
            "REND_API_BIND_ADDR": f"127.0.0.1:{self.api_port}",
            "REND_EDGE_BIND_ADDR": f"127.0.0.1:{self.edge_port}",
        })
        self.base = base
        dd = ["--data-dir", str(self.data)]
        self.key = subprocess.run([str(rend_bin()), "keys", "create", "--scopes", "all", *dd], env=base,
                                  capture_output=True, text=True, check=True, cwd=str(REPO_ROOT)).stdout.strip()
        self.api = Proc("api", ["api", *dd], base, tmp)
        self.edge = Proc("edge", ["edge", *dd], {
            **base,
            "REND_CONTROL_PLANE_URL": self.api_url,
            "REND_EDGE_TELEMETRY_FLUSH_INTERVAL_SECS": "0.2",
            "REND_EDGE_TELEMETRY_BATCH_SIZE": "25",
            "REND_EDGE_TELEMETRY_REQUEST_TIMEOUT_SECS": "2",
            "REND_EDGE_TELEMETRY_SPOOL_DIR": str(tmp / "spool"),
            **{k: str(v) for k, v in edge_env.items()},
        }, tmp)
        self.backend = backend

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.edge_port}"

    def start_api(self):
        self.api.start(self.api_url + "/readyz")

    def start_edge(self):
        self.edge.start(self.edge_url + "/healthz")

    def new_asset(self, segments: int = 3) -> str:
        """An asset known to the API whose artifacts are put straight into the object store."""
        auth = {"Authorization": f"Bearer {self.key}"}
        aid = requests.post(self.api_url + "/v1/uploads", json={}, headers=auth, timeout=10).json()["asset_id"]
        lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:4", "#EXT-X-PLAYLIST-TYPE:VOD"]
        for i in range(segments):
            lines += ["#EXTINF:4.000000,", f"seg_{i:05d}.ts"]
        objects = {"720p/index.m3u8": ("\n".join(lines + ["#EXT-X-ENDLIST"]) + "\n").encode()}
        objects.update({f"720p/seg_{i:05d}.ts": os.urandom(20_000) for i in range(segments)})
        for path, data in objects.items():
            key = f"assets/{aid}/{path}"
            if self.backend == "services":
                r = requests.put(f"{self.base['S3_ENDPOINT']}/{self.base['S3_BUCKET']}/{key}", data=data, timeout=30)
                assert r.status_code == 200
            else:
                p = self.data / "objects" / key
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
        return aid

    def watch(self, aid: str, n: int, token: str = "") -> int:
        """n viewer requests (playlist first, then segments, round robin) with one
        playback credential (a new one unless given); returns the body bytes."""
        token = token or sign(aid)
        paths = ["720p/index.m3u8", "720p/seg_00000.ts", "720p/seg_00001.ts", "720p/seg_00002.ts"]
        total = 0
        with requests.Session() as s:
            for i in range(n):
                r = s.get(f"{self.edge_url}/v/{aid}/{paths[i % len(paths)]}",
                          headers={"Cookie": f"rend_playback={token}"}, timeout=10)
                assert r.status_code == 200, r.text
                total += len(r.content)
        return total

    def edge_metrics(self) -> dict:
        return metrics(requests.get(self.edge_url + "/metrics", timeout=5).text)

    def analytics(self, aid: str) -> dict:
        r = requests.get(f"{self.api_url}/v1/analytics/assets/{aid}",
                         headers={"Authorization": f"Bearer {self.key}"}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def wait_requests(self, aid: str, n: int, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        got = None
        while time.monotonic() < deadline:
            got = self.analytics(aid)
            if got["requests"] >= n:
                break
            time.sleep(0.2)
        assert got["requests"] == n, f"analytics shows {got['requests']} requests, expected {n}: {got}"
        return got

    def wait_metric(self, name: str, pred, timeout: float = 20) -> float:
        deadline = time.monotonic() + timeout
        v = None
        while time.monotonic() < deadline:
            v = self.edge_metrics().get(name, 0)
            if pred(v):
                return v
            time.sleep(0.1)
        pytest.fail(f"{name} = {v} never satisfied the condition\n{tail(self.edge.log)}")

    def close(self):
        for p in (self.edge, self.api):
            if p.proc and p.proc.poll() is None:
                p.stop()


@pytest.fixture
def stack_factory(tmp_path):
    made = []

    def make(backend: str, **edge_env) -> Stack:
        s = Stack(backend, tmp_path / f"s{len(made)}", **edge_env)
        (tmp_path / f"s{len(made)}").mkdir(exist_ok=True)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.mark.parametrize("backend", backends())
def test_viewer_requests_are_counted_exactly(stack_factory, backend):
    st = stack_factory(backend)
    st.start_api()
    st.start_edge()
    aid = st.new_asset()
    token = sign(aid)
    sent = st.watch(aid, 40, token)
    got = st.wait_requests(aid, 40)
    assert got["bytes"] == sent
    assert got["views"] == 1, "one credential = one playback session"
    # 30 of the 40 requests were segments of 4 s each: 2 minutes delivered at 720p.
    assert abs(got["delivered_minutes"]["720p"] - 2.0) < 1e-6, got
    st.watch(aid, 4, token)  # the same session again
    assert st.wait_requests(aid, 44)["views"] == 1
    st.watch(aid, 4)  # another viewer
    assert st.wait_requests(aid, 48)["views"] == 2
    # Refused viewers are not events (only served media is), and whatever junk their
    # cookie held never reaches a batch (a bad field would get the whole batch refused).
    for junk in ("v2.dev.1.ast_x.\u00ff<>\".sig", "garbage", "v2.dev.99999999999.%s.s p a c e.sig" % aid):
        r = requests.get(f"{st.edge_url}/v/{aid}/720p/index.m3u8",
                         headers={"Cookie": f"rend_playback={junk}".encode("utf-8")}, timeout=10)
        assert r.status_code == 401
    st.watch(aid, 1, token)  # a marker behind them in the edge's FIFO queue
    got = st.wait_requests(aid, 49)
    assert got["views"] == 2
    m = st.edge_metrics()
    assert m["rend_edge_telemetry_dropped_total"] == 0
    assert m["rend_edge_telemetry_rejected_total"] == 0
    assert m["rend_edge_telemetry_sent_total"] == 49
    assert m['rend_edge_requests_total{code="401",cache="none"}'] == 3
    assert m['rend_edge_unbilled_responses_total{reason="unauthorized"}'] == 3


@pytest.mark.parametrize("backend", backends())
def test_only_served_media_reaches_analytics(stack_factory, backend):
    """HEAD, refusals (401 with a made-up cookie, 403, 400, 413), the OPTIONS
    preflight, 405 and 304 are not playback: they add no request, view, byte or minute to the
    customer's analytics, and show in the edge's /metrics instead."""
    st = stack_factory(backend)
    st.start_api()
    st.start_edge()
    aid = st.new_asset()
    token = sign(aid)
    seg = f"{st.edge_url}/v/{aid}/720p/seg_00000.ts"
    mine = {"Cookie": f"rend_playback={token}"}
    playlist = f"{st.edge_url}/v/{aid}/720p/index.m3u8"
    r = requests.get(playlist, headers=mine, timeout=10)  # teaches the edge the segment durations
    assert r.status_code == 200
    playlist_bytes = len(r.content)
    r = requests.get(seg, headers=mine, timeout=10)
    assert r.status_code == 200
    etag, seg_bytes = r.headers["ETag"], len(r.content)
    before = st.wait_requests(aid, 2)
    assert before["views"] == 1 and abs(before["delivered_minutes"]["720p"] - 4 / 60) < 1e-6, before

    made_up = f"v2.dev.{int(time.time()) + 3600}.{aid}.sforged{os.urandom(4).hex()}.c2lnbmF0dXJl"
    other = sign(st.new_asset(segments=1))  # valid, for another asset
    unserved = [
        ("HEAD", {**mine}, 200),
        ("GET", {"Cookie": f"rend_playback={made_up}"}, 401),
        ("GET", {"Cookie": f"rend_playback={other}"}, 403),
        ("OPTIONS", {"Origin": "https://example.com", "Access-Control-Request-Method": "GET",
                     "Cookie": f"rend_playback={made_up}"}, 204),
        ("POST", {"Cookie": f"rend_playback={made_up}"}, 405),
        ("GET", {**mine, "If-None-Match": etag}, 304),
    ]
    for method, headers, want in unserved:
        r = requests.request(method, seg, headers=headers, timeout=10)
        assert r.status_code == want, (method, r.status_code, r.text)
        if want == 405:
            assert r.headers["Allow"] == "GET, HEAD, OPTIONS"
    r = requests.get(f"{st.edge_url}/v/{aid}/720p/seg_00000.exe", headers=mine, timeout=10)
    assert r.status_code == 400  # not an artifact we publish
    r = requests.get(seg, headers=mine, data=b"x" * (2 << 20), timeout=10)
    assert r.status_code == 413  # a GET with a body over the route's limit
    # A served playlist behind them in the edge's FIFO queue: once it is counted, so
    # would they have been.
    r = requests.get(playlist, headers=mine, timeout=10)
    assert r.status_code == 200
    st.wait_requests(aid, 3)
    time.sleep(0.5)  # a late batch would still show up
    got = st.analytics(aid)
    assert got["requests"] == 3, got
    assert got["views"] == 1, got
    assert got["bytes"] == seg_bytes + 2 * playlist_bytes, got
    assert abs(got["delivered_minutes"]["720p"] - 4 / 60) < 1e-6, got

    m = st.edge_metrics()
    assert m["rend_edge_telemetry_sent_total"] == 3
    assert m['rend_edge_requests_total{code="401",cache="none"}'] == 1
    assert m['rend_edge_requests_total{code="403",cache="none"}'] == 1
    assert m['rend_edge_requests_total{code="405",cache="none"}'] == 1
    assert m['rend_edge_requests_total{code="204",cache="none"}'] == 1
    assert m['rend_edge_requests_total{code="304",cache="HIT"}'] == 1
    assert m['rend_edge_requests_total{code="400",cache="none"}'] == 1
    assert m['rend_edge_requests_total{code="413",cache="none"}'] == 1
    for reason in ("head", "unauthorized", "forbidden", "preflight", "method_not_allowed", "not_modified",
                   "bad_request", "body_too_large"):
        assert m[f'rend_edge_unbilled_responses_total{{reason="{reason}"}}'] == 1, (reason, m)


@pytest.mark.parametrize("backend", backends()[:1])
def test_an_aborted_segment_counts_only_the_media_it_delivered(stack_factory, backend):
    """Billing follows bytes actually sent: a viewer who leaves after the first bytes
    of a segment is billed that share of its seconds, not its Content-Length."""
    st = stack_factory(backend)
    st.start_api()
    st.start_edge()
    aid = st.new_asset()
    size = 24 << 20  # far more than loopback socket buffers hold
    (st.data / "objects" / "assets" / aid / "720p" / "seg_00000.ts").write_bytes(os.urandom(size))
    token = sign(aid)
    r = requests.get(f"{st.edge_url}/v/{aid}/720p/index.m3u8", headers={"Cookie": f"rend_playback={token}"},
                     timeout=10)
    assert r.status_code == 200
    playlist_bytes = len(r.content)

    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.connect(("127.0.0.1", st.edge_port))
    s.sendall(f"GET /v/{aid}/720p/seg_00000.ts HTTP/1.1\r\nHost: edge\r\n"
              f"Cookie: rend_playback={token}\r\n\r\n".encode())
    got = b""
    while b"\r\n\r\n" not in got or len(got) < 100_000:
        chunk = s.recv(65536)
        assert chunk, "the edge closed before sending the body"
        got += chunk
    assert got.startswith(b"HTTP/1.1 200")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()  # reset: the edge's next write fails

    st.watch(aid, 1, token)  # a marker behind it in the edge's FIFO queue
    got = st.wait_requests(aid, 3)
    sent = got["bytes"] - 2 * playlist_bytes
    assert 100_000 <= sent < size, got
    minutes = got["delivered_minutes"]["720p"]
    # Events carry media seconds with millisecond precision.
    assert abs(minutes * 60 - 4.0 * sent / size) <= 0.0005 + 1e-9, (minutes, sent)
    assert minutes * 60 < 4.0 / 2
    assert st.edge_metrics()["rend_edge_responses_incomplete_total"] >= 1


@pytest.mark.parametrize("backend", backends())
def test_api_down_spools_then_replays_exactly(stack_factory, backend):
    st = stack_factory(backend)
    st.start_api()
    st.start_edge()
    aid = st.new_asset()
    st.watch(aid, 10)
    st.wait_requests(aid, 10)

    st.api.stop()  # viewers keep watching while the API is away
    st.watch(aid, 60)
    st.wait_metric("rend_edge_telemetry_spool_bytes", lambda v: v > 0)
    st.wait_metric("rend_edge_telemetry_queued", lambda v: v == 0)
    m = st.edge_metrics()
    assert m["rend_edge_telemetry_dropped_total"] == 0
    assert m["rend_edge_telemetry_spooled_total"] == 60

    st.start_api()
    st.wait_metric("rend_edge_telemetry_spool_bytes", lambda v: v == 0, timeout=60)
    st.wait_requests(aid, 70, timeout=60)
    assert st.edge_metrics()["rend_edge_telemetry_replayed_total"] == 60
    time.sleep(1)
    assert st.analytics(aid)["requests"] == 70, "nothing counted twice"


def old_json_spool_record(batch_id: str, events: list) -> bytes:
    """A spool record as edges before the binary format wrote it: u8 1 | u32 events |
    u16 id length | id | the JSON body."""
    body = json.dumps({"batch_id": batch_id, "edge_id": events[0]["edge_id"], "events": events}).encode()
    return struct.pack("<BIH", 1, len(events), len(batch_id)) + batch_id.encode() + body


@pytest.mark.parametrize("backend", backends())
def test_old_json_spool_is_replayed_after_upgrade_and_new_batches_are_binary(stack_factory, backend):
    st = stack_factory(backend)
    st.start_api()
    aid = st.new_asset()
    events = [{"event_id": f"evt_old_{i}", "ts_ms": int(time.time() * 1000) - 60_000 + i, "edge_id": "edge-old",
               "region": "eu", "asset_id": aid, "artifact": f"720p/seg_{i:05d}.ts", "kind": "segment",
               "tier": "720p", "session_id": "ses_old", "status": 200, "bytes": 1000, "cache": "HIT",
               "ttfb_ms": 3, "duration_ms": 5, "media_seconds": 4.0} for i in range(7)]
    # A spool file an older edge left behind (RENDSPL1, then u32 length | u32 CRC | record).
    rec = old_json_spool_record("bat_old_1", events)
    crc = zlib.crc32(rec, zlib.crc32(struct.pack("<I", len(rec))))
    spool = st.tmp / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    (spool / f"seg-{1:020d}.spool").write_bytes(b"RENDSPL1" + struct.pack("<II", len(rec), crc) + rec)

    st.start_edge()  # the upgraded edge replays it as it was written: JSON
    st.wait_metric("rend_edge_telemetry_spool_bytes", lambda v: v == 0, timeout=60)
    st.wait_requests(aid, 7, timeout=60)
    assert st.edge_metrics()["rend_edge_telemetry_replayed_total"] == 7

    # What it spools now is the binary format it sends.
    st.api.stop()
    st.watch(aid, 4)
    st.wait_metric("rend_edge_telemetry_spooled_total", lambda v: v == 4)
    data = b"".join(f.read_bytes() for f in spool.iterdir() if f.suffix == ".spool")
    assert b"RNDT\x01" in data and b'"events"' not in data
    st.start_api()
    st.wait_requests(aid, 11, timeout=60)


@pytest.mark.parametrize("backend", backends())
def test_spool_survives_an_edge_sigkill(stack_factory, backend):
    st = stack_factory(backend)
    st.start_api()
    st.start_edge()
    aid = st.new_asset()
    st.api.stop()
    st.watch(aid, 30)
    st.wait_metric("rend_edge_telemetry_queued", lambda v: v == 0)
    st.wait_metric("rend_edge_telemetry_spooled_total", lambda v: v == 30)
    st.edge.kill()  # no graceful flush: only the fsync'd spool survives
    assert any((st.tmp / "spool").iterdir())
    st.start_api()
    st.start_edge()
    st.wait_metric("rend_edge_telemetry_spool_bytes", lambda v: v == 0, timeout=60)
    st.wait_requests(aid, 30, timeout=60)
    st.watch(aid, 5)
    st.wait_requests(aid, 35)


@pytest.mark.parametrize("backend", backends()[:1])
def test_full_queue_and_spool_drop_and_count(stack_factory, backend):
    st = stack_factory(backend, REND_EDGE_TELEMETRY_QUEUE_CAPACITY=20, REND_EDGE_TELEMETRY_SPOOL_MAX_BYTES=4096,
                       REND_EDGE_TELEMETRY_BATCH_SIZE=10)
    st.start_api()
    st.start_edge()
    aid = st.new_asset()
    st.api.stop()
    st.watch(aid, 300)  # serving never waits on telemetry, even with nowhere to put it
    dropped = st.wait_metric("rend_edge_telemetry_dropped_total", lambda v: v > 0)
    st.wait_metric("rend_edge_telemetry_queued", lambda v: v <= 20)
    m = st.edge_metrics()
    assert m["rend_edge_telemetry_spool_bytes"] <= 4096
    st.start_api()
    st.wait_metric("rend_edge_telemetry_spool_bytes", lambda v: v == 0, timeout=60)
    time.sleep(1.5)
    m = st.edge_metrics()
    counted = st.analytics(aid)["requests"]
    # Every event is either counted by the API or counted as dropped at the edge.
    assert counted + m["rend_edge_telemetry_dropped_total"] == 300, (counted, m)
    assert counted == m["rend_edge_telemetry_sent_total"]
    assert dropped > 0
