"""tus 1.0 resumable uploads (issue 13) against a real `rend dev`: the protocol's
answers and every refusal over raw HTTP, two PATCHes racing, termination, expiry on
both stores (no multipart upload left open on s3rver), direct uploads, progress.

The Node client (tus-js-client) and the browser are in test_tus_client.py."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from pathlib import Path

import pytest
import requests

from conftest import backends, services_env
import rawhttp

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {"Content-Type": "application/offset+octet-stream"}
MiB = 1 << 20


@pytest.fixture(scope="module", params=backends())
def srv(request, server_factory):
    """Embedded (SQLite, directory) and, when available, Postgres + s3rver, with a short
    expiry for the expiry test and an upload limit big enough for multi-part uploads."""
    services = request.param == "services"
    env = services_env() if services else {}
    env.update({"REND_UPLOAD_EXPIRY_SECS": "6", "REND_MAX_UPLOAD_BYTES": str(64 * MiB),
                "REND_API_CORS_ALLOWED_ORIGINS": "https://listed.example"})
    s = server_factory(f"tus-{request.param}", extra_env=env, start=False)
    s.backend = request.param
    return s.start()


def meta(**kv) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in kv.items())


def create(srv, length: int, key=None, **metadata) -> requests.Response:
    h = {**srv.auth(key), **TUS, "Upload-Length": str(length)}
    if metadata:
        h["Upload-Metadata"] = meta(**metadata)
    return requests.post(srv.api + "/v1/uploads/tus", headers=h, timeout=10)


def patch(srv, url: str, offset: int, data: bytes, extra=None, key=None) -> requests.Response:
    h = {**srv.auth(key), **TUS, **OCTETS, "Upload-Offset": str(offset), **(extra or {})}
    return requests.patch(url, data=data, headers=h, timeout=60)


def head(srv, url: str, key=None) -> requests.Response:
    return requests.head(url, headers={**srv.auth(key), **TUS}, timeout=10)


def sha1_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha1(data).digest()).decode()


def new_upload(srv, length: int):
    r = create(srv, length, filename="clip.mp4", visibility="private")
    assert r.status_code == 201, r.text
    return r.headers["Location"], r.headers["Rend-Asset-Id"]


def test_options_advertises_version_extensions_max_size_and_checksum(srv):
    r = requests.options(srv.api + "/v1/uploads/tus", timeout=10)
    assert r.status_code == 204
    assert r.headers["Tus-Version"] == "1.0.0"
    assert set(r.headers["Tus-Extension"].split(",")) == {
        "creation", "creation-with-upload", "termination", "expiration", "checksum"}
    assert r.headers["Tus-Max-Size"] == str(64 * MiB)
    assert r.headers["Tus-Checksum-Algorithm"] == "sha1"


def test_create_head_patch_in_chunks_completes_like_a_put(srv):
    data = os.urandom(11 * MiB + 12345)  # two full parts on S3 and a short last one
    r = create(srv, len(data), filename="clip.mp4", visibility="private", name="Holiday")
    assert r.status_code == 201, r.text
    url, asset_id = r.headers["Location"], r.headers["Rend-Asset-Id"]
    assert r.json()["asset_id"] == asset_id
    upload_id = url.rsplit("/", 1)[1]
    assert url == f"{srv.api}/v1/uploads/tus/{upload_id}"
    assert r.headers["Tus-Resumable"] == "1.0.0"
    assert r.headers["Upload-Expires"].endswith(" GMT")

    h = head(srv, url)
    assert h.status_code == 200
    assert (h.headers["Upload-Offset"], h.headers["Upload-Length"]) == ("0", str(len(data)))
    assert h.headers["Cache-Control"] == "no-store"
    assert "Upload-Expires" in h.headers

    offset = 0
    # Short chunks (buffered to a part on S3), one with a checksum, then the rest at once.
    for size in (1 * MiB, 1 * MiB, 3 * MiB, len(data) - 5 * MiB):
        chunk = data[offset:offset + size]
        extra = {"Upload-Checksum": "sha1 " + sha1_b64(chunk)} if size == 3 * MiB else None
        p = patch(srv, url, offset, chunk, extra)
        assert p.status_code == 204, p.text
        offset += size
        assert p.headers["Upload-Offset"] == str(offset)
        assert head(srv, url).headers["Upload-Offset"] == str(offset), "acknowledged bytes are recorded"
        if offset < len(data):
            assert requests.get(f"{srv.api}/v1/uploads/{upload_id}", headers=srv.auth(), timeout=10).json()[
                "offset"] == offset
    asset = srv.get_asset(asset_id)
    assert asset["status"] in ("queued", "processing", "failed"), asset  # random bytes: not a video
    assert srv.read_object("sources/" + asset_id) == data
    assert srv.object_keys(f"uploads/{upload_id}/") == {}, "buffered chunks are deleted once complete"
    prog = requests.get(f"{srv.api}/v1/uploads/{upload_id}", headers=srv.auth(), timeout=10).json()
    assert prog == {"id": upload_id, "asset_id": asset_id, "protocol": "tus", "status": "complete",
                    "offset": len(data), "length": len(data), "expires_at": prog["expires_at"]}
    # Finished: HEAD still tells the whole length (a client resuming after a crash is done).
    assert head(srv, url).headers["Upload-Offset"] == str(len(data))
    assert patch(srv, url, len(data), b"x").status_code == 409


def test_creation_with_upload_stores_the_first_chunk(srv):
    data = os.urandom(300_000)
    h = {**srv.auth(), **TUS, **OCTETS, "Upload-Length": str(len(data))}
    r = requests.post(srv.api + "/v1/uploads/tus", data=data[:100_000], headers=h, timeout=10)
    assert r.status_code == 201, r.text
    assert r.headers["Upload-Offset"] == "100000"
    url = r.headers["Location"]
    assert patch(srv, url, 100_000, data[100_000:]).status_code == 204
    assert srv.read_object("sources/" + r.headers["Rend-Asset-Id"]) == data


def test_every_refusal_has_its_status_and_changes_nothing(srv):
    url, asset_id = new_upload(srv, 1000)
    api = srv.api + "/v1/uploads/tus"
    # Tus-Resumable missing or another version: 412 with Tus-Version.
    for h in ({}, {"Tus-Resumable": "0.2.2"}):
        r = requests.post(api, headers={**srv.auth(), **h, "Upload-Length": "10"}, timeout=10)
        assert r.status_code == 412 and r.headers["Tus-Version"] == "1.0.0", r.text
        r = requests.patch(url, data=b"x", headers={**srv.auth(), **h, **OCTETS, "Upload-Offset": "0"}, timeout=10)
        assert r.status_code == 412 and r.headers["Tus-Version"] == "1.0.0", r.text
        assert requests.head(url, headers={**srv.auth(), **h}, timeout=10).status_code == 412
    # Creation: bad or missing length, bad metadata, over the limit.
    for length in (None, "-1", "abc", "0"):
        h = {**srv.auth(), **TUS, **({"Upload-Length": length} if length else {})}
        assert requests.post(api, headers=h, timeout=10).status_code == 400, length
    assert requests.post(api, headers={**srv.auth(), **TUS, "Upload-Length": "10", "Upload-Metadata": "a !!"},
                         timeout=10).status_code == 400
    assert create(srv, 10, visibility="secret").status_code == 400
    assert create(srv, 64 * MiB + 1).status_code == 413
    r = requests.post(api, headers={**TUS, "Upload-Length": "10"}, timeout=10)
    assert r.status_code == 401
    assert r.headers.get("Tus-Resumable") == "1.0.0", "a refusal before the handler is a tus answer too"
    # PATCH: content type, offset, past the length, checksum.
    r = patch(srv, url, 0, b"abc", {"Content-Type": "application/octet-stream"})
    assert r.status_code == 415, r.text
    assert patch(srv, url, 0, b"a" * 100).status_code == 204
    r = patch(srv, url, 0, b"abc")
    assert r.status_code == 409 and r.headers["Upload-Offset"] == "100", r.text
    assert patch(srv, url, 100, b"a" * 901).status_code == 413
    r = patch(srv, url, 100, b"b" * 10, {"Upload-Checksum": "sha1 " + sha1_b64(b"c" * 10)})
    assert r.status_code == 460, r.text
    assert patch(srv, url, 100, b"b" * 10, {"Upload-Checksum": "md5 " + sha1_b64(b"b" * 10)}).status_code == 400
    assert patch(srv, url, 100, b"b" * 10, {"Upload-Checksum": "sha1 ###"}).status_code == 400
    assert head(srv, url).headers["Upload-Offset"] == "100", "no refusal moved the offset"
    # Unknown upload; another account's upload looks unknown.
    assert head(srv, srv.api + "/v1/uploads/tus/upl_nosuchuploadxxxxxxxxxxxxx").status_code == 404
    assert head(srv, srv.api + "/v1/uploads/tus/..%2f").status_code == 404
    other = srv.create_key("upload,read", name="tus-other-account") if not hasattr(srv, "_other") else srv._other
    srv._other = other
    assert head(srv, url, key=other).status_code == 404
    assert patch(srv, url, 100, b"x", key=other).status_code == 404
    assert srv.get_asset(asset_id)["status"] == "waiting_upload"


def test_delete_terminates_and_removes_what_was_stored(srv):
    data = os.urandom(6 * MiB)
    url, asset_id = new_upload(srv, 8 * MiB)
    upload_id = url.rsplit("/", 1)[1]
    assert patch(srv, url, 0, data[:5 * MiB]).status_code == 204
    assert patch(srv, url, 5 * MiB, data[5 * MiB:]).status_code == 204  # a buffered tail on S3
    open_before = open_multipart_uploads(srv, asset_id)
    assert open_before >= 1
    r = requests.delete(url, headers={**srv.auth(), **TUS}, timeout=10)
    assert r.status_code == 204, r.text
    assert head(srv, url).status_code == 404
    assert patch(srv, url, 6 * MiB, b"x").status_code == 404
    assert srv.get_asset(asset_id)["status"] == "deleted"
    assert srv.object_keys(f"uploads/{upload_id}/") == {}
    assert srv.object_keys(f"sources/{asset_id}") == {}
    assert open_multipart_uploads(srv, asset_id) == open_before - 1


def open_multipart_uploads(srv, asset_id: str) -> int:
    """Multipart uploads of sources/{asset_id} still open: the fs store's temp files
    (all of them: one server per module) or s3rver's upload directories naming the key
    (s3rver 3.7 has no ListMultipartUploads; its store keeps one directory per upload).
    The fs count is the server's: its tests compare before and after."""
    if srv.backend == "services":
        root = Path(os.environ["REND_STACK_DIR"]) / "s3" / "data" / srv.extra_env["S3_BUCKET"] / "._S3rver_uploads"
        if not root.exists():
            return 0
        return sum(1 for k in root.glob("*/key") if k.read_text() == f"sources/{asset_id}")
    return sum(1 for _ in (srv.objects_dir / ".multipart").glob("*"))


def test_expired_uploads_are_swept_and_answer_410(srv):
    data = os.urandom(6 * MiB)
    url, asset_id = new_upload(srv, 20 * MiB)
    upload_id = url.rsplit("/", 1)[1]
    assert patch(srv, url, 0, data).status_code == 204  # a part (and on S3 a buffered tail)
    assert patch(srv, url, 6 * MiB, data[:1000]).status_code == 204
    assert open_multipart_uploads(srv, asset_id) >= 1, "the probe must see the open upload"
    deadline = time.monotonic() + 20
    while True:
        prog = requests.get(f"{srv.api}/v1/uploads/{upload_id}", headers=srv.auth(), timeout=10).json()
        asset = srv.get_asset(asset_id)
        if asset["status"] == "failed" and open_multipart_uploads(srv, asset_id) == 0:
            break
        assert time.monotonic() < deadline, f"not swept: {prog} {asset}"
        time.sleep(0.2)
    assert prog["status"] == "expired"
    assert asset["error"]["code"] == "upload_expired" if "error" in asset else asset.get("error_code") == "upload_expired"
    assert head(srv, url).status_code == 410
    assert patch(srv, url, 6 * MiB + 1000, b"x").status_code == 410
    assert srv.object_keys(f"uploads/{upload_id}/") == {}
    assert srv.object_keys(f"sources/{asset_id}") == {}


def SlowPatch(srv, url: str, offset: int, length: int) -> rawhttp.ClaimedBody:
    """A raw PATCH whose body is sent in parts, under the test's control."""
    return rawhttp.ClaimedBody("PATCH", url, {"Authorization": f"Bearer {srv.api_key}", "Tus-Resumable": "1.0.0",
                                              "Content-Type": "application/offset+octet-stream",
                                              "Upload-Offset": str(offset)}, length)


def test_two_patches_racing_never_interleave(srv):
    a, b = os.urandom(2 * MiB), os.urandom(2 * MiB)
    url, asset_id = new_upload(srv, len(a))
    slow = SlowPatch(srv, url, 0, len(a))
    try:
        slow.send(a[:MiB])
        started = time.monotonic()
        r = patch(srv, url, 0, b)
        assert r.status_code == 423, f"the racing PATCH was not refused: {r.status_code} {r.text}"
        assert time.monotonic() - started < 5, "refused at once, not after the first PATCH ended"
        assert r.headers.get("Retry-After")
        slow.send(a[MiB:])
        status, head_text, _ = slow.response()
        assert status == 204, head_text
    finally:
        slow.sock.close()
    assert srv.read_object("sources/" + asset_id) == a


def test_direct_upload_url_works_without_the_key_from_its_origin_only_and_once(srv):
    r = requests.post(srv.api + "/v1/uploads", json={"direct": True, "cors_origin": "https://app.example"},
                      headers=srv.auth(), timeout=10)
    assert r.status_code == 201, r.text
    direct = r.json()["direct"]
    upload_id, asset_id = r.json()["upload_id"], r.json()["asset_id"]
    assert srv.api_key not in r.text.replace(r.json()["upload_id"], "")
    origin = {"Origin": "https://app.example"}
    # The browser's preflight names the tus headers.
    pre = requests.options(direct["tus_url"], headers={**origin, "Access-Control-Request-Method": "POST",
                                                       "Access-Control-Request-Headers": "tus-resumable,upload-length"},
                           timeout=10)
    assert pre.headers.get("Access-Control-Allow-Origin") == "https://app.example", pre.headers
    assert "Upload-Length" in pre.headers["Access-Control-Allow-Headers"]
    # Another origin: refused; the listed-but-other origin too (the token names one).
    for bad in ("https://evil.example", "https://listed.example"):
        r = requests.post(direct["tus_url"], headers={"Origin": bad, **TUS, "Upload-Length": "5000"}, timeout=10)
        assert r.status_code == 403, r.text
    r = requests.post(direct["tus_url"], headers={**origin, **TUS, "Upload-Length": "5000"}, timeout=10)
    assert r.status_code == 201, r.text
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Location" in r.headers["Access-Control-Expose-Headers"]
    assert "Upload-Offset" in r.headers["Access-Control-Expose-Headers"]
    url = r.headers["Location"]
    assert url.startswith(f"{srv.api}/v1/uploads/tus/{upload_id}?token=")
    assert r.headers["Rend-Asset-Id"] == asset_id
    data = os.urandom(5000)
    h = {**origin, **TUS, **OCTETS}
    assert requests.patch(url, data=data[:2000], headers={**h, "Upload-Offset": "0"}, timeout=10).status_code == 204
    assert requests.head(url, headers={**origin, **TUS}, timeout=10).headers["Upload-Offset"] == "2000"
    assert requests.get(f"{srv.api}/v1/uploads/{upload_id}?token={direct['token']}", headers=origin,
                        timeout=10).json()["offset"] == 2000
    # The token moves no other upload.
    other_url, _ = new_upload(srv, 10)
    assert requests.head(other_url + "?token=" + direct["token"], headers=TUS, timeout=10).status_code == 403
    # A forged token is refused before the body.
    bad = url[: -3] + ("AAA" if not url.endswith("AAA") else "BBB")
    assert requests.patch(bad, data=data[2000:], headers={**h, "Upload-Offset": "2000"}, timeout=10).status_code == 401
    r = requests.patch(url, data=data[2000:], headers={**h, "Upload-Offset": "2000"}, timeout=10)
    assert r.status_code == 204, r.text
    assert srv.read_object("sources/" + asset_id) == data
    # Spent once the upload completed.
    assert requests.head(url, headers={**origin, **TUS}, timeout=10).status_code == 410
    assert requests.put(direct["put_url"], data=b"x", timeout=10).status_code == 410


def test_direct_put_url_and_put_progress(srv):
    r = requests.post(srv.api + "/v1/uploads", json={"direct": True, "cors_origin": "http://127.0.0.1:9"},
                      headers=srv.auth(), timeout=10)
    assert r.status_code == 201, r.text
    j = r.json()
    prog = requests.get(f"{srv.api}/v1/uploads/{j['upload_id']}", headers=srv.auth(), timeout=10).json()
    assert (prog["protocol"], prog["status"], prog["offset"], prog["length"]) == ("put", "pending", 0, None)
    assert requests.post(srv.api + "/v1/uploads", json={"direct": True, "cors_origin": "app.example"},
                         headers=srv.auth(), timeout=10).status_code == 400
    data = os.urandom(1234)
    r = requests.put(j["direct"]["put_url"], data=data, headers={"Origin": "http://127.0.0.1:9"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:9"
    prog = requests.get(f"{srv.api}/v1/uploads/{j['upload_id']}", headers=srv.auth(), timeout=10).json()
    assert (prog["status"], prog["offset"]) == ("complete", 1234)
    assert requests.get(f"{srv.api}/v1/uploads/{j['upload_id']}", timeout=10).status_code == 401


def test_upload_page_and_tus_js_client_are_served_by_the_api(srv):
    r = requests.get(srv.api + "/upload", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html"), r.text[:200]
    assert "progress" in r.text and "/static/tus.min.js" in r.text
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self' 'sha256-" in csp and "connect-src 'self'" in csp, csp
    js = requests.get(srv.api + "/static/tus.min.js", timeout=10)
    assert js.status_code == 200 and "tus" in js.text[:5000], js.text[:200]


def test_cors_for_configured_origins_allows_and_exposes_the_tus_headers(srv):
    origin = {"Origin": "https://listed.example"}
    pre = requests.options(srv.api + "/v1/uploads/tus", timeout=10, headers={
        **origin, "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "tus-resumable,upload-offset,upload-length,upload-metadata,upload-checksum"})
    assert pre.headers.get("Access-Control-Allow-Origin") == "https://listed.example", pre.headers
    for h in ("Tus-Resumable", "Upload-Offset", "Upload-Length", "Upload-Metadata", "Upload-Checksum"):
        assert h in pre.headers["Access-Control-Allow-Headers"], h
    for m in ("PATCH", "HEAD", "DELETE", "POST"):
        assert m in pre.headers["Access-Control-Allow-Methods"], m
    r = requests.post(srv.api + "/v1/uploads/tus", timeout=10,
                      headers={**origin, **srv.auth(), **TUS, "Upload-Length": "10"})
    assert r.status_code == 201 and r.headers["Access-Control-Allow-Origin"] == "https://listed.example"
    exposed = r.headers["Access-Control-Expose-Headers"]
    for h in ("Location", "Upload-Offset", "Upload-Length", "Upload-Expires", "Tus-Resumable", "Rend-Asset-Id"):
        assert h in exposed, h
    other = requests.post(srv.api + "/v1/uploads/tus", timeout=10,
                          headers={"Origin": "https://evil.example", **srv.auth(), **TUS, "Upload-Length": "10"})
    assert "Access-Control-Allow-Origin" not in other.headers
