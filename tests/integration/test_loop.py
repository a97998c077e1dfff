"""The whole loop against a real `rend dev`: upload -> transcode -> playback through the edge.

SPEC §4 (customer API), §5 (player bootstrap), §6 (edge). Every test talks HTTP to the
running binary; the object store is inspected on disk only to prove that things were
(not) stored or were removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import re
import signal
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import pytest
import requests

import rawhttp
from conftest import REPO_ROOT, SESSION_MAX_UPLOAD_BYTES, ffprobe_json, parse_ts

HLS_TIMEOUT_S = 90
TS_SYNC = 0x47
M3U8_TYPE = "application/vnd.apple.mpegurl"
TS_TYPE = "video/mp2t"
JPEG_TYPE = "image/jpeg"


# --- helpers ------------------------------------------------------------------------------

def assert_error(r, status: int, what: str):
    """Status plus the JSON error envelope {"error": {"code", "message"}}."""
    body = getattr(r, "text", None)
    if body is None:
        body = r.body.decode("utf-8", "replace")
    status_code = getattr(r, "status_code", None) or r.status
    assert status_code == status, f"{what}: expected {status}, got {status_code}: {body[:500]}"
    try:
        j = r.json()
    except ValueError:
        note = ""
        if getattr(r, "reset", False):
            note = (" (the server reset the connection before its response body arrived: it closed the socket "
                    "with request bytes unread instead of half-closing and draining, so clients can lose the "
                    f"error; headers were {r.headers})")
        pytest.fail(f"{what}: error body is not JSON: {body[:500]!r}{note}")
    err = j.get("error") if isinstance(j, dict) else None
    assert isinstance(err, dict) and isinstance(err.get("code"), str) and err["code"], (
        f"{what}: error body lacks error.code: {j}"
    )
    assert isinstance(err.get("message"), str), f"{what}: error body lacks error.message: {j}"
    return err


def content_type(r) -> str:
    headers = r.headers if hasattr(r, "headers") else {}
    return headers.get("content-type", headers.get("Content-Type", "")).split(";")[0].strip().lower()


def m3u8_uris(text: str) -> list[str]:
    """Every URI in a playlist: the non-tag lines and the URI="..." attributes of tags."""
    uris = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            uris += re.findall(r'URI="([^"]*)"', line)
        else:
            uris.append(line)
    return uris


def variant_uris(master: str) -> list[str]:
    lines = [l.strip() for l in master.splitlines()]
    out = []
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF"):
            out.append(next(l for l in lines[i + 1 :] if l and not l.startswith("#")))
    return out


def segment_uris(playlist: str) -> list[str]:
    return [l.strip() for l in playlist.splitlines() if l.strip() and not l.strip().startswith("#")]


def target_of(url: str) -> str:
    u = urlsplit(url)
    return u.path + (("?" + u.query) if u.query else "")


def flip_char(token: str, index: int) -> str:
    """Replaces token[index] by a character that differs even case-insensitively (hex and
    base64 both stay well-formed)."""
    c = token[index]
    if c.isdigit():
        repl = "1" if c != "1" else "2"
    elif c.isalpha():
        repl = "b" if c.lower() != "b" else "c"
        repl = repl.upper() if c.isupper() else repl
    else:
        repl = "A"
    return token[:index] + repl + token[index + 1 :]


def tamper_signature(token: str) -> str:
    """Flips a character in the middle of the trailing signature part (the part after the
    last '.', ':' or '~'); the middle, not the end, because a base64 tail char may only
    carry padding bits."""
    start = max(token.rfind("."), token.rfind(":"), token.rfind("~")) + 1
    return flip_char(token, start + (len(token) - start) // 2)


def files_under(path: Path) -> dict:
    if not path.exists():
        return {}
    return {p: p.stat().st_size for p in path.rglob("*") if p.is_file()}


def wait_edge_gone(url: str, session=None, timeout: float = 5.0):
    get = (session or requests).get
    deadline = time.monotonic() + timeout
    while True:
        r = get(url, timeout=10)
        if r.status_code != 200 or time.monotonic() >= deadline:
            return r
        time.sleep(0.2)


# --- fixtures -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ready(rend, clips) -> dict:
    """A public 640x360 H.264 asset, hls_ready."""
    asset_id = rend.upload(clips["h264_640x360"])
    return rend.wait_status(asset_id, "hls_ready", timeout=HLS_TIMEOUT_S)


@pytest.fixture(scope="module")
def other_ready(rend, clips) -> dict:
    asset_id = rend.upload(clips["h264_640x360"])
    return rend.wait_status(asset_id, "hls_ready", timeout=HLS_TIMEOUT_S)


@pytest.fixture(scope="module")
def signed(rend, ready) -> dict:
    return rend.playback(ready["id"])


# --- basics -------------------------------------------------------------------------------

def test_readyz(rend):
    for base in (rend.api, rend.edge):
        r = requests.get(base + "/readyz", timeout=5)
        assert r.status_code == 200, f"GET {base}/readyz -> {r.status_code} {r.text[:200]}"


def test_api_requires_a_valid_key(rend):
    assert_error(requests.get(rend.api + "/v1/assets", timeout=10), 401, "GET /v1/assets without a key")
    assert_error(
        requests.get(rend.api + "/v1/assets", headers={"Authorization": "Bearer rend_not_a_key"}, timeout=10),
        401,
        "GET /v1/assets with an unknown key",
    )
    assert_error(
        requests.post(rend.api + "/v1/uploads", json={}, timeout=10), 401, "POST /v1/uploads without a key"
    )


def _first_answer(base: str, head: str) -> bytes:
    """Sends a request head announcing a 100 MB body (and no body byte); returns the
    first response head."""
    u = urlsplit(base)
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(head.replace("{host}", f"{u.hostname}:{u.port}").encode("iso-8859-1"))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


@pytest.mark.parametrize(
    "role,method,target",
    [
        ("api", "POST", "/v1/uploads"),
        ("api", "PUT", "/v1/uploads/upl_0000000000000000"),
        ("api", "POST", "/v1/assets/ast_0000000000000000/playback"),
        ("api", "POST", "/internal/edges/heartbeat"),
        ("edge", "POST", "/internal/purge"),
    ],
)
def test_unauthenticated_body_is_refused_before_it_is_read(rend, role, method, target):
    # The credential is checked before the body: no 100 Continue, a 401 at once.
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: Bearer rend_not_a_key\r\n"
        "Expect: 100-continue\r\nContent-Length: 104857600\r\n\r\n"
    )
    data = _first_answer(getattr(rend, role), head)
    assert data.startswith(b"HTTP/1.1 401 "), f"{method} {target} -> {data[:200]!r}"


def test_upload_refused_by_its_handler_is_never_invited(rend):
    # A valid key, but no such upload: the handler answers before reading, so the
    # client waiting for 100 Continue gets the 404 instead.
    auth = rend.auth()["Authorization"]
    head = (
        f"PUT /v1/uploads/upl_0000000000000000 HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: {auth}\r\n"
        "Expect: 100-continue\r\nContent-Length: 104857600\r\n\r\n"
    )
    data = _first_answer(rend.api, head)
    assert data.startswith(b"HTTP/1.1 404 "), data[:200]


def test_unknown_asset_is_404(rend):
    r = requests.get(rend.api + "/v1/assets/asset_does_not_exist", headers=rend.auth(), timeout=10)
    assert_error(r, 404, "GET /v1/assets/asset_does_not_exist")


# --- upload to hls_ready ------------------------------------------------------------------

def test_upload_reaches_hls_ready_with_ordered_timestamps(ready):
    a = ready
    assert a["status"] == "hls_ready"
    assert a["progress"] == 1, f"a finished asset reports progress 1: {a.get('progress')}"
    assert a["visibility"] == "public"
    assert a["error"] is None, a
    assert a["width"] == 640 and a["height"] == 360, f"source dimensions: {a['width']}x{a['height']}"
    assert a["duration_s"] == pytest.approx(10.0, abs=0.5), a["duration_s"]
    assert isinstance(a["tiers"], list) and a["tiers"], f"no tiers: {a}"
    for t in a["tiers"]:
        assert isinstance(t.get("name"), str) and t["name"], t
        assert isinstance(t.get("width"), int) and isinstance(t.get("height"), int), t
        assert isinstance(t.get("bandwidth"), int) and t["bandwidth"] > 0, t
    assert any(t["height"] == 360 for t in a["tiers"]), f"no 360p tier for a 360p source: {a['tiers']}"
    assert isinstance(a.get("billing_tier"), str), a

    ts = {k: parse_ts(a[k]) for k in ("created_at", "uploaded_at", "processing_at", "playable_at", "hls_ready_at")}
    assert all(ts.values()), f"missing timestamps: {ts}"
    assert a["failed_at"] is None and a["deleted_at"] is None, a
    assert ts["created_at"] <= ts["uploaded_at"] <= ts["processing_at"] <= ts["playable_at"] <= ts["hls_ready_at"], (
        f"timestamps out of order: { {k: a[k] for k in ts} }"
    )
    now = datetime.now(timezone.utc)
    assert ts["hls_ready_at"] <= now, f"hls_ready_at in the future: {a['hls_ready_at']} (now {now.isoformat()})"


# --- player bootstrap (cookie) and edge ---------------------------------------------------

def test_player_bootstrap_cookie_then_edge_master_variant_segment(rend, ready):
    aid = ready["id"]
    s = requests.Session()
    r = s.get(f"{rend.api}/api/player/{aid}", timeout=10)
    assert r.status_code == 200, f"GET /api/player/{aid} -> {r.status_code} {r.text[:300]}"
    j = r.json()
    assert j["asset_id"] == aid and j["status"] == "hls_ready", j
    master_url = j["urls"]["master"]
    assert master_url == f"{rend.edge}/v/{aid}/master.m3u8", f"urls.master: {master_url}"
    for name, url in j["urls"].items():
        if url:
            assert "token" not in urlsplit(url).query, f"urls.{name} carries a token: {url}"

    cookies = r.raw.headers.getlist("Set-Cookie")
    ours = [c for c in cookies if c.strip().startswith("rend_playback=")]
    assert len(ours) == 1, f"Set-Cookie headers: {cookies}"
    attrs = {p.split("=", 1)[0].strip().lower(): (p.split("=", 1)[1].strip() if "=" in p else True)
             for p in ours[0].split(";")[1:]}
    assert attrs.get("path") == f"/v/{aid}/", f"cookie Path: {ours[0]}"
    assert attrs.get("httponly") is True, f"cookie not HttpOnly: {ours[0]}"
    assert str(attrs.get("samesite", "")).lower() == "lax", f"cookie SameSite: {ours[0]}"
    assert ours[0].split(";")[0].split("=", 1)[1], "empty rend_playback cookie"

    # master
    m = s.get(master_url, timeout=10)
    assert m.status_code == 200, f"GET {master_url} with cookie -> {m.status_code} {m.text[:300]}"
    assert content_type(m) == M3U8_TYPE, m.headers
    assert m.headers.get("x-rend-edge-id"), f"no x-rend-edge-id: {m.headers}"
    assert m.headers.get("x-rend-region"), f"no x-rend-region: {m.headers}"
    assert m.headers.get("x-rend-cache") in ("HIT", "MISS"), m.headers
    assert m.text.startswith("#EXTM3U"), m.text[:200]
    variants = variant_uris(m.text)
    assert variants, f"no variants in master:\n{m.text}"
    assert len(variants) == len(ready["tiers"]), f"master has {len(variants)} variants, asset {len(ready['tiers'])} tiers"

    # variant
    v_url = urljoin(master_url, variants[0])
    assert v_url.startswith(f"{rend.edge}/v/{aid}/"), v_url
    v = s.get(v_url, timeout=10)
    assert v.status_code == 200, f"GET {v_url} -> {v.status_code} {v.text[:300]}"
    assert content_type(v) == M3U8_TYPE, v.headers
    assert "#EXT-X-ENDLIST" in v.text, f"hls_ready variant is not a finished VOD playlist:\n{v.text}"
    segs = segment_uris(v.text)
    assert len(segs) >= 3, f"a 10 s clip should give >= 3 segments:\n{v.text}"

    # The last segment: not covered by the worker's warm (first two segments per tier).
    seg_url = urljoin(v_url, segs[-1])
    first = s.get(seg_url, timeout=10)
    assert first.status_code == 200, f"GET {seg_url} -> {first.status_code} {first.text[:300]}"
    assert content_type(first) == TS_TYPE, first.headers
    assert first.content and first.content[0] == TS_SYNC, f"not MPEG-TS: {first.content[:8]!r}"
    assert first.headers.get("x-rend-cache") == "MISS", f"first fetch of {seg_url}: {dict(first.headers)}"
    assert first.headers.get("x-rend-edge-id"), first.headers
    second = s.get(seg_url, timeout=10)
    assert second.status_code == 200
    assert second.headers.get("x-rend-cache") == "HIT", f"second fetch of {seg_url}: {dict(second.headers)}"
    assert second.content == first.content, "HIT body differs from MISS body"

    # poster
    poster = j["urls"].get("poster")
    assert poster, f"no poster URL: {j}"
    p = s.get(poster, timeout=10)
    assert p.status_code == 200, f"GET {poster} -> {p.status_code}"
    assert content_type(p) == JPEG_TYPE, p.headers
    assert p.content[:2] == b"\xff\xd8", "poster is not a JPEG"


def test_edge_segment_headers_ranges_and_head(rend, ready, signed):
    """SPEC §6: Cache-Control (short for playlists, immutable for segments), ETag, byte ranges, HEAD."""
    token = signed["token"]
    q = "?token=" + quote(token, safe="")
    m = requests.get(signed["urls"]["master"], timeout=10)
    assert m.status_code == 200
    pl_cc = m.headers.get("cache-control", "")
    assert pl_cc and "immutable" not in pl_cc, f"playlist Cache-Control: {pl_cc!r}"
    ma = re.search(r"max-age=(\d+)", pl_cc)
    assert ma is None or int(ma.group(1)) <= 60, f"playlist max-age too long: {pl_cc!r}"

    v_url = urljoin(signed["urls"]["master"], variant_uris(m.text)[0])
    v = requests.get(v_url, timeout=10)
    seg_url = urljoin(v_url, segment_uris(v.text)[0])
    full = requests.get(seg_url, timeout=10)
    assert full.status_code == 200
    assert "immutable" in full.headers.get("cache-control", ""), f"segment Cache-Control: {full.headers}"
    assert full.headers.get("etag"), f"segment without ETag: {full.headers}"
    n = len(full.content)

    rng = requests.get(seg_url, headers={"Range": "bytes=0-187"}, timeout=10)
    assert rng.status_code == 206, f"Range bytes=0-187 -> {rng.status_code}"
    assert rng.headers.get("content-range") == f"bytes 0-187/{n}", rng.headers
    assert rng.content == full.content[:188]

    bad = requests.get(seg_url, headers={"Range": f"bytes={n}-"}, timeout=10)
    assert bad.status_code == 416, f"Range bytes={n}- on a {n}-byte object -> {bad.status_code}"

    h = requests.head(seg_url, timeout=10)
    assert h.status_code == 200 and h.content == b""
    assert int(h.headers.get("content-length", -1)) == n, h.headers
    assert content_type(h) == TS_TYPE


def test_edge_cors_allows_the_watch_page_origin(rend, ready):
    """The watch page (API origin) plays from the edge origin with credentials (SPEC §5, §6)."""
    s = requests.Session()
    j = s.get(f"{rend.api}/api/player/{ready['id']}", timeout=10).json()
    r = s.get(j["urls"]["master"], headers={"Origin": rend.api}, timeout=10)
    assert r.status_code == 200
    assert r.headers.get("access-control-allow-origin") == rend.api, dict(r.headers)
    assert r.headers.get("access-control-allow-credentials") == "true", dict(r.headers)
    assert "origin" in r.headers.get("vary", "").lower(), dict(r.headers)


# --- signed URLs (query token) ------------------------------------------------------------

def test_signed_url_is_readable_by_ffprobe(rend, ready, signed):
    assert parse_ts(signed["expires_at"]) > datetime.now(timezone.utc), signed
    master = signed["urls"]["master"]
    assert master.startswith(f"{rend.edge}/v/{ready['id']}/master.m3u8?"), master
    assert parse_qs(urlsplit(master).query).get("token") == [signed["token"]], master
    probe = ffprobe_json(master)
    videos = [s for s in probe["streams"] if s.get("codec_type") == "video"]
    assert videos, f"ffprobe found no video stream: {probe}"
    assert any(v.get("height") == 360 for v in videos), [(v.get("width"), v.get("height")) for v in videos]
    assert any(s.get("codec_type") == "audio" for s in probe["streams"]), "no audio stream"


def test_query_token_playlists_carry_the_token_in_every_uri(rend, ready, signed):
    master_url = signed["urls"]["master"]
    m = requests.get(master_url, timeout=10)  # no cookie: the token is the only credential
    assert m.status_code == 200, f"GET {master_url} -> {m.status_code} {m.text[:300]}"
    uris = m3u8_uris(m.text)
    assert uris
    for u in uris:
        assert parse_qs(urlsplit(u).query).get("token") == [signed["token"]], f"master URI without token: {u}\n{m.text}"

    v_url = urljoin(master_url, variant_uris(m.text)[0])
    v = requests.get(v_url, timeout=10)
    assert v.status_code == 200, f"GET {v_url} -> {v.status_code} {v.text[:300]}"
    for u in m3u8_uris(v.text):
        assert parse_qs(urlsplit(u).query).get("token") == [signed["token"]], f"variant URI without token: {u}\n{v.text}"
    seg = requests.get(urljoin(v_url, segment_uris(v.text)[0]), timeout=10)
    assert seg.status_code == 200 and content_type(seg) == TS_TYPE, (seg.status_code, seg.headers)


# --- refusals -----------------------------------------------------------------------------

def _artifact_urls(rend, aid) -> list[str]:
    base = f"{rend.edge}/v/{aid}/"
    return [base + "master.m3u8", base + "poster.jpg"]


def test_edge_refuses_without_credential(rend, ready, signed):
    m = requests.get(signed["urls"]["master"], timeout=10)
    v_rel = variant_uris(m.text)[0].split("?")[0]
    v = requests.get(urljoin(signed["urls"]["master"], variant_uris(m.text)[0]), timeout=10)
    seg_rel = segment_uris(v.text)[0].split("?")[0]
    base = f"{rend.edge}/v/{ready['id']}/"
    for url in _artifact_urls(rend, ready["id"]) + [urljoin(base, v_rel), urljoin(urljoin(base, v_rel), seg_rel)]:
        r = requests.get(url, timeout=10)
        assert r.status_code == 401, f"GET {url} without credential -> {r.status_code} {r.text[:200]}"
        h = requests.head(url, timeout=10)
        assert h.status_code == 401, f"HEAD {url} without credential -> {h.status_code}"


def test_edge_refuses_tampered_tokens(rend, ready, signed):
    token = signed["token"]
    url = f"{rend.edge}/v/{ready['id']}/master.m3u8"
    cases = {
        "signature char flipped": tamper_signature(token),
        "payload char flipped": flip_char(token, len(token) // 3),
        "signature truncated": token[:-6],
        "garbage": "not-a-token",
    }
    for what, bad in cases.items():
        assert bad != token
        r = requests.get(url, params={"token": bad}, timeout=10)
        assert r.status_code == 401, f"?token= {what} ({bad!r}) -> {r.status_code} {r.text[:200]}"
        r = requests.get(url, headers={"Cookie": f"rend_playback={bad}"}, timeout=10)
        assert r.status_code == 401, f"cookie {what} -> {r.status_code} {r.text[:200]}"
    # the untampered token still works (so the 401s above are about the tampering)
    assert requests.get(url, params={"token": token}, timeout=10).status_code == 200


def test_edge_refuses_another_assets_token(rend, ready, other_ready):
    other_token = rend.playback(other_ready["id"])["token"]
    for url in _artifact_urls(rend, ready["id"]):
        r = requests.get(url, params={"token": other_token}, timeout=10)
        assert r.status_code == 403, f"GET {url} with asset {other_ready['id']}'s token -> {r.status_code} {r.text[:200]}"
        r = requests.get(url, headers={"Cookie": f"rend_playback={other_token}"}, timeout=10)
        assert r.status_code == 403, f"GET {url} with asset {other_ready['id']}'s cookie -> {r.status_code}"


TRAVERSALS = [
    "/v/{id}/../{id}/master.m3u8",
    "/v/{id}/360p/../master.m3u8",
    "/v/{id}/../../objects/sources/{id}",
    "/v/{id}/%2e%2e/{id}/master.m3u8",
    "/v/{id}/%2E%2E/%2E%2E/etc/passwd",
    "/v/{id}/.%2e/master.m3u8",
    "/v/{id}/360p%2f..%2fmaster.m3u8",
    "/v/{id}/360p%2Findex.m3u8",
    "/v/{id}/..%2f..%2f..%2fetc%2fpasswd",
    "/v/{id}/%2e%2e%2f%2e%2e%2fsources%2f{id}",
    "/v/{id}/..%5cmaster.m3u8",
    "/v/{id}//etc/passwd",
    "/v/..%2f{id}/master.m3u8",
    "/v/%2e%2e/{id}/master.m3u8",
    "/v/{id}/%00master.m3u8",
]


@pytest.mark.parametrize("template", TRAVERSALS)
def test_edge_refuses_path_traversal(rend, ready, signed, template):
    """A valid token for the asset rides along, so the refusal is about the path."""
    target = template.format(id=ready["id"]) + "?token=" + quote(signed["token"], safe="")
    r = rawhttp.request(rend.edge, "GET", target)
    assert r.status in (400, 404), f"GET {target} -> {r.status} {r.body[:200]!r}"
    # still serving afterwards
    assert requests.get(rend.edge + "/readyz", timeout=5).status_code == 200


@pytest.mark.parametrize("endpoint", ["/internal/purge", "/internal/warm"])
def test_edge_internal_endpoints_need_the_internal_token(rend, ready, endpoint):
    body = {"asset_id": ready["id"]}
    r = requests.post(rend.edge + endpoint, json=body, timeout=10)
    assert r.status_code == 401, f"POST {endpoint} without Authorization -> {r.status_code} {r.text[:200]}"
    r = requests.post(rend.edge + endpoint, json=body, headers={"Authorization": "Bearer wrong-token"}, timeout=10)
    assert r.status_code == 401, f"POST {endpoint} with a wrong token -> {r.status_code} {r.text[:200]}"
    r = requests.post(rend.edge + endpoint, json=body, headers=rend.auth(), timeout=10)
    assert r.status_code == 401, f"POST {endpoint} with the customer API key -> {r.status_code} {r.text[:200]}"


def test_private_asset_player_bootstrap_needs_its_owner(rend):
    up = rend.create_upload(visibility="private")
    url = f"{rend.api}/api/player/{up['asset_id']}"
    r = requests.get(url, timeout=10)
    assert_error(r, 401, "GET /api/player/{private asset} without a key")
    assert not any(c.startswith("rend_playback=") for c in r.raw.headers.getlist("Set-Cookie")), r.headers

    stranger = rend.create_key("upload,read,delete", name="another-customer")
    r = requests.get(url, headers=rend.auth(stranger), timeout=10)
    assert_error(r, 403, "GET /api/player/{private asset} with another customer's key")

    r = requests.get(url, headers=rend.auth(), timeout=10)
    assert r.status_code == 200, f"owner's bootstrap of its private asset -> {r.status_code} {r.text[:300]}"
    assert r.json()["status"] == "waiting_upload", r.json()


def test_api_key_scopes_are_enforced(rend):
    read_only = rend.create_key("read", name="read-only")
    assert_error(
        requests.post(rend.api + "/v1/uploads", json={}, headers=rend.auth(read_only), timeout=10),
        403, "POST /v1/uploads with a read-only key",
    )
    aid = rend.create_upload()["asset_id"]
    assert_error(
        requests.delete(f"{rend.api}/v1/assets/{aid}", headers=rend.auth(read_only), timeout=10),
        403, "DELETE /v1/assets/{id} with a read-only key",
    )
    assert rend.get_asset(aid)["status"] == "waiting_upload"


def test_internal_purge_and_warm_with_the_internal_token(rend, other_ready):
    aid = other_ready["id"]
    internal = {"Authorization": f"Bearer {rend.internal_token}"}
    signed = rend.playback(aid)
    m = requests.get(signed["urls"]["master"], timeout=10)
    v_url = urljoin(signed["urls"]["master"], variant_uris(m.text)[0])
    segs = segment_uris(requests.get(v_url, timeout=10).text)
    seg1 = urljoin(v_url, segs[1])  # warm covers the first two segments of each tier

    r = requests.post(rend.edge + "/internal/purge", json={"asset_id": aid}, headers=internal, timeout=10)
    assert r.status_code == 200, f"POST /internal/purge -> {r.status_code} {r.text[:200]}"
    first = requests.get(seg1, timeout=10)
    assert first.status_code == 200 and first.headers.get("x-rend-cache") == "MISS", (
        f"after purge: {first.status_code} {first.headers.get('x-rend-cache')}"
    )

    r = requests.post(rend.edge + "/internal/purge", json={"asset_id": aid}, headers=internal, timeout=10)
    assert r.status_code == 200
    r = requests.post(rend.edge + "/internal/warm", json={"asset_id": aid}, headers=internal, timeout=30)
    assert r.status_code == 200, f"POST /internal/warm -> {r.status_code} {r.text[:200]}"
    warmed = requests.get(seg1, timeout=10)
    assert warmed.status_code == 200 and warmed.headers.get("x-rend-cache") == "HIT", (
        f"after warm: {warmed.status_code} {warmed.headers.get('x-rend-cache')}"
    )
    assert warmed.content == first.content


def test_playlists_expire_from_the_edge_cache_segments_do_not(rend, ready, signed):
    """Playlists stay in the edge cache only a few seconds; segments are immutable."""
    url = signed["urls"]["master"]
    v_url = urljoin(url, variant_uris(requests.get(url, timeout=10).text)[0])
    seg = urljoin(v_url, segment_uris(requests.get(v_url, timeout=10).text)[0])
    requests.get(seg, timeout=10)
    assert requests.get(url, timeout=10).headers.get("x-rend-cache") == "HIT"
    deadline = time.monotonic() + 10
    while True:
        time.sleep(0.5)
        r = requests.get(url, timeout=10)
        if r.headers.get("x-rend-cache") == "MISS":
            break
        assert time.monotonic() < deadline, "master playlist still a cache HIT after 10 s"
    assert requests.get(seg, timeout=10).headers.get("x-rend-cache") == "HIT", "segment left the cache"


def test_second_put_to_a_completed_upload_is_409(rend, clips):
    up = rend.create_upload()
    data = Path(clips["hevc_480x270_rot90"]).read_bytes()
    assert rend.put_bytes(up["upload_url"], data).status_code == 200
    r = rend.put_bytes(up["upload_url"], os.urandom(1000))
    assert_error(r, 409, "second PUT to an upload that already completed")
    assert rend.read_object("sources/" + up["asset_id"]) == data, "the source was overwritten"


# --- upload limits and bad input ----------------------------------------------------------

def _body(total: int, chunk: int = 64 * 1024):
    block = os.urandom(chunk)
    sent = 0
    while sent < total:
        n = min(chunk, total - sent)
        yield block[:n]
        sent += n


@pytest.mark.parametrize("mode", ["content-length", "chunked"])
@pytest.mark.parametrize("size", [SESSION_MAX_UPLOAD_BYTES + 1, 3 * SESSION_MAX_UPLOAD_BYTES])
def test_oversized_upload_is_413_and_nothing_is_stored(rend, mode, size):
    up = rend.create_upload()
    aid = up["asset_id"]
    before = files_under(rend.data_dir)
    r = rawhttp.request(
        up["upload_url"],
        "PUT",
        target_of(up["upload_url"]),
        headers={**rend.auth(), "Content-Type": "application/octet-stream"},
        body=_body(size),
        content_length=None if mode == "chunked" else size,
        chunked=(mode == "chunked"),
        timeout=60,
    )
    assert_error(r, 413, f"PUT {size} bytes ({mode}) with REND_MAX_UPLOAD_BYTES={SESSION_MAX_UPLOAD_BYTES}")

    time.sleep(0.5)  # let any cleanup the server does after the response happen
    a = rend.get_asset(aid)
    assert a["status"] == "waiting_upload", f"after a 413 the asset should still wait for its upload: {a}"
    assert a["uploaded_at"] is None, a
    assert not rend.object_keys("sources/" + aid), "source object stored despite the 413"
    mentions = [k for k in rend.object_keys("") if aid in k]
    assert not mentions, f"objects mentioning {aid} after the 413: {mentions}"
    after = files_under(rend.data_dir)
    leftovers = {str(p): n for p, n in after.items() if p not in before and n >= 1024 * 1024}
    assert not leftovers, f"large new files left behind by the rejected upload: {leftovers}"


def test_upload_can_be_retried_after_a_413(rend, clips):
    up = rend.create_upload()
    r = rawhttp.request(
        up["upload_url"], "PUT", target_of(up["upload_url"]), headers=rend.auth(),
        body=_body(SESSION_MAX_UPLOAD_BYTES + 1), content_length=SESSION_MAX_UPLOAD_BYTES + 1,
    )
    assert r.status == 413, (r.status, r.body[:200])
    data = Path(clips["hevc_480x270_rot90"]).read_bytes()
    r = rend.put_bytes(up["upload_url"], data)
    assert r.status_code == 200, f"retry PUT after 413 -> {r.status_code} {r.text[:300]}"
    assert r.json()["bytes"] == len(data)


def test_upload_of_exactly_the_limit_is_accepted(rend):
    up = rend.create_upload()
    r = rawhttp.request(
        up["upload_url"], "PUT", target_of(up["upload_url"]), headers=rend.auth(),
        body=_body(SESSION_MAX_UPLOAD_BYTES), content_length=SESSION_MAX_UPLOAD_BYTES, timeout=60,
    )
    assert r.status == 200, f"PUT of exactly REND_MAX_UPLOAD_BYTES -> {r.status} {r.body[:300]!r}"
    assert r.json()["bytes"] == SESSION_MAX_UPLOAD_BYTES


def test_random_bytes_fail_with_a_reason(rend):
    aid = rend.upload(os.urandom(200 * 1024))
    a = rend.wait_status(aid, "failed", timeout=60)
    assert isinstance(a["error"], dict), a
    assert a["error"]["code"] in ("not_a_video", "corrupt_input"), a["error"]
    assert isinstance(a["error"].get("message"), str) and a["error"]["message"], a["error"]
    assert parse_ts(a["failed_at"]) is not None
    assert a["playable_at"] is None and a["hls_ready_at"] is None, a


# --- phone footage ------------------------------------------------------------------------

def test_rotated_hevc_gets_a_portrait_ladder(rend, clips):
    aid = rend.upload(clips["hevc_480x270_rot90"])
    a = rend.wait_status(aid, "hls_ready", timeout=HLS_TIMEOUT_S)
    assert (a["width"], a["height"]) == (270, 480), f"display size of a rotated 480x270 clip: {a['width']}x{a['height']}"
    assert a["tiers"], a
    for t in a["tiers"]:
        assert t["height"] > t["width"], f"landscape tier for portrait footage: {a['tiers']}"
    probe = ffprobe_json(rend.playback(aid)["urls"]["master"])
    videos = [s for s in probe["streams"] if s.get("codec_type") == "video"]
    assert videos, probe
    for v in videos:
        assert v["codec_name"] == "h264", v["codec_name"]
        assert v["height"] > v["width"], f"output stream is {v['width']}x{v['height']}"


# --- delete, list, restart ----------------------------------------------------------------

def test_delete_removes_objects_and_edge_stops_serving(rend, clips):
    aid = rend.upload(clips["h264_640x360"])
    rend.wait_status(aid, "hls_ready", timeout=HLS_TIMEOUT_S)
    src = "sources/" + aid
    art = f"assets/{aid}/"
    assert rend.object_keys(src), f"expected the source at {src}"
    assert art + "master.m3u8" in rend.object_keys(art), f"expected artifacts under {art}: {rend.object_keys(art)}"

    signed = rend.playback(aid)
    master_url = signed["urls"]["master"]
    m = requests.get(master_url, timeout=10)
    v_url = urljoin(master_url, variant_uris(m.text)[0])
    seg_url = urljoin(v_url, segment_uris(requests.get(v_url, timeout=10).text)[0])
    for _ in range(2):  # make sure the edge has it cached
        assert requests.get(seg_url, timeout=10).status_code == 200

    r = requests.delete(f"{rend.api}/v1/assets/{aid}", headers=rend.auth(), timeout=30)
    assert r.status_code == 200, f"DELETE /v1/assets/{aid} -> {r.status_code} {r.text[:300]}"
    assert r.json().get("status") == "deleted", r.json()

    assert not rend.object_keys(src), f"source still at {src}"
    assert not rend.object_keys(art), f"artifacts left: {rend.object_keys(art)}"
    a = rend.get_asset(aid)
    assert a["status"] == "deleted" and parse_ts(a["deleted_at"]) is not None, a

    for url in (seg_url, master_url):
        r = wait_edge_gone(url)
        assert r.status_code in (404, 410), f"edge after delete: GET {url} -> {r.status_code} ({r.headers.get('x-rend-cache')})"
    r = requests.get(f"{rend.api}/api/player/{aid}", timeout=10)
    assert r.status_code in (404, 410), f"/api/player for a deleted asset -> {r.status_code} {r.text[:200]}"


def test_list_assets_cursor_pagination(rend):
    mine = []
    for _ in range(5):
        mine.append(rend.create_upload()["asset_id"])
        time.sleep(0.01)  # distinct created_at even at millisecond resolution
    seen, pages, cursor = [], 0, None
    while True:
        params = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = requests.get(rend.api + "/v1/assets", params=params, headers=rend.auth(), timeout=10)
        assert r.status_code == 200, f"GET /v1/assets {params} -> {r.status_code} {r.text[:300]}"
        j = r.json()
        assert isinstance(j.get("data"), list) and "next_cursor" in j, j
        assert len(j["data"]) <= 2, f"page larger than limit: {len(j['data'])}"
        seen += j["data"]
        pages += 1
        cursor = j["next_cursor"]
        if cursor is None:
            break
        assert pages < 200, "pagination does not end"
        assert j["data"], "empty page with a next_cursor"
    ids = [a["id"] for a in seen]
    assert len(ids) == len(set(ids)), f"duplicates across pages: {ids}"
    assert set(mine) <= set(ids), f"missing from the listing: {set(mine) - set(ids)}"
    created = [parse_ts(a["created_at"]) for a in seen]
    assert created == sorted(created, reverse=True), "listing is not newest first"
    positions = [ids.index(x) for x in mine]
    assert positions == sorted(positions, reverse=True), "the five new uploads are not newest first"

    one = requests.get(rend.api + "/v1/assets", params={"limit": 1}, headers=rend.auth(), timeout=10).json()
    assert len(one["data"]) == 1 and one["data"][0]["id"] == ids[0] and one["next_cursor"], one


def test_restart_with_the_same_data_dir_keeps_assets_playable(server_factory, clips):
    srv = server_factory("restart")
    aid = srv.upload(clips["h264_640x360"])
    before = srv.wait_status(aid, "hls_ready", timeout=HLS_TIMEOUT_S)
    old_key = srv.api_key

    srv.stop(check=True, sig=signal.SIGINT)  # Ctrl-C; the final teardown uses SIGTERM
    srv.start()

    after = srv.get_asset(aid)
    for k in ("status", "visibility", "tiers", "width", "height", "duration_s", "created_at", "uploaded_at",
              "playable_at", "hls_ready_at"):
        assert after[k] == before[k], f"{k} changed across restart: {before[k]!r} -> {after[k]!r}"

    probe = ffprobe_json(srv.playback(aid)["urls"]["master"])
    assert any(s.get("codec_type") == "video" and s.get("height") == 360 for s in probe["streams"]), probe

    s = requests.Session()
    j = s.get(f"{srv.api}/api/player/{aid}", timeout=10).json()
    assert j["urls"]["master"].startswith(srv.edge + "/"), j
    m = s.get(j["urls"]["master"], timeout=10)
    assert m.status_code == 200 and m.text.startswith("#EXTM3U"), (m.status_code, m.text[:200])

    r = requests.get(f"{srv.api}/v1/assets/{aid}", headers=srv.auth(old_key), timeout=10)
    assert r.status_code == 200, f"the API key from before the restart stopped working: {r.status_code} {r.text[:200]}"


# --- watch page -----------------------------------------------------------------------------

def test_watch_page_and_hls_js_are_served(rend, ready):
    r = requests.get(f"{rend.api}/watch/{ready['id']}", timeout=10)
    assert r.status_code == 200, f"GET /watch/{ready['id']} -> {r.status_code}"
    assert content_type(r) == "text/html", r.headers
    page = (REPO_ROOT / "web" / "watch.html").read_bytes()
    assert r.content == page, "the API must serve web/watch.html unchanged"

    js = requests.get(f"{rend.api}/static/hls.min.js", timeout=10)
    assert js.status_code == 200, f"GET /static/hls.min.js -> {js.status_code}"
    assert "javascript" in content_type(js), js.headers
    shipped = REPO_ROOT / "node_modules" / "hls.js" / "dist" / "hls.min.js"
    if shipped.exists():
        assert hashlib.sha256(js.content).hexdigest() == hashlib.sha256(shipped.read_bytes()).hexdigest(), (
            "served hls.min.js differs from node_modules/hls.js/dist/hls.min.js"
        )


# --- the watch page in a real browser (hls.js in Debian's Chromium) -----------------------

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _missing_browser(reason: str) -> None:
    # `make test` (and so CI) installs Chromium: there a missing browser is a failure,
    # not a quiet skip. A developer running pytest by hand may skip.
    if os.environ.get("REND_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def start_chromium_watch(url: str, timeout_ms: int = 30000, env: Optional[dict] = None) -> subprocess.Popen:
    if not Path(CHROMIUM).exists():
        _missing_browser(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    if not (REPO_ROOT / "node_modules" / "playwright-core").exists() or not shutil.which("node"):
        _missing_browser("node + playwright-core needed (npm ci)")
    return subprocess.Popen(["node", str(Path(__file__).with_name("watch_page.mjs")), url, str(timeout_ms)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO_ROOT),
                            env={**os.environ, **(env or {})})


def chromium_report(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=120)
    lines = [l for l in out.splitlines() if l.startswith("{")]
    assert lines, f"watch_page.mjs printed no report (rc {proc.returncode}): {out[-1000:]} {err[-2000:]}"
    return json.loads(lines[-1])


def watch_in_chromium(url: str) -> dict:
    return chromium_report(start_chromium_watch(url))


def test_watch_page_plays_in_chromium_with_rend_dev_defaults(rend, ready):
    """`rend dev` out of the box: the API-served page plays from the edge (another origin)."""
    report = watch_in_chromium(f"{rend.api}/watch/{ready['id']}")
    assert report["played"], f"the watch page did not play:\n{json.dumps(report, indent=1)}"


def test_watch_page_plays_in_chromium_with_edge_cors_configured(server_factory, clips):
    srv = server_factory("cors", extra_env={"REND_EDGE_CORS_ALLOWED_ORIGINS": "{api}"})
    aid = srv.upload(clips["h264_640x360"])
    srv.wait_status(aid, {"playable", "hls_ready"}, timeout=HLS_TIMEOUT_S)
    report = watch_in_chromium(f"{srv.api}/watch/{aid}")
    assert report["played"], f"the watch page did not play:\n{json.dumps(report, indent=1)}"


def test_watch_page_waits_for_processing_then_plays(server_factory, clips):
    """Opened before the upload: the page shows the status, polls, and plays once playable."""
    srv = server_factory("cors-wait", extra_env={"REND_EDGE_CORS_ALLOWED_ORIGINS": "{api}"})
    up = srv.create_upload()
    proc = start_chromium_watch(f"{srv.api}/watch/{up['asset_id']}", timeout_ms=60000)
    try:
        time.sleep(3)  # the page is up and polling
        r = srv.put_bytes(up["upload_url"], Path(clips["h264_640x360"]).read_bytes())
        assert r.status_code == 200, r.text
        report = chromium_report(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert report["played"], f"the watch page did not play:\n{json.dumps(report, indent=1)}"
    assert any("waiting_upload" in (st or "") for st in report["statuses"]), report["statuses"]
