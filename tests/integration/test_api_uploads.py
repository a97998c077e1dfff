"""Concurrent PUTs of one upload: the body is claimed before it is read, so a second
PUT gets 409 at once, the stored source is exactly one client's bytes, and a PUT
that failed gives the claim back so the client can retry."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import rawhttp
from conftest import backends, services_env


@pytest.fixture(scope="module", params=backends())
def srv(request, server_factory):
    """Embedded (SQLite, directory) and, when available, Postgres + S3 (the claim is a
    conditional UPDATE on either database)."""
    services = request.param == "services"
    s = server_factory(f"api-uploads-{request.param}", extra_env=services_env() if services else None, start=False)
    s.backend = request.param
    return s.start()


def SlowPut(srv, upload_url: str, length: int) -> rawhttp.ClaimedBody:
    """A raw PUT whose body is sent in parts, under the test's control."""
    return rawhttp.ClaimedBody("PUT", upload_url, {"Authorization": f"Bearer {srv.api_key}",
                                                    "Content-Type": "application/octet-stream"}, length)


def wait_for_claim(srv, up) -> None:
    """Until the slow PUT's claim is visible: a probe PUT is refused as in progress."""
    deadline = time.monotonic() + 10
    while True:
        r = srv.put_bytes(up["upload_url"], b"probe")
        if r.status_code == 409 and r.json()["error"]["code"] == "upload_in_progress":
            return
        assert r.status_code != 200, "the probe PUT was stored: no claim"
        assert time.monotonic() < deadline, f"the slow PUT never claimed the upload: {r.status_code} {r.text}"
        time.sleep(0.05)


def test_a_second_concurrent_put_gets_409_and_the_first_ones_bytes_are_stored(srv, clips):
    up = srv.create_upload()
    first = Path(clips["h264_640x360"]).read_bytes()
    second = os.urandom(4096)  # small: refused before its body is read, whatever its size
    slow = SlowPut(srv, up["upload_url"], len(first))
    try:
        slow.send(first[: len(first) // 2])
        wait_for_claim(srv, up)
        started = time.monotonic()
        r = srv.put_bytes(up["upload_url"], second)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "upload_in_progress", r.text
        assert time.monotonic() - started < 5, "the second PUT must be refused at once, not after the first ends"
        slow.send(first[len(first) // 2:])
        status, _, body = slow.response()
        assert status == 200, body
    finally:
        slow.close()
    assert srv.read_object("sources/" + up["asset_id"]) == first
    r = srv.put_bytes(up["upload_url"], second)
    assert r.status_code == 409 and r.json()["error"]["code"] == "upload_complete", r.text
    assert srv.read_object("sources/" + up["asset_id"]) == first


def test_a_put_after_a_failed_one_is_accepted(srv, clips):
    up = srv.create_upload()
    data = Path(clips["h264_640x360"]).read_bytes()
    broken = SlowPut(srv, up["upload_url"], len(data))
    broken.send(data[:1000])
    wait_for_claim(srv, up)
    broken.close()  # the client goes away mid-body: the claim is released
    deadline = time.monotonic() + 10
    while (r := srv.put_bytes(up["upload_url"], data)).status_code == 409:
        assert r.json()["error"]["code"] == "upload_in_progress", r.text
        assert time.monotonic() < deadline, "the failed PUT's claim was never released"
        time.sleep(0.1)
    assert r.status_code == 200, r.text
    assert srv.read_object("sources/" + up["asset_id"]) == data


def test_a_refused_put_releases_the_claim(srv, clips):
    """A PUT refused after reading (size mismatch) can be retried with the right bytes."""
    data = Path(clips["h264_640x360"]).read_bytes()
    up = srv.create_upload(size_bytes=len(data))
    r = srv.put_bytes(up["upload_url"], data[:-1])
    assert r.status_code == 400 and r.json()["error"]["code"] == "size_mismatch", r.text
    r = srv.put_bytes(up["upload_url"], data)
    assert r.status_code == 200, r.text
    assert srv.read_object("sources/" + up["asset_id"]) == data
