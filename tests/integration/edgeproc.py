"""Helpers for tests that run `rend edge` on its own: an origin to put objects in
(a directory object store, or s3rver behind a pacing proxy), playback tokens,
the edge process itself, and Prometheus text parsing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import http.server
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

import pytest
import requests

from conftest import REPO_ROOT, free_port, inherited_env, rend_bin, tail

SECRET = "edge-test-signing-secret-" + "x" * 24
INTERNAL_TOKEN = "edge-test-internal-token-" + "y" * 24


def new_asset_id() -> str:
    return "ast_" + "".join(random.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(26))


def sign(asset_id: str, ttl: int = 3600, secret: str = SECRET, kid: str = "dev", session: Optional[str] = None) -> str:
    """A v2 playback token with a fresh session id (what the player bootstrap mints);
    session="" makes a v1 token."""
    if session is None:
        session = "s" + os.urandom(8).hex()
    msg = f"v{2 if session else 1}.{kid}.{int(time.time()) + ttl}.{asset_id}" + (f".{session}" if session else "")
    sig = base64.urlsafe_b64encode(hmac.new(secret.encode(), msg.encode(), hashlib.sha256).digest()).rstrip(b"=")
    return msg + "." + sig.decode()


def metrics(text: str) -> dict:
    """Prometheus text -> {"name{labels}": value}; also checks every sample line parses."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.eE+-]+|NaN|[+-]Inf)', line)
        assert m, f"not a Prometheus sample line: {line!r}"
        out[m.group(1)] = float(m.group(2))
    return out


class PacingProxy:
    """A reverse proxy in front of the real S3 server that can slow object bodies
    down (`delay` seconds per `chunk` bytes) or cut them off after `die_after` bytes.
    Counts GETs per path so tests can see how often the edge went to the origin."""

    def __init__(self, upstream: str):
        u = urlsplit(upstream)
        self.host, self.port = u.hostname, u.port
        self.delay, self.chunk, self.die_after = 0.0, 64 * 1024, None
        self.gets: dict = {}
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _forward(self, with_body: bool):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=30)
                conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                up = conn.getresponse()
                if self.command == "GET":
                    key = self.path.split("?")[0]
                    proxy.gets[key] = proxy.gets.get(key, 0) + 1
                self.send_response(up.status)
                for k, v in up.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Connection", "close")
                self.end_headers()
                sent = 0
                while with_body:
                    data = up.read(proxy.chunk)
                    if not data:
                        break
                    if proxy.die_after is not None and sent + len(data) > proxy.die_after:
                        self.wfile.write(data[: max(0, proxy.die_after - sent)])
                        self.wfile.flush()
                        # Abort: RST instead of a clean close, like a crashed origin.
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                        self.connection.close()
                        conn.close()
                        return
                    self.wfile.write(data)
                    self.wfile.flush()
                    sent += len(data)
                    if proxy.delay:
                        time.sleep(proxy.delay)
                conn.close()
                self.close_connection = True

            def do_GET(self):
                self._forward(True)

            def do_HEAD(self):
                self._forward(False)

            def do_PUT(self):
                self._forward(True)

        class Server(http.server.ThreadingHTTPServer):
            # socketserver's default backlog (5) drops SYNs when many fills start at
            # once, and each dropped SYN costs the edge a 1 s retransmit.
            request_queue_size = 128

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def origin_gets(self, suffix: str) -> int:
        return sum(n for k, n in self.gets.items() if k.endswith(suffix))

    def close(self):
        self.server.shutdown()


class Origin:
    """Where the edge fetches from: a directory object store (embedded) or s3rver
    (services), optionally behind a PacingProxy."""

    def __init__(self, backend: str, root: Path):
        self.backend = backend
        self.proxy: Optional[PacingProxy] = None
        if backend == "services":
            self.endpoint = os.environ["REND_TEST_S3_ENDPOINT"]
            self.bucket = os.environ.get("REND_TEST_S3_BUCKET", "rend")
            self.proxy = PacingProxy(self.endpoint)
        else:
            self.dir = root / "origin"
            self.dir.mkdir(parents=True, exist_ok=True)

    def put(self, key: str, data: bytes) -> None:
        if self.backend == "services":
            r = requests.put(f"{self.endpoint}/{self.bucket}/{key}", data=data, timeout=30)
            assert r.status_code == 200, f"s3 put {key}: {r.status_code} {r.text[:200]}"
        else:
            p = self.dir / key
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)

    def env(self) -> dict:
        if self.backend == "services":
            return {"S3_ENDPOINT": self.proxy.url, "S3_BUCKET": self.bucket, "S3_REGION": "us-east-1",
                    "AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}
        return {"REND_OBJECT_STORE_DIR": str(self.dir)}

    def close(self):
        if self.proxy:
            self.proxy.close()


class RendProcess:
    """One `rend <role>` process with its log; start() may be called again after
    stop() or kill()."""

    def __init__(self, name: str, args: list, log: Path):
        self.name, self.args, self.log = name, args, log
        self.proc: Optional[subprocess.Popen] = None

    def start(self, env: dict, ready_url: str, timeout: float = 30) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([str(rend_bin()), *self.args], env=env, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, cwd=str(REPO_ROOT))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"rend {self.name} exited early\n{tail(self.log)}"
            try:
                if requests.get(ready_url, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        pytest.fail(f"rend {self.name} not ready\n{tail(self.log)}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(timeout=20)
            assert rc == 0, f"rend {self.name} exited {rc}\n{tail(self.log)}"
        self.proc = None

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None


class Edge:
    """One `rend edge` process. start() may be called again after stop()/kill()."""

    def __init__(self, data_dir: Path, env: dict):
        self.data_dir, self.extra = data_dir, env
        self.process = RendProcess("edge", ["edge", "--data-dir", str(data_dir)], data_dir / "edge.log")
        self.port = self.internal_port = 0

    @property
    def log(self) -> Path:
        return self.process.log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def internal_url(self) -> str:
        return f"http://127.0.0.1:{self.internal_port or self.port}"

    def start(self, internal_listener: bool = False, **overrides) -> "Edge":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        env = inherited_env()
        env.update({
            "REND_EDGE_BIND_ADDR": f"127.0.0.1:{self.port}",
            "REND_PLAYBACK_SIGNING_SECRET": SECRET,
            "REND_EDGE_INTERNAL_TOKEN": INTERNAL_TOKEN,
            "REND_EDGE_TELEMETRY_ENABLED": "false",
        })
        if internal_listener:
            self.internal_port = free_port()
            env["REND_EDGE_INTERNAL_BIND_ADDR"] = f"127.0.0.1:{self.internal_port}"
        else:
            self.internal_port = 0
        env.update(self.extra)
        env.update({k: str(v) for k, v in overrides.items()})
        self.process.start(env, self.url + "/healthz", timeout=20)
        return self

    def get(self, asset: str, path: str, token: Optional[str] = None, **kw) -> requests.Response:
        headers = kw.pop("headers", {})
        headers.setdefault("Cookie", f"rend_playback={token or sign(asset)}")
        return requests.get(f"{self.url}/v/{asset}/{path}", headers=headers, timeout=kw.pop("timeout", 30), **kw)

    def metrics(self) -> dict:
        r = requests.get(self.internal_url + "/metrics", timeout=5)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
        return metrics(r.text)

    def internal(self, endpoint: str, body: dict, token: Optional[str] = INTERNAL_TOKEN) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.post(f"{self.internal_url}/internal/{endpoint}", json=body, headers=headers, timeout=60)

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        self.process.kill()
