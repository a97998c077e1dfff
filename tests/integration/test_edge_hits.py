"""The edge's HIT path keeps per-thread memos for speed (issue 17): verified token
claims (the HMAC is checked once per token) and playlists rewritten for a ?token=.
A memo must never change an answer: a remembered credential is still refused once
it expires or for another asset, and a remembered rewrite carries only its own
token and follows the playlist when it is refilled."""

from __future__ import annotations

import re
import time

import pytest
import requests

from test_edge import edge_factory, origin, playlist, put_asset  # noqa: F401 (fixtures)
from conftest import backends
from edgeproc import sign

EMBEDDED = backends()[:1]


def uris(text: str) -> list:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize("origin", EMBEDDED, indirect=True)
def test_remembered_credential_is_refused_once_expired_and_for_another_asset(origin, edge_factory):
    aid, other = put_asset(origin, segments=2), put_asset(origin, segments=2)
    edge = edge_factory().start()
    token = sign(aid, ttl=2)
    expires = int(token.split(".")[2])
    # One keep-alive connection: one I/O thread, so every request below meets the memo
    # the first one filled.
    with requests.Session() as s:
        for where in ("cookie", "query"):
            kw = {"headers": {"Cookie": f"rend_playback={token}"}} if where == "cookie" else {
                "params": {"token": token}}
            for path in ("720p/index.m3u8", "720p/seg_00000.ts", "720p/seg_00000.ts"):
                r = s.get(f"{edge.url}/v/{aid}/{path}", timeout=10, **kw)
                if time.time() < expires - 0.5:
                    assert r.status_code == 200, (where, path, r.status_code)
            r = s.get(f"{edge.url}/v/{other}/720p/seg_00000.ts", timeout=10, **kw)
            assert r.status_code == 403, f"{where}: a remembered token for another asset got {r.status_code}"
            assert r.json()["error"]["code"] == "wrong_asset"
        # Past its expiry the same (remembered) token is refused, on both channels.
        deadline = time.monotonic() + 10
        while time.time() < expires + 0.2 and time.monotonic() < deadline:
            time.sleep(0.05)
        for kw in ({"headers": {"Cookie": f"rend_playback={token}"}}, {"params": {"token": token}}):
            r = s.get(f"{edge.url}/v/{aid}/720p/seg_00000.ts", timeout=10, **kw)
            assert r.status_code == 401, f"an expired, remembered token got {r.status_code}"
            assert r.json()["error"]["code"] == "token_expired"
        # A forged token that differs from the remembered one only in its signature.
        forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        r = s.get(f"{edge.url}/v/{aid}/720p/seg_00000.ts", params={"token": forged}, timeout=10)
        assert r.status_code == 401


@pytest.mark.parametrize("origin", EMBEDDED, indirect=True)
def test_rewritten_playlists_carry_each_viewers_own_token_and_follow_a_refill(origin, edge_factory):
    aid = put_asset(origin, segments=3)
    edge = edge_factory().start(REND_EDGE_PLAYLIST_TTL_SECS=1)
    a, b = sign(aid), sign(aid)
    assert a != b
    with requests.Session() as s:
        def get(token):
            r = s.get(f"{edge.url}/v/{aid}/720p/index.m3u8", params={"token": token}, timeout=10)
            assert r.status_code == 200, r.text
            return uris(r.text)
        for _ in range(3):  # the second and third come from the memo
            for token in (a, b):
                got = get(token)
                assert got == [f"seg_{i:05d}.ts?token={token}" for i in range(3)]
        # The master playlist of the same token is its own entry.
        r = s.get(f"{edge.url}/v/{aid}/master.m3u8", params={"token": a}, timeout=10)
        assert uris(r.text) == [f"720p/index.m3u8?token={a}"]
        # The origin's playlist grows; once the edge refills it, the rewrite follows.
        origin.put(f"assets/{aid}/720p/index.m3u8", playlist(5))
        deadline = time.monotonic() + 15
        got = get(a)
        while len(got) != 5 and time.monotonic() < deadline:
            time.sleep(0.1)
            got = get(a)
        assert got == [f"seg_{i:05d}.ts?token={a}" for i in range(5)]
        assert get(b) == [f"seg_{i:05d}.ts?token={b}" for i in range(5)]


@pytest.mark.parametrize("origin", EMBEDDED, indirect=True)
def test_percent_encoded_query_token_is_judged_as_its_decoded_value(origin, edge_factory):
    """The edge reads ?token= without copying it unless it holds '%' or '+': an encoded
    token (or an encoded parameter name) must get exactly the plain token's answer."""
    import http.client
    import urllib.parse

    aid = put_asset(origin, segments=2)
    edge = edge_factory().start()
    token = sign(aid, ttl=600)
    enc = "".join(f"%{ord(c):02X}" for c in token)
    u = urllib.parse.urlsplit(edge.url)
    path = f"/v/{aid}/720p/index.m3u8"

    def get(query):  # sent as written (requests would decode %XX of unreserved characters)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        try:
            c.request("GET", f"{path}?{query}")
            r = c.getresponse()
            return r.status, r.read().decode()
        finally:
            c.close()

    status, plain = get(f"token={token}")
    assert status == 200
    for query in (f"token={enc}", f"to%6Ben={token}", f"x=1&%74oken={enc}"):
        status, body = get(query)
        assert status == 200, (query, status)
        assert body == plain, query  # the rewrite carries the decoded token
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert get("token=" + "".join(f"%{ord(c):02X}" for c in forged))[0] == 401
