"""A tiny HTTP/1.1 client on raw sockets.

Used where `requests` would get in the way:
  * request targets must reach the server byte for byte (no `..` normalisation, no
    re-encoding of %2e / %2f);
  * a large body must keep streaming only until the server answers (an early 413),
    the way curl and browsers do, instead of dying on a broken pipe.
"""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass
from typing import Iterable, Optional
from urllib.parse import urlsplit


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: dict  # lower-case name -> value (last one wins)
    body: bytes
    body_fully_sent: bool  # False when the server answered before the whole body went out
    reset: bool = False  # the connection was reset while reading the response (body may be cut)

    def json(self):
        import json

        return json.loads(self.body.decode("utf-8"))


def _parse_head(raw: bytes):
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return status, reason, headers, rest


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        line, _, data = data.partition(b"\r\n")
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


def request(
    url_base: str,
    method: str,
    target: str,
    headers: Optional[dict] = None,
    body: Optional[Iterable[bytes]] = None,
    content_length: Optional[int] = None,
    chunked: bool = False,
    timeout: float = 30.0,
) -> RawResponse:
    """Sends `method target` to the host of url_base exactly as given.

    body: an iterable of byte chunks; sent with Content-Length (content_length, which
    must be given) or with chunked transfer encoding. Sending stops as soon as the server
    starts answering.
    """
    u = urlsplit(url_base)
    host, port = u.hostname, u.port or 80
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        if body is not None:
            if chunked:
                lines.append("Transfer-Encoding: chunked")
            else:
                assert content_length is not None, "content_length is required without chunked"
                lines.append(f"Content-Length: {content_length}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("iso-8859-1"))

        fully_sent = True
        if body is not None:
            fully_sent = _send_body(sock, body, chunked, timeout)
        return _read_response(sock, fully_sent, timeout, head_request=(method == "HEAD"))
    finally:
        sock.close()


def _send_body(sock: socket.socket, body: Iterable[bytes], chunked: bool, timeout: float) -> bool:
    """Returns True when the whole body (and the chunked terminator) went out."""
    sock.setblocking(False)
    try:
        def frames():
            for chunk in body:
                if not chunk:
                    continue
                yield (b"%x\r\n" % len(chunk)) + chunk + b"\r\n" if chunked else chunk
            if chunked:
                yield b"0\r\n\r\n"

        for frame in frames():
            view = memoryview(frame)
            while view:
                r, w, _ = select.select([sock], [sock], [], timeout)
                if r:
                    return False  # the server answered (or closed): stop sending
                if not w:
                    raise TimeoutError(f"server neither read the body nor answered within {timeout}s")
                try:
                    n = sock.send(view)
                except (BrokenPipeError, ConnectionResetError):
                    return False
                except BlockingIOError:
                    continue
                view = view[n:]
        return True
    finally:
        sock.setblocking(True)
        sock.settimeout(timeout)


def _read_response(sock: socket.socket, fully_sent: bool, timeout: float, head_request: bool) -> RawResponse:
    buf = b""
    deadline = time.monotonic() + timeout
    parsed = None
    reset = False
    while time.monotonic() < deadline:
        parsed = _parse_head(buf) if b"\r\n\r\n" in buf else None
        if parsed is not None:
            status, reason, hdrs, rest = parsed
            if head_request or status in (204, 304) or 100 <= status < 200:
                if 100 <= status < 200:  # interim (100 Continue): drop it and keep reading
                    buf = rest
                    continue
                return RawResponse(status, reason, hdrs, b"", fully_sent)
            cl = hdrs.get("content-length")
            if cl is not None and len(rest) >= int(cl):
                return RawResponse(status, reason, hdrs, rest[: int(cl)], fully_sent)
            if "chunked" in hdrs.get("transfer-encoding", "").lower() and rest.endswith(b"0\r\n\r\n"):
                return RawResponse(status, reason, hdrs, _dechunk(rest), fully_sent)
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            data = b""
            reset = True
            if parsed is None and b"\r\n\r\n" not in buf:
                raise ConnectionResetError(
                    "connection reset before a response arrived (did the server close without answering, "
                    "or without draining the request body?)"
                )
        if not data:
            break
        buf += data
    parsed = _parse_head(buf) if b"\r\n\r\n" in buf else None
    if parsed is None:
        raise ConnectionError(f"no HTTP response (got {buf[:200]!r})")
    status, reason, hdrs, rest = parsed
    if "chunked" in hdrs.get("transfer-encoding", "").lower():
        rest = _dechunk(rest)
    return RawResponse(status, reason, hdrs, rest, fully_sent, reset)


# --- hostile-client helpers (tests/integration/test_hostile.py) ------------------------
# These send bytes exactly as given (no Host / Connection added) and report what came
# back, so a test can see every response the server produced on one connection: a
# smuggled second request shows up as a second response.


def parse_responses(data: bytes) -> list:
    """Every complete or partial HTTP response in `data`, in order, as
    (status, headers, body). Bodies are delimited by Content-Length or chunked framing;
    a response without either takes the rest of the stream."""
    out = []
    while data.startswith(b"HTTP/"):
        if b"\r\n\r\n" not in data:
            status = int(data.split(b" ", 2)[1]) if data.count(b" ") >= 1 else 0
            out.append((status, {}, b""))
            break
        status, _reason, hdrs, rest = _parse_head(data)
        if "content-length" in hdrs:
            n = int(hdrs["content-length"])
            body, data = rest[:n], rest[n:]
        elif "chunked" in hdrs.get("transfer-encoding", "").lower():
            end = rest.find(b"\r\n0\r\n\r\n")
            if end < 0:
                body, data = _dechunk(rest), b""
            else:
                body, data = _dechunk(rest[: end + 7]), rest[end + 7 :]
        elif status in (204, 304) or 100 <= status < 200:
            body, data = b"", rest
        else:
            body, data = rest, b""
        out.append((status, hdrs, body))
    return out


def exchange(url_base: str, data: bytes, timeout: float = 5.0) -> tuple:
    """Sends `data` raw on a fresh connection, then reads until the server closes it or
    `timeout` passes. Returns (responses, closed): the parsed responses and whether the
    server closed (or reset) the connection by itself."""
    u = urlsplit(url_base)
    sock = socket.create_connection((u.hostname, u.port or 80), timeout=timeout)
    buf, closed = b"", False
    try:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        deadline = time.monotonic() + timeout
        while not closed and time.monotonic() < deadline:
            r, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                break
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            buf += chunk
    finally:
        sock.close()
    return parse_responses(buf), closed


@dataclass
class StreamResult:
    sent: int  # bytes of the stream (after the head) that went out
    closed: bool  # the server closed or reset the connection
    responses: list  # parse_responses() of everything the server sent
    elapsed: float  # seconds from the first byte sent until the server closed (or we gave up)


def stream_until_closed(url_base: str, head: bytes, chunks: Iterable[bytes], max_bytes: int,
                        interval: float = 0.0, timeout: float = 10.0, sndbuf: int = 16384) -> StreamResult:
    """Sends `head`, then `chunks` one after another (sleeping `interval` between them)
    until the server closes the connection, `max_bytes` have gone out, or `timeout`
    passes. Whatever the server answers is collected.

    `sent` should approximate what the server read, so the client's send buffer is
    kept small: on loopback the kernel would otherwise take megabytes before the
    server's I/O thread even runs. What stays in flight unread is then bounded by
    this buffer plus the server's receive window (a few hundred KiB)."""
    u = urlsplit(url_base)
    sock = socket.create_connection((u.hostname, u.port or 80), timeout=timeout)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    sock.setblocking(False)
    buf, sent, closed = b"", 0, False
    t0 = time.monotonic()
    deadline = t0 + timeout

    def drain(wait: float) -> bool:
        nonlocal buf
        end = time.monotonic() + wait
        while True:
            r, _, _ = select.select([sock], [], [], max(0.0, end - time.monotonic()))
            if not r:
                return False
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return True
            except BlockingIOError:
                continue
            if not data:
                return True
            buf += data

    try:
        pending = memoryview(head)
        it = iter(chunks)
        while not closed and time.monotonic() < deadline:
            if not pending:
                if sent >= max_bytes:
                    break
                if interval:
                    closed = drain(interval)
                    if closed:
                        break
                try:
                    pending = memoryview(next(it))
                except StopIteration:
                    break
                counts = True
            else:
                counts = pending.obj is not head
            r, w, _ = select.select([sock], [sock], [], max(0.0, deadline - time.monotonic()))
            if r:
                closed = drain(0.0)
                if closed:
                    break
            if w and pending:
                try:
                    n = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                except BlockingIOError:
                    continue
                if counts:
                    sent += n
                pending = pending[n:]
        if not closed:
            # Give the server a moment to answer what it has (or to close).
            closed = drain(min(1.0, max(0.0, deadline - time.monotonic())))
    finally:
        elapsed = time.monotonic() - t0
        sock.close()
    return StreamResult(sent, closed, parse_responses(buf), elapsed)


class ClaimedBody:
    """A request whose body is sent in parts, under the test's control (an upload PUT
    or a tus PATCH). It sends Expect: 100-continue and waits for the 100: the server
    sends it with the handler's first body read, which comes after the handler claimed
    the upload, so "this request holds the claim" is a fact before the test goes on,
    however loaded the machine."""

    def __init__(self, method: str, url: str, headers: dict, length: int):
        from urllib.parse import urlparse
        u = urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=30)
        lines = [f"{method} {u.path}{'?' + u.query if u.query else ''} HTTP/1.1", f"Host: {u.netloc}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines += [f"Content-Length: {length}", "Expect: 100-continue", "", ""]
        self.sock.sendall("\r\n".join(lines).encode())
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = self.sock.recv(4096)
            assert chunk, f"connection closed before 100 Continue: {got!r}"
            got += chunk
        assert got.startswith(b"HTTP/1.1 100 "), f"expected 100 Continue (the claim), got {got[:200]!r}"

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self) -> tuple:
        """(status, head text, body bytes)."""
        raw = b""
        while b"\r\n\r\n" not in raw:
            chunk = self.sock.recv(65536)
            assert chunk, f"connection closed without a response: {raw!r}"
            raw += chunk
        head, body = raw.split(b"\r\n\r\n", 1)
        length = next((int(l.split(b":", 1)[1]) for l in head.split(b"\r\n")
                       if l.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return int(head.split(b" ", 2)[1]), head.decode(errors="replace"), body

    def close(self) -> None:
        self.sock.close()
