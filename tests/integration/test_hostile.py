"""Hostile requests against real `rend dev` processes: broken framing, request
smuggling, 100-continue misuse, slow clients, path traversal in every encoding,
tampered credentials, method and CORS abuse, malformed JSON and query values, watch
page script injection, analytics inflation and edge registry takeover.

Every case asserts the status the SPEC asks for AND that nothing changed: no asset
created or deleted, no source object stored, no analytics event counted (the
analytics cases), and the server still answers a fresh request at once.

Raw-socket framing and method cases run on the embedded backend only (the parser
and router do not depend on the stores); the rest run on both backend sets. Slow
clients, CORS origins and edge registry tampering use one dedicated `rend dev`
(`tuned`), so the session server keeps its default settings and a registry it can
trust. Runs in about 1.5 minutes on both backends."""

from __future__ import annotations

import base64
import concurrent.futures as cf
import contextlib
import json
import os
import socket
import threading
import time

import pytest
import requests

import rawhttp
from conftest import SESSION_MAX_UPLOAD_BYTES, RendServer
from edgeproc import sign as sign_with

MIB = 1 << 20
CANARY = b"HOSTILE-CANARY-OUTSIDE-THE-ASSET"
GOOD_ORIGIN = "https://good.example"

# The HTTP server's limits for slow clients (src/http/server.h): a request head must be
# complete within 10 s of its first byte, and a body must average at least
# REND_HTTP_MIN_BODY_BYTES_PER_SEC (1024) once 10 s have passed since it started. The
# two times are not settings, so the slow-client cases wait for the defaults.
HEADER_TIMEOUT_S = 10
BODY_GRACE_S = 10
TUNED_ENV = {
    "REND_HTTP_MIN_BODY_BYTES_PER_SEC": "1024",
    "REND_API_CORS_ALLOWED_ORIGINS": GOOD_ORIGIN,
    "REND_EDGE_CORS_ALLOWED_ORIGINS": GOOD_ORIGIN,
    "REND_EDGE_HEARTBEAT_INTERVAL_SECS": "1",
}
# A slow-client case may take this long beyond the limit before it counts as "not cut
# off" (scheduling on a loaded 2-core machine, timer granularity).
SLACK_S = 3.0


# --- helpers --------------------------------------------------------------------------

def secret_of(srv: RendServer, name: str = "REND_PLAYBACK_SIGNING_SECRET") -> str:
    """A generated local secret of `srv` (rend dev keeps them in DIR/secrets.env)."""
    for line in (srv.data_dir / "secrets.env").read_text().splitlines():
        if line.startswith(name + "="):
            return line.split("=", 1)[1]
    raise AssertionError(f"{name} not in {srv.data_dir / 'secrets.env'}")


def token(srv: RendServer, aid: str, **kw) -> str:
    return sign_with(aid, secret=secret_of(srv), **kw)


def playlist(n: int) -> bytes:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:4", "#EXT-X-PLAYLIST-TYPE:VOD"]
    for i in range(n):
        lines += ["#EXTINF:4.000000,", f"seg_{i:05d}.ts"]
    return ("\n".join(lines + ["#EXT-X-ENDLIST"]) + "\n").encode()


def put_object(srv: RendServer, key: str, data: bytes) -> None:
    if srv.backend == "services":
        r = requests.put(f"{srv.extra_env['S3_ENDPOINT']}/{srv.extra_env['S3_BUCKET']}/{key}", data=data, timeout=30)
        assert r.status_code == 200, f"s3 put {key}: {r.status_code}"
    else:
        p = srv.objects_dir / key
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def seed_asset(srv: RendServer, segments: int = 3) -> str:
    """An asset the API knows, with HLS artifacts put straight into the object store
    (no transcode: the cases only need objects to serve or refuse)."""
    aid = srv.create_upload()["asset_id"]
    put_object(srv, f"assets/{aid}/master.m3u8", b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000000\n720p/index.m3u8\n")
    put_object(srv, f"assets/{aid}/720p/index.m3u8", playlist(segments))
    for i in range(segments):
        put_object(srv, f"assets/{aid}/720p/seg_{i:05d}.ts", os.urandom(10_000 + i))
    return aid


_seeded: dict = {}


def assets_of(srv: RendServer) -> dict:
    """Three seeded assets per server, plus canaries just outside them: one at the
    object store's root and (embedded) one beside the object store."""
    # Keyed by the server's data dir, not id(srv): a finished session server's object
    # can be freed and the next one allocated at the same address.
    key = str(srv.data_dir)
    if key not in _seeded:
        put_object(srv, "canary.m3u8", CANARY)
        if srv.backend == "embedded":
            (srv.data_dir / "canary.m3u8").write_bytes(CANARY)
        _seeded[key] = (seed_asset(srv), seed_asset(srv), seed_asset(srv))
    # aid and other only ever get refused requests (until the last test of this file
    # checks that none of them was counted); ctl is for the requests that succeed.
    return {"aid": _seeded[key][0], "other": _seeded[key][1], "ctl": _seeded[key][2]}


def snapshot(srv: RendServer) -> dict:
    """What a refused request must not change: the set of assets (newest 100 of the
    fixture key), and the stored sources."""
    r = requests.get(srv.api + "/v1/assets?limit=100", headers=srv.auth(), timeout=10)
    assert r.status_code == 200, r.text
    return {"assets": sorted(a["id"] for a in r.json()["data"]), "sources": sorted(srv.object_keys("sources/"))}


def assert_alive(srv: RendServer) -> None:
    for base in (srv.api, srv.edge):
        t0 = time.monotonic()
        r = requests.get(base + "/healthz", timeout=2)
        assert r.status_code == 200, f"{base}/healthz -> {r.status_code}"
        assert time.monotonic() - t0 < 1.0, f"{base}/healthz took {time.monotonic() - t0:.2f}s"


@contextlib.contextmanager
def unchanged(srv: RendServer):
    before = snapshot(srv)
    yield
    assert_alive(srv)
    after = snapshot(srv)
    assert after == before, f"state changed by a refused request:\nbefore {before}\nafter  {after}"


def status_of(responses: list) -> list:
    return [s for s, _, _ in responses]


@pytest.fixture
def embedded(rend):
    if rend.backend != "embedded":
        pytest.skip("parser behaviour: the embedded run covers it")
    return rend


@pytest.fixture(scope="module")
def tuned(server_factory):
    """A dedicated rend dev (embedded): slow clients hold its connections and threads,
    not the session server's; it also has CORS origins and a fast edge heartbeat."""
    return server_factory("hostile-tuned", extra_env=TUNED_ENV)


# --- framing (API and edge port) -------------------------------------------------------

def _port(srv: RendServer, which: str) -> dict:
    """Where a body-taking request goes on each port, with valid credentials so that
    only the framing decides, and a GET that would answer if it were smuggled through."""
    if which == "api":
        return {"base": srv.api, "post": "/v1/uploads", "auth": f"Authorization: Bearer {srv.api_key}",
                "get": "/v1/assets"}
    return {"base": srv.edge, "post": "/internal/purge", "auth": f"Authorization: Bearer {srv.internal_token}",
            "get": "/healthz"}


def _smuggled(p: dict) -> bytes:
    return f"GET {p['get']} HTTP/1.1\r\nHost: h\r\n{p['auth']}\r\n\r\n".encode()


def _post(p: dict, headers: str, body: bytes) -> bytes:
    return f"POST {p['post']} HTTP/1.1\r\nHost: h\r\n{p['auth']}\r\n{headers}\r\n".encode() + body


BODY_JSON = b'{"asset_id":"ast_aaaaaaaaaaaaaaaaaaaaaaaaaa"}'
CHUNKED_BODY = b"%x\r\n" % len(BODY_JSON) + BODY_JSON + b"\r\n0\r\n\r\n"

FRAMING = {
    "te_chunked_gzip": lambda p: _post(p, "Transfer-Encoding: chunked, gzip\r\n", CHUNKED_BODY + _smuggled(p)),
    "te_gzip_chunked": lambda p: _post(p, "Transfer-Encoding: gzip, chunked\r\n", CHUNKED_BODY + _smuggled(p)),
    "te_duplicated": lambda p: _post(p, "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                                     CHUNKED_BODY + _smuggled(p)),
    "te_identity": lambda p: _post(p, "Transfer-Encoding: identity\r\n", BODY_JSON + _smuggled(p)),
    "te_and_content_length": lambda p: _post(p, "Content-Length: %d\r\nTransfer-Encoding: chunked\r\n"
                                             % len(b"0\r\n\r\n"), b"0\r\n\r\n" + _smuggled(p)),
    "content_length_twice": lambda p: _post(p, "Content-Length: %d\r\nContent-Length: %d\r\n"
                                            % (len(BODY_JSON), len(BODY_JSON) + len(_smuggled(p))),
                                            BODY_JSON + _smuggled(p)),
    "content_length_signed": lambda p: _post(p, "Content-Length: +%d\r\n" % len(BODY_JSON), BODY_JSON + _smuggled(p)),
    "te_in_http10": lambda p: (f"POST {p['post']} HTTP/1.0\r\nHost: h\r\n{p['auth']}\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n").encode() + CHUNKED_BODY + _smuggled(p),
    "obs_fold": lambda p: f"GET {p['get']} HTTP/1.1\r\nHost: h\r\n{p['auth']}\r\nX-Folded: a\r\n b\r\n\r\n".encode()
    + _smuggled(p),
    "no_host_http11": lambda p: f"GET {p['get']} HTTP/1.1\r\n{p['auth']}\r\n\r\n".encode(),
    "two_hosts": lambda p: f"GET {p['get']} HTTP/1.1\r\nHost: a\r\nHost: b\r\n{p['auth']}\r\n\r\n".encode(),
    "nul_in_header": lambda p: f"GET {p['get']} HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n".encode(),
    "invalid_method": lambda p: f"G(T {p['get']} HTTP/1.1\r\nHost: h\r\n\r\n".encode(),
}


@pytest.mark.parametrize("port", ["api", "edge"])
@pytest.mark.parametrize("case", sorted(FRAMING))
def test_framing_is_refused_and_the_connection_closed(embedded, port, case):
    p = _port(embedded, port)
    with unchanged(embedded):
        responses, closed = rawhttp.exchange(p["base"], FRAMING[case](p), timeout=3)
    assert status_of(responses) == [400], f"{case}: responses {status_of(responses)} (want exactly one 400)"
    assert closed, f"{case}: the connection stayed open after a framing error"


@pytest.mark.parametrize("port", ["api", "edge"])
def test_bare_lf_line_endings_get_4xx_and_nothing_smuggled(embedded, port):
    p = _port(embedded, port)
    raw = f"GET {p['get']} HTTP/1.1\nHost: h\n{p['auth']}\n\n".encode() + _smuggled(p).replace(b"\r\n", b"\n")
    with unchanged(embedded):
        responses, closed = rawhttp.exchange(p["base"], raw, timeout=3)
    assert len(responses) == 1 and 400 <= responses[0][0] < 500, status_of(responses)
    assert closed


@pytest.mark.parametrize("port", ["api", "edge"])
def test_header_over_the_limit_gets_431(embedded, port):
    p = _port(embedded, port)
    raw = f"GET {p['get']} HTTP/1.1\r\nHost: h\r\nX-Big: {'a' * 20000}\r\n\r\n".encode()
    with unchanged(embedded):
        responses, closed = rawhttp.exchange(p["base"], raw, timeout=3)
    assert status_of(responses) == [431]
    assert closed


@pytest.mark.parametrize("port", ["api", "edge"])
def test_request_line_of_100kb_gets_4xx(embedded, port):
    p = _port(embedded, port)
    raw = f"GET /{'a' * 100_000} HTTP/1.1\r\nHost: h\r\n\r\n".encode()
    with unchanged(embedded):
        responses, closed = rawhttp.exchange(p["base"], raw, timeout=3)
    assert len(responses) == 1 and responses[0][0] in (400, 414, 431), status_of(responses)
    assert closed


def _endless(prefix: bytes, unit: bytes):
    yield prefix
    while True:
        yield unit


CHUNK_BOMBS = {
    "extension": lambda: _endless(b"1;", b"a" * 4096),
    "size_digits": lambda: _endless(b"", b"0" * 4096),
    "trailers": lambda: _endless(b"0\r\n", b"X-Trailer: " + b"a" * 50 + b"\r\n"),
}


@pytest.mark.parametrize("port", ["api", "edge"])
@pytest.mark.parametrize("bomb", sorted(CHUNK_BOMBS))
def test_chunk_bomb_is_cut_off_before_1mib(embedded, port, bomb):
    p = _port(embedded, port)
    head = _post(p, "Transfer-Encoding: chunked\r\n", b"")
    with unchanged(embedded):
        res = rawhttp.stream_until_closed(p["base"], head, CHUNK_BOMBS[bomb](), max_bytes=MIB, timeout=10)
    assert res.closed and res.sent < MIB, f"{bomb}: server still reading after {res.sent} bytes"
    assert all(400 <= s < 500 for s in status_of(res.responses)), status_of(res.responses)


# --- 100-continue --------------------------------------------------------------------------

def _no_continue(responses: list) -> None:
    assert 100 not in status_of(responses), f"got 100 Continue: {status_of(responses)}"


def test_unauthenticated_put_with_expect_gets_401_and_no_100(rend):
    up = rend.create_upload()
    path = "/" + up["upload_url"].split("/", 3)[3]
    raw = f"PUT {path} HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n".encode()
    with unchanged(rend):
        responses, _ = rawhttp.exchange(rend.api, raw, timeout=2)
    _no_continue(responses)
    assert status_of(responses) == [401]
    assert rend.get_asset(up["asset_id"])["status"] == "waiting_upload"


def test_unauthenticated_post_with_expect_gets_401_and_no_100(rend):
    raw = (b"POST /v1/uploads HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
           b"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    with unchanged(rend):
        responses, _ = rawhttp.exchange(rend.api, raw, timeout=2)
    _no_continue(responses)
    assert status_of(responses) == [401]


def test_content_length_over_the_upload_limit_with_expect_gets_413_and_no_100(rend):
    up = rend.create_upload()
    path = "/" + up["upload_url"].split("/", 3)[3]
    raw = (f"PUT {path} HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {rend.api_key}\r\n"
           f"Content-Length: {SESSION_MAX_UPLOAD_BYTES + 1}\r\nExpect: 100-continue\r\n\r\n").encode()
    with unchanged(rend):
        responses, _ = rawhttp.exchange(rend.api, raw, timeout=2)
    _no_continue(responses)
    assert status_of(responses) == [413]
    assert rend.get_asset(up["asset_id"])["status"] == "waiting_upload"


def test_http10_with_expect_never_gets_100(rend):
    """An authenticated HTTP/1.0 PUT (to an upload that does not exist, so nothing
    can change): the server must not send 100 Continue, which 1.0 clients do not know."""
    body = b"x" * 10
    head = (f"PUT /v1/uploads/upl_doesnotexist0000000000000000 HTTP/1.0\r\nHost: h\r\n"
            f"Authorization: Bearer {rend.api_key}\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n")
    with unchanged(rend):
        with socket.create_connection(("127.0.0.1", rend.api_port), timeout=5) as s:
            s.sendall(head.encode())
            s.settimeout(1.0)
            early = b""
            try:
                early = s.recv(65536)
            except socket.timeout:
                pass
            if not early:
                s.sendall(body)
                s.settimeout(5)
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            else:
                data = early
    responses = rawhttp.parse_responses(data)
    _no_continue(responses)
    assert responses and 400 <= responses[0][0] < 500, status_of(responses)


@pytest.mark.parametrize("framing", ["content_length", "chunked"])
def test_upload_cut_short_stores_nothing(rend, framing):
    """The client promises more than it sends, then closes: no source, still waiting."""
    up = rend.create_upload()
    path = "/" + up["upload_url"].split("/", 3)[3]
    if framing == "content_length":
        head = "Content-Length: 100000\r\n\r\n".encode() + b"x" * 1000
    else:
        head = b"Transfer-Encoding: chunked\r\n\r\n" + b"3e8\r\n" + b"x" * 1000 + b"\r\n"
    raw = (f"PUT {path} HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {rend.api_key}\r\n"
           f"Content-Type: application/octet-stream\r\n").encode() + head
    with unchanged(rend):
        with socket.create_connection(("127.0.0.1", rend.api_port), timeout=10) as s:
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(10)
            data = b""
            try:
                while chunk := s.recv(65536):
                    data += chunk
            except ConnectionResetError:
                pass
        # The handler may still be tearing the upload down: poll briefly.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and rend.object_keys(f"sources/{up['asset_id']}"):
            time.sleep(0.1)
    assert all(st >= 400 for st in status_of(rawhttp.parse_responses(data))), data[:200]
    assert rend.get_asset(up["asset_id"])["status"] == "waiting_upload"
    # And the slot still works for an honest client.
    r = rend.put_bytes(up["upload_url"], b"y" * 5000)
    assert r.status_code == 200, r.text


UPLOAD_ABUSE = {
    "shorter_than_declared": (100, b"a" * 50, False, 400),
    "longer_than_declared": (100, b"a" * 150, False, 400),
    "empty_body": (None, b"", False, 400),
    "chunked_over_the_limit": (None, None, True, 413),
    "content_length_over_the_limit": (None, None, False, 413),
}


@pytest.mark.parametrize("case", sorted(UPLOAD_ABUSE))
def test_upload_abuse_stores_nothing_and_the_slot_still_works(rend, case):
    declared, body, chunked, want = UPLOAD_ABUSE[case]
    up = rend.create_upload(size_bytes=declared)
    path = "/" + up["upload_url"].split("/", 3)[3]
    headers = {**rend.auth(), "Content-Type": "application/octet-stream"}
    with unchanged(rend):
        if body is None:  # over the limit: stream until the server answers
            total = SESSION_MAX_UPLOAD_BYTES + MIB
            chunks = (b"o" * 65536 for _ in range(total // 65536))
            r = rawhttp.request(rend.api, "PUT", path, headers=headers, body=chunks,
                                content_length=None if chunked else total, chunked=chunked, timeout=30)
            status = r.status
        else:
            status = rawhttp.request(rend.api, "PUT", path, headers=headers, body=[body] if body else [b""],
                                     content_length=len(body), timeout=10).status
    assert status == want, f"{case}: {status}"
    assert rend.get_asset(up["asset_id"])["status"] == "waiting_upload"
    good = b"g" * (declared or 5000)
    r = rend.put_bytes(up["upload_url"], good)
    assert r.status_code == 200, f"{case}: the slot no longer works: {r.status_code} {r.text[:200]}"
    assert rend.read_object(f"sources/{up['asset_id']}") == good


def test_second_put_of_a_completed_upload_gets_409_and_keeps_the_first_bytes(rend):
    up = rend.create_upload()
    first = b"1" * 3000
    assert rend.put_bytes(up["upload_url"], first).status_code == 200
    with unchanged(rend):
        r = rend.put_bytes(up["upload_url"], b"2" * 3000)
    assert r.status_code == 409, r.text
    assert rend.read_object(f"sources/{up['asset_id']}") == first


# --- slow clients (the dedicated server with small timeouts) --------------------------------

def test_header_slowloris_is_cut_off_within_the_header_timeout(tuned):
    """One byte of header every 0.5 s, on the API and the edge port at once."""
    head = b"GET /healthz HTTP/1.1\r\nHost: h\r\nX-Slow: "

    def dribble(base):
        return rawhttp.stream_until_closed(base, head, _endless(b"", b"a"), max_bytes=1000, interval=0.5,
                                           timeout=HEADER_TIMEOUT_S + SLACK_S)

    with cf.ThreadPoolExecutor(2) as ex:
        results = dict(zip(("api", "edge"), ex.map(dribble, (tuned.api, tuned.edge))))
    for port, res in results.items():
        assert res.closed, f"{port}: a header dribbled at 2 B/s was still being read after {res.elapsed:.1f}s"
        assert res.elapsed <= HEADER_TIMEOUT_S + SLACK_S
        assert all(s in (400, 408) for s in status_of(res.responses)), (port, status_of(res.responses))
    assert_alive(tuned)


def test_body_slowloris_on_an_upload_is_cut_off(tuned):
    up = tuned.create_upload()
    path = "/" + up["upload_url"].split("/", 3)[3]
    head = (f"PUT {path} HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {tuned.api_key}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: 2000\r\n\r\n").encode()
    limit = BODY_GRACE_S + SLACK_S
    with unchanged(tuned):
        res = rawhttp.stream_until_closed(tuned.api, head, _endless(b"", b"b"), max_bytes=2000, interval=0.5,
                                          timeout=limit)
    assert res.closed, f"an upload dribbled at 2 B/s was still being read after {res.elapsed:.1f}s ({res.sent} B)"
    assert all(s in (400, 408, 413, 503) for s in status_of(res.responses)), status_of(res.responses)
    assert tuned.get_asset(up["asset_id"])["status"] == "waiting_upload"


def test_200_idle_connections_do_not_delay_a_fresh_request(tuned):
    socks = []
    try:
        for _ in range(200):
            socks.append(socket.create_connection(("127.0.0.1", tuned.api_port), timeout=5))
        t0 = time.monotonic()
        r = requests.get(tuned.api + "/readyz", timeout=5)
        took = time.monotonic() - t0
        assert r.status_code == 200
        assert took < 1.0, f"/readyz took {took:.2f}s with 200 idle connections open"
    finally:
        for s in socks:
            s.close()
    assert_alive(tuned)


def test_dribbling_uploads_do_not_stall_other_routes(tuned):
    """Twenty uploads sending a byte every 0.3 s: each used to hold one of the 16
    handler threads, so every other route waited."""
    n = 20
    uploads = [tuned.create_upload() for _ in range(n)]
    stop = threading.Event()
    socks = []

    def dribble(up):
        path = "/" + up["upload_url"].split("/", 3)[3]
        s = socket.create_connection(("127.0.0.1", tuned.api_port), timeout=10)
        socks.append(s)
        s.sendall((f"PUT {path} HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {tuned.api_key}\r\n"
                   f"Content-Length: 100000\r\n\r\n").encode())
        while not stop.is_set():
            try:
                s.sendall(b"x")
            except OSError:
                return
            stop.wait(0.3)

    with unchanged(tuned):
        threads = [threading.Thread(target=dribble, args=(u,), daemon=True) for u in uploads]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)  # every dribbler is connected and inside its body
            t0 = time.monotonic()
            try:
                r = requests.get(tuned.api + "/v1/assets?limit=1", headers=tuned.auth(), timeout=3)
                status = r.status_code
            except requests.RequestException as e:
                status = repr(e)
            took = time.monotonic() - t0
        finally:
            stop.set()
            for s in socks:
                s.close()
            for t in threads:
                t.join(timeout=5)
    assert status == 200, f"GET /v1/assets during {n} dribbling uploads: {status}"
    assert took < 1.0, f"GET /v1/assets took {took:.2f}s during {n} dribbling uploads"
    for up in uploads:
        assert tuned.get_asset(up["asset_id"])["status"] == "waiting_upload"


# --- traversal on /v/{id}/… and /api/player/{id}/artifact/… -----------------------------------

@pytest.mark.parametrize("route", ["edge", "legacy"])
@pytest.mark.parametrize("where", ["cookie", "query"])
def test_control_the_same_credential_on_a_valid_path_is_served(rend, route, where):
    """The refusals below are refusals of the path or the credential, not of the setup."""
    aid = assets_of(rend)["ctl"]
    tok = token(rend, aid)
    base, target = ((rend.edge, f"/v/{aid}/720p/seg_00000.ts") if route == "edge"
                    else (rend.api, f"/api/player/{aid}/artifact/720p/seg_00000.ts"))
    headers = {"Cookie": f"rend_playback={tok}"} if where == "cookie" else {}
    if where == "query":
        target += f"?token={tok}"
    r = rawhttp.request(base, "GET", target, headers=headers, timeout=10)
    assert r.status == 200, f"GET {target} -> {r.status} {r.body[:200]!r}"
    assert len(r.body) == 10_000


TRAVERSALS = [
    "../../canary.m3u8",
    "../../../canary.m3u8",
    "%2e%2e/%2e%2e/canary.m3u8",
    "%2E%2E/%2E%2E/%2E%2E/canary.m3u8",
    "%252e%252e/%252e%252e/canary.m3u8",
    "..%2f..%2fcanary.m3u8",
    "720p%2f..%2f..%2f..%2fcanary.m3u8",
    "720p%2findex.m3u8",
    "..\\..\\canary.m3u8",
    "720p\\index.m3u8",
    "master.m3u8;/../../../canary.m3u8",
    "720p;/index.m3u8",
    "master.m3u8%00.ts",
    "%00/../../canary.m3u8",
    "%c0%ae%c0%ae/%c0%ae%c0%ae/canary.m3u8",
    "/../../canary.m3u8",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "720p//index.m3u8",
    "../{other}/master.m3u8",
    "%2e%2e%2f{other}%2fmaster.m3u8",
]


@pytest.mark.parametrize("route", ["edge", "legacy"])
@pytest.mark.parametrize("payload", TRAVERSALS)
def test_traversal_is_refused(rend, route, payload):
    ids = assets_of(rend)
    aid = ids["aid"]
    tok = token(rend, aid)
    path = payload.replace("{other}", ids["other"])
    if route == "edge":
        base, target = rend.edge, f"/v/{aid}/{path}"
    else:
        base, target = rend.api, f"/api/player/{aid}/artifact/{path}"
    sep = "&" if "?" in target else "?"
    with unchanged(rend):
        r = rawhttp.request(base, "GET", f"{target}{sep}token={tok}", headers={"Cookie": f"rend_playback={tok}"},
                            timeout=10)
    assert r.status in (400, 403, 404), f"GET {target} -> {r.status} {r.body[:200]!r}"
    assert CANARY not in r.body and b"root:" not in r.body


@pytest.mark.parametrize("route", ["edge", "legacy"])
def test_absolute_form_target_with_traversal_is_refused(rend, route):
    aid = assets_of(rend)["aid"]
    tok = token(rend, aid)
    base = rend.edge if route == "edge" else rend.api
    prefix = f"/v/{aid}" if route == "edge" else f"/api/player/{aid}/artifact"
    with unchanged(rend):
        r = rawhttp.request(base, "GET", f"{base}{prefix}/../../../canary.m3u8?token={tok}", timeout=10)
    assert r.status in (400, 403, 404), r.status
    assert CANARY not in r.body


@pytest.mark.parametrize("route", ["edge", "legacy"])
def test_valid_token_for_another_assets_path_gets_403(rend, route):
    ids = assets_of(rend)
    tok = token(rend, ids["aid"])
    base = rend.edge if route == "edge" else rend.api
    target = f"/v/{ids['other']}/master.m3u8" if route == "edge" else f"/api/player/{ids['other']}/artifact/master.m3u8"
    with unchanged(rend):
        r = rawhttp.request(base, "GET", f"{target}?token={tok}", timeout=10)
        r2 = rawhttp.request(base, "GET", target, headers={"Cookie": f"rend_playback={tok}"}, timeout=10)
    assert (r.status, r2.status) == (403, 403)


RANGES = {
    "many_ranges": "bytes=" + ",".join(f"{i}-{i}" for i in range(1000)),
    "suffix_zero": "bytes=-0",
    "reversed": "bytes=5-2",
    "start_overflow": "bytes=99999999999999999999-",
    "end_overflow": "bytes=0-99999999999999999999",
    "other_unit": "items=0-5",
    "double_dash": "bytes=--5",
    "trailing_garbage": "bytes=0-5x",
    "negative_start": "bytes=-5-10",
    "empty": "bytes=",
    "beyond_end": "bytes=20000-30000",
}


@pytest.mark.parametrize("case", sorted(RANGES))
def test_hostile_range_gets_a_consistent_answer(rend, case):
    """Whatever the edge makes of a malformed Range, the answer is self-consistent:
    the whole object (200), one satisfiable range with a matching Content-Range (206),
    or 416 with `bytes */size`."""
    ctl = assets_of(rend)["ctl"]
    size = 10_000
    with unchanged(rend):
        r = rawhttp.request(rend.edge, "GET", f"/v/{ctl}/720p/seg_00000.ts",
                            headers={"Cookie": f"rend_playback={token(rend, ctl)}", "Range": RANGES[case]}, timeout=10)
    assert r.status in (200, 206, 416), f"{case}: {r.status}"
    if r.status == 200:
        assert len(r.body) == size
    elif r.status == 206:
        first, last = map(int, r.headers["content-range"].removeprefix("bytes ").split("/")[0].split("-"))
        assert r.headers["content-range"].endswith(f"/{size}") and 0 <= first <= last < size, r.headers
        assert len(r.body) == last - first + 1
    else:
        assert r.headers.get("content-range") == f"bytes */{size}", r.headers


# --- credential tampering ------------------------------------------------------------------

def _parts(tok: str) -> list:
    return tok.split(".")


def _flip(tok: str) -> str:
    p = _parts(tok)
    sig = p[-1]
    i = len(sig) // 2  # a middle character: every bit of it is signature data
    p[-1] = sig[:i] + ("A" if sig[i] != "A" else "B") + sig[i + 1:]
    return ".".join(p)


def _swap_asset(tok: str, other: str) -> str:
    p = _parts(tok)
    p[3] = other
    return ".".join(p)


TAMPERED = {
    "flipped_signature": (lambda s, ids: _flip(token(s, ids["aid"])), 401),
    "swapped_asset_id": (lambda s, ids: _swap_asset(token(s, ids["other"]), ids["aid"]), 401),
    "expired": (lambda s, ids: token(s, ids["aid"], ttl=-10), 401),
    "wrong_key_id": (lambda s, ids: token(s, ids["aid"], kid="other"), 401),
    "wrong_secret": (lambda s, ids: sign_with(ids["aid"], secret="x" * 48), 401),
    "truncated": (lambda s, ids: token(s, ids["aid"])[:-6], 401),
    "truncated_half": (lambda s, ids: token(s, ids["aid"])[: len(token(s, ids["aid"])) // 2], 401),
    "v2_extra_dot": (lambda s, ids: token(s, ids["aid"]).replace("v2.", "v2..", 1), 401),
    "v1_extra_dots": (lambda s, ids: token(s, ids["aid"], session="").replace(f".{ids['aid']}.", f".{ids['aid']}..", 1),
                      401),
    "v1_trailing_dot": (lambda s, ids: token(s, ids["aid"], session="") + ".", 401),
    "empty": (lambda s, ids: "", 401),
    "cookie_for_another_asset": (lambda s, ids: token(s, ids["other"]), 403),
}


@pytest.mark.parametrize("where", ["cookie", "query"])
@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_tampered_playback_credential_is_refused(rend, case, where):
    ids = assets_of(rend)
    make, want = TAMPERED[case]
    tok = make(rend, ids)
    target = f"/v/{ids['aid']}/master.m3u8"
    headers = {}
    if where == "cookie":
        headers["Cookie"] = f"rend_playback={tok}"
    else:
        target += f"?token={tok}"
    with unchanged(rend):
        r = rawhttp.request(rend.edge, "GET", target, headers=headers, timeout=10)
    assert r.status == want, f"{case} in {where}: {r.status} {r.body[:200]!r}"


# The edge and the API's legacy route run one credential check (src/playback/credential.h),
# so a bad credential gets the same status AND error code on both.
SAME_REFUSAL = {
    "missing": (lambda s, ids: None, 401, "missing_credential"),
    "empty": (lambda s, ids: "", 401, "missing_credential"),
    "expired": (lambda s, ids: token(s, ids["aid"], ttl=-10), 401, "token_expired"),
    "wrong_asset": (lambda s, ids: token(s, ids["other"]), 403, "wrong_asset"),
    "tampered": (lambda s, ids: _flip(token(s, ids["aid"])), 401, "invalid_token"),
    "wrong_key_id": (lambda s, ids: token(s, ids["aid"], kid="other"), 401, "invalid_token"),
}


@pytest.mark.parametrize("where", ["cookie", "query"])
@pytest.mark.parametrize("case", sorted(SAME_REFUSAL))
def test_edge_and_legacy_route_refuse_a_credential_alike(rend, case, where):
    ids = assets_of(rend)
    make, want_status, want_code = SAME_REFUSAL[case]
    tok = make(rend, ids)
    answers = {}
    with unchanged(rend):
        for route, base, target in (("edge", rend.edge, f"/v/{ids['aid']}/master.m3u8"),
                                    ("legacy", rend.api, f"/api/player/{ids['aid']}/artifact/master.m3u8")):
            headers = {}
            if tok is not None and where == "cookie":
                headers["Cookie"] = f"rend_playback={tok}"
            elif tok is not None:
                target += f"?token={tok}"
            r = rawhttp.request(base, "GET", target, headers=headers, timeout=10)
            try:
                code = json.loads(r.body)["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = r.body[:200]
            answers[route] = (r.status, code)
    assert answers == {"edge": (want_status, want_code), "legacy": (want_status, want_code)}, f"{case} in {where}"


def test_edge_and_legacy_route_answer_the_same_cache_control(rend):
    """One Cache-Control per artifact kind (src/playback/paths.h), on both routes: short
    and private for playlists, immutable for segments."""
    ctl = assets_of(rend)["ctl"]
    tok = token(rend, ctl)
    want = {"master.m3u8": "private, max-age=1", "720p/index.m3u8": "private, max-age=1",
            "720p/seg_00000.ts": "private, max-age=31536000, immutable"}
    got = {}
    for path in want:
        for route, url in (("edge", f"{rend.edge}/v/{ctl}/{path}"),
                           ("legacy", f"{rend.api}/api/player/{ctl}/artifact/{path}")):
            r = requests.get(url, cookies={"rend_playback": tok}, timeout=10)
            assert r.status_code == 200, f"{route} {path}: {r.status_code}"
            got[(route, path)] = r.headers.get("cache-control")
    assert got == {(route, p): cc for p, cc in want.items() for route in ("edge", "legacy")}


@pytest.mark.parametrize("where", ["cookie", "query"])
def test_huge_token_is_refused(rend, where):
    aid = assets_of(rend)["aid"]
    tok = token(rend, aid)[:-43] + "A" * 65536
    target = f"/v/{aid}/master.m3u8"
    headers = {"Cookie": f"rend_playback={tok}"} if where == "cookie" else {}
    if where == "query":
        target += f"?token={tok}"
    with unchanged(rend):
        responses, _ = rawhttp.exchange(
            rend.edge, (f"GET {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
                        + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode(), timeout=5)
    assert len(responses) == 1 and responses[0][0] in (400, 401, 414, 431), status_of(responses)


@pytest.mark.parametrize("route", ["edge", "legacy"])
def test_bad_query_token_is_not_rescued_by_a_good_cookie(rend, route):
    aid = assets_of(rend)["aid"]
    good = token(rend, aid)
    target = f"/v/{aid}/master.m3u8" if route == "edge" else f"/api/player/{aid}/artifact/master.m3u8"
    base = rend.edge if route == "edge" else rend.api
    with unchanged(rend):
        r = rawhttp.request(base, "GET", f"{target}?token={_flip(good)}", headers={"Cookie": f"rend_playback={good}"},
                            timeout=10)
    assert r.status == 401, r.status


API_KEY_TAMPERING = {
    "wrong": lambda k: "Bearer rend_sk_" + base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode(),
    "truncated": lambda k: "Bearer " + k[:-4],
    "extended": lambda k: "Bearer " + k + "A",
    "basic_scheme": lambda k: "Basic " + base64.b64encode(f"{k}:".encode()).decode(),
    "empty_bearer": lambda k: "Bearer ",
    "bearer_no_space": lambda k: "Bearer" + k,
    "two_keys": lambda k: f"Bearer {k} {k}",
}


@pytest.mark.parametrize("case", sorted(API_KEY_TAMPERING))
def test_bad_api_key_gets_401(rend, case):
    header = API_KEY_TAMPERING[case](rend.api_key)
    with unchanged(rend):
        r1 = requests.get(rend.api + "/v1/assets", headers={"Authorization": header}, timeout=10)
        r2 = requests.post(rend.api + "/v1/uploads", json={}, headers={"Authorization": header}, timeout=10)
    assert (r1.status_code, r2.status_code) == (401, 401), (r1.text, r2.text)


@pytest.fixture(scope="module")
def narrow_keys(rend):
    """Keys with one scope each, per backend server."""
    return {s: rend.create_key(s, name=f"hostile-{s}") for s in ("read", "analytics", "upload")}


def test_key_lacking_a_scope_gets_403(rend, narrow_keys):
    aid = assets_of(rend)["aid"]
    with unchanged(rend):
        r1 = requests.get(rend.api + "/v1/assets", headers=rend.auth(narrow_keys["analytics"]), timeout=10)
        r2 = requests.post(rend.api + "/v1/uploads", json={}, headers=rend.auth(narrow_keys["read"]), timeout=10)
        r3 = requests.delete(f"{rend.api}/v1/assets/{aid}", headers=rend.auth(narrow_keys["read"]), timeout=10)
        r4 = requests.get(f"{rend.api}/v1/analytics/assets/{aid}", headers=rend.auth(narrow_keys["upload"]), timeout=10)
    assert [r.status_code for r in (r1, r2, r3, r4)] == [403] * 4
    assert rend.get_asset(aid)["status"] != "deleted"


def test_analytics_edges_needs_the_operator_scope(rend, narrow_keys):
    r = requests.get(rend.api + "/v1/analytics/edges", headers=rend.auth(narrow_keys["analytics"]), timeout=10)
    assert r.status_code == 403, f"an analytics-only key saw every tenant's edge totals: {r.status_code} {r.text[:300]}"


INTERNAL = {
    "edge_purge": ("edge", "POST", "/internal/purge", {"asset_id": "{ctl}"}),
    "edge_warm": ("edge", "POST", "/internal/warm", {"asset_id": "{ctl}"}),
    "api_telemetry": ("api", "POST", "/internal/telemetry", {"batch_id": "b", "events": []}),
    "api_edges_list": ("api", "GET", "/internal/edges", None),
}


@pytest.mark.parametrize("cred", ["none", "wrong", "api_key", "signing_secret"])
@pytest.mark.parametrize("endpoint", sorted(INTERNAL))
def test_internal_endpoints_refuse_other_credentials(rend, endpoint, cred):
    """/internal/* take only their bearer token; a cached object survives a refused purge."""
    ctl = assets_of(rend)["ctl"]
    seg = f"{rend.edge}/v/{ctl}/720p/seg_00002.ts"
    cookie = {"Cookie": f"rend_playback={token(rend, ctl)}"}
    assert requests.get(seg, headers=cookie, timeout=10).status_code == 200  # now cached
    which, method, path, body = INTERNAL[endpoint]
    if body:
        body = {k: (v.format(ctl=ctl) if isinstance(v, str) else v) for k, v in body.items()}
    headers = {"none": {}, "wrong": {"Authorization": f"Bearer {rend.internal_token}x"},
               "api_key": rend.auth(), "signing_secret": {"Authorization": f"Bearer {secret_of(rend)}"}}[cred]
    with unchanged(rend):
        r = requests.request(method, (rend.api if which == "api" else rend.edge) + path, json=body, headers=headers,
                             timeout=10)
    assert r.status_code == 401, f"{endpoint} with {cred}: {r.status_code} {r.text[:200]}"
    again = requests.get(seg, headers=cookie, timeout=10)
    assert again.status_code == 200 and again.headers.get("x-rend-cache") == "HIT", dict(again.headers)


@pytest.fixture(scope="module")
def stranger(rend):
    """Another customer: an all-scopes key of its own (per backend server)."""
    return rend.create_key("upload,read,delete,analytics", name="hostile-stranger")


def test_another_customers_key_sees_and_touches_nothing(rend, stranger):
    ids = assets_of(rend)
    aid = ids["ctl"]
    up = rend.create_upload()
    path = "/" + up["upload_url"].split("/", 3)[3]
    auth = rend.auth(stranger)
    with unchanged(rend):
        got = {
            "get": requests.get(f"{rend.api}/v1/assets/{aid}", headers=auth, timeout=10).status_code,
            "delete": requests.delete(f"{rend.api}/v1/assets/{aid}", headers=auth, timeout=10).status_code,
            "playback": requests.post(f"{rend.api}/v1/assets/{aid}/playback", headers=auth, timeout=10).status_code,
            "analytics": requests.get(f"{rend.api}/v1/analytics/assets/{aid}", headers=auth, timeout=10).status_code,
            "put_upload": requests.put(rend.api + path, data=b"z" * 100, headers=auth, timeout=10).status_code,
        }
        listed = requests.get(f"{rend.api}/v1/assets?limit=100", headers=auth, timeout=10).json()["data"]
    assert all(s in (403, 404) for s in got.values()), got
    assert not {a["id"] for a in listed} & {aid, up["asset_id"]}, "another customer's assets are listed"
    assert rend.get_asset(aid)["status"] != "deleted"
    assert rend.get_asset(up["asset_id"])["status"] == "waiting_upload"


def test_private_bootstrap_needs_the_owners_key(rend, stranger):
    aid = rend.create_upload(visibility="private")["asset_id"]
    with unchanged(rend):
        anon = requests.get(f"{rend.api}/api/player/{aid}", timeout=10)
        other = requests.get(f"{rend.api}/api/player/{aid}", headers=rend.auth(stranger), timeout=10)
    assert (anon.status_code, other.status_code) in {(401, 403), (401, 404), (404, 404)}, (anon.text, other.text)
    assert "set-cookie" not in anon.headers and "set-cookie" not in other.headers


# --- methods and CORS --------------------------------------------------------------------------

READ_ONLY = {
    "api_healthz": ("api", "/healthz"),
    "api_player": ("api", "/api/player/{aid}"),
    "api_watch": ("api", "/watch/{aid}"),
    "api_analytics": ("api", "/v1/analytics/assets/{aid}"),
    "edge_artifact": ("edge", "/v/{aid}/master.m3u8"),
    "edge_healthz": ("edge", "/healthz"),
}


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PATCH", "DELETE"])
@pytest.mark.parametrize("route", sorted(READ_ONLY))
def test_other_methods_on_read_only_routes_get_405_with_allow(embedded, method, route):
    which, path = READ_ONLY[route]
    aid = assets_of(embedded)["aid"]
    base = embedded.api if which == "api" else embedded.edge
    with unchanged(embedded):
        r = rawhttp.request(base, method, path.format(aid=aid), headers={"Authorization": f"Bearer {embedded.api_key}"},
                            timeout=10)
    assert r.status == 405, f"{method} {path}: {r.status}"
    allow = {m.strip() for m in r.headers.get("allow", "").split(",")}
    assert {"GET", "HEAD"} <= allow, f"{method} {path}: Allow: {r.headers.get('allow')!r}"
    assert method not in allow


@pytest.mark.parametrize("which", ["api", "edge"])
@pytest.mark.parametrize("origin", ["https://evil.example", "null", "https://good.example.evil.example"])
def test_preflight_from_a_foreign_origin_gets_no_allow_origin(tuned, which, origin):
    aid = assets_of(tuned)["aid"]
    base, path = (tuned.api, "/v1/uploads") if which == "api" else (tuned.edge, f"/v/{aid}/master.m3u8")
    with unchanged(tuned):
        r = requests.options(base + path, headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
                             timeout=10)
        g = requests.get(base + "/healthz", headers={"Origin": origin}, timeout=10)
    for resp in (r, g):
        assert "access-control-allow-origin" not in resp.headers, dict(resp.headers)
        assert "access-control-allow-credentials" not in resp.headers, dict(resp.headers)


@pytest.mark.parametrize("which", ["api", "edge"])
def test_allowed_origin_is_reflected_exactly_never_star(tuned, which):
    aid = assets_of(tuned)["aid"]
    base, path = (tuned.api, "/v1/uploads") if which == "api" else (tuned.edge, f"/v/{aid}/master.m3u8")
    with unchanged(tuned):
        pre = requests.options(base + path, headers={"Origin": GOOD_ORIGIN, "Access-Control-Request-Method": "GET"},
                               timeout=10)
        get = requests.get(base + "/healthz", headers={"Origin": GOOD_ORIGIN}, timeout=10)
    for resp in (pre, get):
        assert resp.headers.get("access-control-allow-origin") == GOOD_ORIGIN, dict(resp.headers)
        assert resp.headers.get("access-control-allow-credentials") == "true"
        assert "Origin" in resp.headers.get("vary", "")


# --- JSON and query values ----------------------------------------------------------------------

BAD_JSON = {
    "visibility_number": b'{"visibility": 5}',
    "visibility_unknown": b'{"visibility": "everyone"}',
    "size_string": b'{"size_bytes": "10"}',
    "size_negative": b'{"size_bytes": -1}',
    "size_fraction": b'{"size_bytes": 1.5}',
    "array_body": b"[]",
    "string_body": b'"public"',
    "duplicate_keys": b'{"visibility": "public", "visibility": "private"}',
    "trailing_garbage": b'{"visibility": "public"} x',
    "two_objects": b"{}{}",
    "non_utf8": b'{"visibility": "\xff\xfe"}',
    "unterminated": b'{"visibility": "public"',
}


@pytest.mark.parametrize("case", sorted(BAD_JSON))
def test_bad_json_gets_400_and_creates_nothing(rend, case):
    with unchanged(rend):
        r = requests.post(rend.api + "/v1/uploads", data=BAD_JSON[case],
                          headers={**rend.auth(), "Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400, f"{case}: {r.status_code} {r.text[:300]}"
    assert r.json().get("error"), r.text


def test_oversized_json_body_gets_413_and_creates_nothing(rend):
    body = b'{"visibility": "public", "pad": "' + b"a" * (2 * MIB) + b'"}'
    with unchanged(rend):
        r = rawhttp.request(rend.api, "POST", "/v1/uploads", headers={**rend.auth(), "Content-Type": "application/json"},
                            body=[body[i:i + 65536] for i in range(0, len(body), 65536)], content_length=len(body))
    assert r.status == 413, r.status


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_deeply_nested_json_gets_400_quickly(rend, opener):
    body = opener * 100_000
    with unchanged(rend):
        t0 = time.monotonic()
        r = requests.post(rend.api + "/v1/uploads", data=body,
                          headers={**rend.auth(), "Content-Type": "application/json"}, timeout=10)
        took = time.monotonic() - t0
    assert r.status_code == 400, r.status_code
    assert took < 2.0, f"{took:.2f}s for a nested body"


BAD_QUERIES = {
    "limit_suffix": "/v1/assets?limit=5abc",
    "limit_negative": "/v1/assets?limit=-1",
    "limit_huge": "/v1/assets?limit=99999999999999999999",
    "limit_empty": "/v1/assets?limit=",
    "limit_space": "/v1/assets?limit=%205",
    "analytics_from_word": "/v1/analytics/assets/{aid}?from=yesterday",
    "analytics_to_suffix": "/v1/analytics/assets/{aid}?to=1700000000000x",
    "analytics_from_huge": "/v1/analytics/assets/{aid}?from=99999999999999999999",
    "analytics_from_after_to": "/v1/analytics/assets/{aid}?from=1700000001000&to=1700000000000",
    "edges_from_word": "/v1/analytics/edges?from=abc",
}


@pytest.mark.parametrize("case", sorted(BAD_QUERIES))
def test_bad_query_value_gets_400(rend, case):
    aid = assets_of(rend)["aid"]
    with unchanged(rend):
        r = requests.get(rend.api + BAD_QUERIES[case].format(aid=aid), headers=rend.auth(), timeout=10)
    assert r.status_code == 400, f"{case}: {r.status_code} {r.text[:300]}"


# --- watch page -----------------------------------------------------------------------------------

def _csp_directives(value: str) -> dict:
    out = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            out.setdefault(words[0].lower(), words[1:])
    return out


def test_watch_page_with_a_foreign_api_origin_carries_a_strict_csp(embedded):
    aid = assets_of(embedded)["aid"]
    r = requests.get(f"{embedded.api}/watch/{aid}", params={"api": "https://evil.example"}, timeout=10)
    assert r.status_code == 200
    assert r.headers.get("x-content-type-options", "").lower() == "nosniff", dict(r.headers)
    csp = r.headers.get("content-security-policy")
    assert csp, f"no Content-Security-Policy on the watch page: {dict(r.headers)}"
    d = _csp_directives(csp)
    scripts = d.get("script-src", d.get("default-src"))
    assert scripts is not None, f"CSP restricts no scripts: {csp}"
    # A source expression that would let evil.example's script run.
    permissive = {"*", "https:", "http:", "https://evil.example", "*.example", "https://*.example"}
    assert not permissive & set(scripts), f"script-src allows evil.example: {csp}"
    assert not any("evil.example" in s for s in scripts), csp


# --- analytics inflation --------------------------------------------------------------------------

def _analytics(srv: RendServer, aid: str) -> dict:
    r = requests.get(f"{srv.api}/v1/analytics/assets/{aid}", headers=srv.auth(), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


INFLATION = {
    "head_segment": (lambda srv, ids, tok, etag: requests.head(
        f"{srv.edge}/v/{ids['aid']}/720p/seg_00002.ts", headers={"Cookie": f"rend_playback={tok}"}, timeout=10), 200),
    "made_up_cookie": (lambda srv, ids, tok, etag: requests.get(
        f"{srv.edge}/v/{ids['aid']}/720p/seg_00002.ts",
        headers={"Cookie": f"rend_playback=v2.dev.{int(time.time()) + 3600}.{ids['aid']}.sfake.AAAA"}, timeout=10), 401),
    "wrong_asset_403": (lambda srv, ids, tok, etag: requests.get(
        f"{srv.edge}/v/{ids['aid']}/720p/seg_00002.ts",
        headers={"Cookie": f"rend_playback={token(srv, ids['other'])}"}, timeout=10), 403),
    "options_preflight": (lambda srv, ids, tok, etag: requests.options(
        f"{srv.edge}/v/{ids['aid']}/720p/seg_00002.ts",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET",
                 "Cookie": f"rend_playback={tok}"}, timeout=10), 204),
    "method_405": (lambda srv, ids, tok, etag: requests.post(
        f"{srv.edge}/v/{ids['aid']}/720p/seg_00002.ts", headers={"Cookie": f"rend_playback={tok}"}, timeout=10), 405),
    "not_modified_304": (lambda srv, ids, tok, etag: requests.get(
        f"{srv.edge}/v/{ids['aid']}/720p/seg_00000.ts",
        headers={"Cookie": f"rend_playback={tok}", "If-None-Match": etag}, timeout=10), 304),
}


@pytest.mark.parametrize("case", sorted(INFLATION))
def test_refused_and_bodiless_requests_do_not_inflate_analytics(rend, case):
    """Control: a playlist and two segments with one session are counted (3 requests,
    1 view, 8 media seconds); the request under test between them adds nothing."""
    aid = seed_asset(rend)
    ids = {"aid": aid, "other": assets_of(rend)["other"]}
    tok = token(rend, aid)
    cookie = {"Cookie": f"rend_playback={tok}"}
    sent = 0
    with unchanged(rend):
        r = requests.get(f"{rend.edge}/v/{aid}/720p/index.m3u8", headers=cookie, timeout=10)
        assert r.status_code == 200
        sent += len(r.content)
        r = requests.get(f"{rend.edge}/v/{aid}/720p/seg_00000.ts", headers=cookie, timeout=10)
        assert r.status_code == 200 and r.headers.get("etag")
        sent += len(r.content)
        make, want = INFLATION[case]
        got = make(rend, ids, tok, r.headers["etag"])
        assert got.status_code == want, f"{case}: {got.status_code}"
        r = requests.get(f"{rend.edge}/v/{aid}/720p/seg_00001.ts", headers=cookie, timeout=10)
        assert r.status_code == 200
        sent += len(r.content)
    # The edge ships events in order: once the last control request is counted,
    # whatever came before it is counted too.
    deadline = time.monotonic() + 20
    a = _analytics(rend, aid)
    while a["requests"] < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
        a = _analytics(rend, aid)
    assert a["requests"] == 3, f"{case}: {a}"
    assert a["views"] == 1, f"{case}: {a}"
    assert a["bytes"] == sent, f"{case}: {a} (control bytes {sent})"
    minutes = a["delivered_minutes"]
    assert set(minutes) == {"720p"} and abs(minutes["720p"] - 8 / 60) < 1e-6, f"{case}: {a}"


# --- edge registry (the dedicated server's own edge) ----------------------------------------------

def _edges(srv: RendServer) -> list:
    r = requests.get(srv.api + "/internal/edges", headers={"Authorization": f"Bearer {srv.internal_token}"},
                     timeout=10)
    assert r.status_code == 200, r.text
    return [{k: e[k] for k in ("edge_id", "region", "base_url")} for e in r.json()["data"]]


def _registered(srv: RendServer) -> list:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        edges = _edges(srv)
        if edges:
            return edges
        time.sleep(0.2)
    pytest.fail("the dev edge never registered")


@pytest.mark.parametrize("auth", ["internal_token", "none", "api_key"])
def test_heartbeat_cannot_take_over_a_fresh_edge(tuned, auth):
    before = _registered(tuned)
    e = before[0]
    headers = {"internal_token": {"Authorization": f"Bearer {tuned.internal_token}"}, "none": {},
               "api_key": tuned.auth()}[auth]
    body = {"edge_id": e["edge_id"], "region": e["region"], "base_url": "http://127.0.0.1:9", "version": "evil"}
    r = requests.post(tuned.api + "/internal/edges/heartbeat", json=body, headers=headers, timeout=10)
    want = 409 if auth == "internal_token" else 401
    assert r.status_code == want, f"{auth}: {r.status_code} {r.text[:300]}"
    assert _edges(tuned) == before


# --- last: nothing refused above was counted -------------------------------------------------

def test_refusals_of_this_file_left_no_trace_in_analytics(rend):
    """Every request above on the two seeded assets was refused (traversal, tampered
    credentials, other methods…). One real GET on each now: once it is counted, every
    earlier event of that asset is too (the edge ships in order), and it must be alone."""
    ids = assets_of(rend)
    for name in ("aid", "other"):
        aid = ids[name]
        r = requests.get(f"{rend.edge}/v/{aid}/720p/seg_00000.ts", headers={"Cookie": f"rend_playback={token(rend, aid)}"},
                         timeout=10)
        assert r.status_code == 200
    for name in ("aid", "other"):
        deadline = time.monotonic() + 20
        a = _analytics(rend, ids[name])
        while a["requests"] < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
            a = _analytics(rend, ids[name])
        assert (a["requests"], a["views"], a["bytes"]) == (1, 1, 10_000), f"{name}: refused requests were counted: {a}"
