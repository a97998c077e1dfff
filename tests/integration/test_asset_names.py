"""An asset's name and source filename (issue 13): given at creation by tus
Upload-Metadata (`name`, `filename`), POST /v1/uploads or POST /v1/assets (import),
changed with PATCH /v1/assets/{id}, shown back by GET and the list (null when absent).
Bad values are refused with a 400 naming the field and nothing is created. Runs on
the session server of each backend set (SQLite + directory, Postgres + s3rver)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from conftest import REPO_ROOT

TUS = {"Tus-Resumable": "1.0.0"}
NAME = "Café — launch \"cut\" 🎬"
FILENAME = "Launch Final (2).MP4"


def b64(v) -> str:
    return base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode()


def tus_create(rend, length: int = 1000, headers=None, **metadata) -> requests.Response:
    h = {**rend.auth(), **TUS, "Upload-Length": str(length), **(headers or {})}
    if metadata:
        h["Upload-Metadata"] = ",".join(f"{k} {b64(v)}" for k, v in metadata.items())
    return requests.post(rend.api + "/v1/uploads/tus", headers=h, timeout=10)


def newest_asset_ids(rend) -> list:
    r = requests.get(rend.api + "/v1/assets?limit=5", headers=rend.auth(), timeout=10)
    assert r.status_code == 200, r.text
    return [a["id"] for a in r.json()["data"]]


def listed(rend, asset_id: str) -> dict:
    r = requests.get(rend.api + "/v1/assets?limit=100", headers=rend.auth(), timeout=10)
    found = [a for a in r.json()["data"] if a["id"] == asset_id]
    assert found, f"{asset_id} is not in the list"
    return found[0]


def refused(r: requests.Response, code: str, *words: str) -> dict:
    assert r.status_code == 400, f"{r.status_code} {r.text[:500]}"
    err = r.json()["error"]
    assert err["code"] == code, err
    for w in words:
        assert w in err["message"], err
    return err


def test_tus_creation_takes_name_and_filename_from_upload_metadata(rend):
    r = tus_create(rend, name=NAME, filename=FILENAME, visibility="private")
    assert r.status_code == 201, r.text
    asset_id = r.headers["Rend-Asset-Id"]
    a = rend.get_asset(asset_id)
    assert a["name"] == NAME
    assert a["filename"] == FILENAME
    assert a["visibility"] == "private"
    got = listed(rend, asset_id)
    assert (got["name"], got["filename"]) == (NAME, FILENAME)

    plain = tus_create(rend)
    assert plain.status_code == 201, plain.text
    a = rend.get_asset(plain.headers["Rend-Asset-Id"])
    assert "name" in a and a["name"] is None, "absent is null, not missing"
    assert "filename" in a and a["filename"] is None


@pytest.mark.parametrize("key, value, why", [
    ("name", "x" * 257, "256 bytes"),
    ("name", b"\xff\xfe clip", "UTF-8"),
    ("filename", b"clip\xc0\xaf.mp4", "UTF-8"),
    ("filename", "clip\n.mp4", "control"),
    ("name", "\x1b[31mred", "control"),
    ("name", "", "empty"),
], ids=["long-name", "latin1-name", "overlong-filename", "newline-filename", "escape-name", "empty-name"])
def test_tus_creation_refuses_a_bad_name_or_filename_and_creates_nothing(rend, key, value, why):
    before = newest_asset_ids(rend)
    r = tus_create(rend, **{key: value})
    err = refused(r, "invalid_metadata", key, why)
    assert "\x1b" not in err["message"] and "\xff" not in err["message"], "the bad value is not echoed"
    assert "Location" not in r.headers
    assert newest_asset_ids(rend) == before


def test_put_upload_keeps_the_name_and_filename_given_at_post(rend):
    r = requests.post(rend.api + "/v1/uploads", json={"name": NAME, "filename": FILENAME, "size_bytes": 5},
                      headers=rend.auth(), timeout=10)
    assert r.status_code == 201, r.text
    up = r.json()
    assert (up["asset"]["name"], up["asset"]["filename"]) == (NAME, FILENAME)
    put = rend.put_bytes(up["upload_url"], b"hello")
    assert put.status_code == 200, put.text
    a = rend.get_asset(up["asset_id"])
    assert (a["name"], a["filename"]) == (NAME, FILENAME)
    # An explicit null is the same as leaving it out.
    r = requests.post(rend.api + "/v1/uploads", json={"name": None, "filename": None}, headers=rend.auth(), timeout=10)
    assert r.status_code == 201, r.text
    assert (r.json()["asset"]["name"], r.json()["asset"]["filename"]) == (None, None)


@pytest.mark.parametrize("route", ["/v1/uploads", "/v1/assets"])
@pytest.mark.parametrize("body, code, why", [
    ({"name": 7}, "invalid_name", "string"),
    ({"name": ["a"]}, "invalid_name", "string"),
    ({"name": "y" * 257}, "invalid_name", "256 bytes"),
    ({"name": "a\tb"}, "invalid_name", "control"),
    ({"name": "nul\u0000"}, "invalid_name", "control"),
    ({"name": "c1\u0085"}, "invalid_name", "control"),
    ({"name": ""}, "invalid_name", "empty"),
    ({"filename": False}, "invalid_filename", "string"),
    ({"filename": "z" * 300}, "invalid_filename", "256 bytes"),
    ({"filename": "a\r\nb.mp4"}, "invalid_filename", "control"),
], ids=["int-name", "list-name", "long-name", "tab-name", "nul-name", "c1-name", "empty-name", "bool-filename",
        "long-filename", "crlf-filename"])
def test_json_creation_refuses_a_bad_name_or_filename_and_creates_nothing(rend, route, body, code, why):
    if route == "/v1/assets":
        body = {"input_url": "http://127.0.0.1:9/clip.mp4", **body}
    before = newest_asset_ids(rend)
    r = requests.post(rend.api + route, json=body, headers=rend.auth(), timeout=10)
    refused(r, code, why)
    assert newest_asset_ids(rend) == before


def test_a_lone_surrogate_or_invalid_utf8_in_a_json_name_is_refused_and_creates_nothing(rend):
    before = newest_asset_ids(rend)
    for raw in (b'{"name": "\\ud800"}', b'{"name": "\xff"}'):
        r = requests.post(rend.api + "/v1/uploads", data=raw,
                          headers={**rend.auth(), "Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 400, (raw, r.text)
        assert r.json()["error"]["code"] in ("invalid_json", "invalid_name"), (raw, r.text)
    assert newest_asset_ids(rend) == before


def test_import_takes_a_name_and_filename(rend):
    # Loopback is refused by the worker here (no private outbound switch): the asset
    # fails at once, and keeps its name.
    r = requests.post(rend.api + "/v1/assets",
                      json={"input_url": "http://127.0.0.1:9/clip.mp4", "name": NAME, "filename": "clip.mp4"},
                      headers=rend.auth(), timeout=10)
    assert r.status_code == 201, r.text
    a = r.json()
    assert (a["name"], a["filename"]) == (NAME, "clip.mp4")
    got = rend.get_asset(a["id"])
    assert (got["name"], got["filename"]) == (NAME, "clip.mp4")


def patch(rend, asset_id: str, body, key=None) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.patch(f"{rend.api}/v1/assets/{asset_id}", data=data,
                          headers={**rend.auth(key), "Content-Type": "application/json"}, timeout=10)


def test_patch_renames_and_clears_the_name_and_keeps_the_filename(rend):
    asset_id = tus_create(rend, name="first", filename=FILENAME).headers["Rend-Asset-Id"]
    r = patch(rend, asset_id, {"name": NAME})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["filename"]) == (NAME, FILENAME)
    assert rend.get_asset(asset_id)["name"] == NAME
    assert listed(rend, asset_id)["name"] == NAME

    r = patch(rend, asset_id, {"name": None})
    assert r.status_code == 200, r.text
    assert r.json()["name"] is None
    assert rend.get_asset(asset_id)["filename"] == FILENAME


def test_patch_refuses_bad_bodies_and_changes_nothing(rend):
    asset_id = tus_create(rend, name="kept").headers["Rend-Asset-Id"]
    refused(patch(rend, asset_id, {"name": "x" * 257}), "invalid_name", "256 bytes")
    refused(patch(rend, asset_id, {"name": "a\nb"}), "invalid_name", "control")
    refused(patch(rend, asset_id, {"name": 5}), "invalid_name", "string")
    refused(patch(rend, asset_id, {}), "invalid_name", "name")
    refused(patch(rend, asset_id, {"name": "ok", "visibility": "private"}), "unsupported_field", "visibility")
    refused(patch(rend, asset_id, b"not json"), "invalid_json")
    assert rend.get_asset(asset_id)["name"] == "kept"


def test_patch_needs_the_upload_scope_and_an_owned_live_asset(rend):
    asset_id = tus_create(rend, name="kept").headers["Rend-Asset-Id"]
    reader = rend.create_key("read", name="names-read-only")
    assert patch(rend, asset_id, {"name": "x"}, key=reader).status_code == 403
    assert patch(rend, "ast_doesnotexist0000000000000", {"name": "x"}).status_code == 404
    assert requests.delete(f"{rend.api}/v1/assets/{asset_id}", headers=rend.auth(), timeout=10).status_code == 200
    r = patch(rend, asset_id, {"name": "x"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "asset_deleted", r.text
    assert rend.get_asset(asset_id)["name"] == "kept"


def test_a_direct_tus_upload_records_the_browsers_filename_and_keeps_the_creators_name(rend):
    origin = "https://names.example"
    r = requests.post(rend.api + "/v1/uploads",
                      json={"direct": True, "cors_origin": origin, "name": "from the creator"},
                      headers=rend.auth(), timeout=10)
    assert r.status_code == 201, r.text
    j = r.json()
    h = {"Origin": origin, **TUS, "Upload-Length": "1000",
         "Upload-Metadata": f"filename {b64(FILENAME)},name {b64('from the browser')}"}
    r = requests.post(j["direct"]["tus_url"], headers=h, timeout=10)
    assert r.status_code == 201, r.text
    a = rend.get_asset(j["asset_id"])
    assert a["filename"] == FILENAME
    assert a["name"] == "from the creator", "the page's metadata does not overrule the creator"

    r = requests.post(rend.api + "/v1/uploads", json={"direct": True, "cors_origin": origin}, headers=rend.auth(),
                      timeout=10)
    j = r.json()
    bad = {**h, "Upload-Metadata": f"filename {b64('a' * 300)}"}
    refused(requests.post(j["direct"]["tus_url"], headers=bad, timeout=10), "invalid_metadata", "filename")
    h["Upload-Metadata"] = f"name {b64('named in the page')}"
    assert requests.post(j["direct"]["tus_url"], headers=h, timeout=10).status_code == 201
    assert rend.get_asset(j["asset_id"])["name"] == "named in the page", "a name fills an unnamed slot"


def test_webhook_events_carry_the_name_and_filename(server_factory):
    # The webhook body's asset is the API's asset JSON (api::asset_resource).
    from test_webhooks import ALLOW, Receiver, register, wait_for

    srv = server_factory("asset-names-webhooks", extra_env=ALLOW)
    receiver = Receiver()
    try:
        assert register(srv, receiver.url, events=["asset.created"]).status_code == 201
        r = requests.post(srv.api + "/v1/uploads", json={"name": NAME, "filename": FILENAME}, headers=srv.auth(),
                          timeout=10)
        assert r.status_code == 201, r.text
        asset_id = r.json()["asset_id"]
        wait_for(lambda: receiver.events(asset_id), 30, "asset.created")
        asset = receiver.events(asset_id)[0]["event"]["data"]["asset"]
        assert (asset["name"], asset["filename"]) == (NAME, FILENAME)
    finally:
        receiver.stop()


@pytest.mark.parametrize("file_name, stored", [
    ("holiday clip.mp4", "holiday clip.mp4"),
    # Longer than Rend keeps (Windows allows 255 UTF-16 units): cut at a character
    # boundary, and the bell dropped, rather than the whole upload refused.
    ("\u0007" + "é" * 140 + ".mp4", "é" * 128),
], ids=["plain", "long-with-control"])
def test_the_upload_page_sends_the_files_name_as_the_filename(rend, file_name, stored):
    node = shutil.which("node")
    if not node or not Path("/usr/bin/chromium").exists() or not (REPO_ROOT / "node_modules" / "playwright-core").exists():
        pytest.skip("node, Chromium and playwright-core are needed")
    origin = rend.api.rstrip("/")  # the API serves the page: same origin
    r = requests.post(rend.api + "/v1/uploads", json={"direct": True, "cors_origin": origin}, headers=rend.auth(),
                      timeout=10)
    assert r.status_code == 201, r.text
    page = f"{rend.api}/upload#tus={quote(r.json()['direct']['tus_url'], safe='')}"
    proc = subprocess.run([node, str(REPO_ROOT / "tests/integration/upload_name.mjs"), page, file_name, "30000"],
                          capture_output=True, text=True, timeout=90, cwd=str(REPO_ROOT))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no report: {proc.stdout[-1000:]} {proc.stderr[-2000:]}"
    report = json.loads(lines[-1])
    assert report["state"]["state"] == "done", json.dumps(report, indent=1)
    assert "filename " in report["metadata"], report["metadata"]
    a = rend.get_asset(r.json()["asset_id"])
    assert a["filename"] == stored
