"""Imports from a URL (POST /v1/assets {"input_url"}): a worker fetches the URL into the
object store, streaming, and the asset goes on like an upload. The fetch is a request
to a customer's URL, so every address it connects to is checked (after DNS, on every
redirect): loopback and private ones only with REND_ALLOW_PRIVATE_OUTBOUND_URLS=true,
link-local (the metadata service) never. The URL may carry a signed query: it never
shows up in answers, errors or logs."""

from __future__ import annotations

import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import SESSION_MAX_UPLOAD_BYTES, backends, services_env

SIGNATURE = "X-Amz-Signature=d00dfeedsecret"


class Source:
    """A local HTTP server standing in for the customer's storage; it records every request."""

    def __init__(self, clip: bytes):
        self.clip = clip
        self.requests: list[str] = []
        self.release = threading.Event()  # ends /stall
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                outer.requests.append(self.path)
                path = self.path.split("?")[0]
                if path == "/clip.mp4":
                    self._send(200, outer.clip)
                elif path == "/big":
                    self.send_response(200)
                    self.send_header("Content-Length", str(SESSION_MAX_UPLOAD_BYTES + 65536))
                    self.end_headers()
                    chunk = b"\0" * 65536
                    try:
                        for _ in range(SESSION_MAX_UPLOAD_BYTES // 65536 + 1):
                            self.wfile.write(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the worker hung up at the limit, as it should
                elif path == "/redirect-metadata":
                    self._redirect("http://169.254.169.254/latest/meta-data/")
                elif path == "/redirect-file":
                    self._redirect("file:///etc/passwd")
                elif path == "/missing":
                    self._send(404, b"no such object")
                elif path == "/stall":
                    outer.release.wait(30)  # headers never come before the worker's timeout
                    self.close_connection = True

            def _send(self, status, body):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _redirect(self, to):
                self.send_response(302)
                self.send_header("Location", to)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def clip(clips) -> bytes:
    return clips["h264_640x360"].read_bytes()


@pytest.fixture(scope="module")
def source(clip):
    s = Source(clip)
    yield s
    s.close()


@pytest.fixture(scope="module", params=backends())
def srv(request, server_factory):
    """Loopback allowed (the test source is on 127.0.0.1), a short import timeout."""
    env = {"REND_ALLOW_PRIVATE_OUTBOUND_URLS": "true", "REND_IMPORT_TIMEOUT_SECS": "2"}
    if request.param == "services":
        env.update(services_env())
    s = server_factory(f"import-{request.param}", extra_env=env, start=False)
    s.backend = request.param
    return s.start()


@pytest.fixture(scope="module")
def strict(server_factory):
    """The default policy: no loopback or private addresses."""
    return server_factory("import-strict")


def create_import(srv, url, **extra):
    return requests.post(srv.api + "/v1/assets", json={"input_url": url, **extra}, headers=srv.auth(), timeout=10)


def import_ok(srv, url, **extra) -> dict:
    r = create_import(srv, url, **extra)
    assert r.status_code == 201, f"{r.status_code} {r.text[:500]}"
    return r.json()


def logs(srv) -> str:
    return srv.stdout_path.read_text(errors="replace") + srv.stderr_path.read_text(errors="replace")


def test_import_reaches_hls_ready_with_the_source_byte_identical(srv, source, clip):
    a = import_ok(srv, f"{source.base}/clip.mp4?{SIGNATURE}", visibility="private")
    assert a["status"] == "queued", a
    assert a["visibility"] == "private"
    assert SIGNATURE not in str(a) and "input_url" not in a, "the URL is never returned"
    done = srv.wait_status(a["id"], "hls_ready", timeout=120)
    assert done["source_bytes"] == len(clip)
    assert done["uploaded_at"], done
    stored = srv.read_object(f"sources/{a['id']}")
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(clip).hexdigest()
    assert SIGNATURE.split("=")[1] not in logs(srv), "the signed query is never logged"


@pytest.mark.parametrize("url, why", [
    ("file:///etc/passwd", "http"),
    ("ftp://127.0.0.1/clip.mp4", "http"),
    ("http://user:pass@127.0.0.1/clip.mp4", "credentials"),
    ("not a url", "valid"),
])
def test_bad_shapes_are_refused_at_once_and_nothing_is_created(srv, source, url, why):
    before = requests.get(srv.api + "/v1/assets?limit=100", headers=srv.auth(), timeout=10).json()["data"]
    seen = len(source.requests)
    r = create_import(srv, url)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "input_forbidden", err
    assert why in err["message"], err
    assert "pass" not in r.text
    after = requests.get(srv.api + "/v1/assets?limit=100", headers=srv.auth(), timeout=10).json()["data"]
    assert [x["id"] for x in after] == [x["id"] for x in before]
    assert len(source.requests) == seen


def test_a_missing_or_non_string_url_is_400(srv):
    for body in ({}, {"input_url": 7}, {"input_url": ""}):
        r = requests.post(srv.api + "/v1/assets", json=body, headers=srv.auth(), timeout=10)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input_url", (body, r.text)
    r = requests.post(srv.api + "/v1/assets", json={"input_url": "https://x.example/a", "visibility": "secret"},
                      headers=srv.auth(), timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_visibility"


def test_a_key_without_the_upload_scope_is_refused(srv):
    key = srv.create_key("read", name="import-read-only")
    r = requests.post(srv.api + "/v1/assets", json={"input_url": "https://x.example/a"}, headers=srv.auth(key),
                      timeout=10)
    assert r.status_code == 403, r.text


def failed_with(srv, asset_id, code) -> dict:
    a = srv.wait_status(asset_id, "failed", timeout=60)
    assert a["error"]["code"] == code, a
    assert SIGNATURE not in str(a)
    assert srv.object_keys(f"sources/{asset_id}") == {}, "nothing stays in the object store"
    assert srv.object_keys(f"assets/{asset_id}/") == {}
    return a


def test_the_metadata_address_is_forbidden_even_with_the_switch(srv):
    a = import_ok(srv, f"http://169.254.169.254/latest/meta-data/?{SIGNATURE}")
    failed_with(srv, a["id"], "input_forbidden")


def test_a_redirect_to_the_metadata_address_is_forbidden(srv, source):
    seen = len(source.requests)
    a = import_ok(srv, f"{source.base}/redirect-metadata")
    failed_with(srv, a["id"], "input_forbidden")
    assert source.requests[seen:] == ["/redirect-metadata"], "the first hop was fetched, the redirect refused"


def test_a_redirect_to_a_file_url_is_forbidden(srv, source):
    a = import_ok(srv, f"{source.base}/redirect-file")
    failed_with(srv, a["id"], "input_forbidden")


def test_a_body_over_the_upload_limit_is_too_large(srv, source):
    a = import_ok(srv, f"{source.base}/big")
    failed_with(srv, a["id"], "input_too_large")


def test_a_non_2xx_answer_is_unreachable(srv, source):
    a = import_ok(srv, f"{source.base}/missing?{SIGNATURE}")
    f = failed_with(srv, a["id"], "input_unreachable")
    assert "404" in f["error"]["message"]


def test_an_unreachable_port_is_unreachable(srv):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there now
    a = import_ok(srv, f"http://127.0.0.1:{port}/clip.mp4")
    failed_with(srv, a["id"], "input_unreachable")


def test_a_stalling_server_is_unreachable_after_the_timeout(srv, source):
    a = import_ok(srv, f"{source.base}/stall")
    failed_with(srv, a["id"], "input_unreachable")  # REND_IMPORT_TIMEOUT_SECS=2


def test_loopback_without_the_switch_is_forbidden_and_never_requested(strict, source):
    seen = len(source.requests)
    a = import_ok(strict, f"{source.base}/clip.mp4?{SIGNATURE}")
    failed_with(strict, a["id"], "input_forbidden")
    assert len(source.requests) == seen, f"the source was requested: {source.requests[seen:]}"
    assert SIGNATURE.split("=")[1] not in logs(strict)
