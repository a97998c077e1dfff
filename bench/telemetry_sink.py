"""Stands in for the API's POST /internal/telemetry in the edge benches: answers every
batch 200 (so the edge pays its whole telemetry cost: events, batches, JSON, HTTP) and,
given a file, keeps the number of events received in it.
    telemetry_sink.py PORT [COUNT_FILE]"""
import http.server
import socket
import sys

port = int(sys.argv[1])
count_file = sys.argv[2] if len(sys.argv) > 2 else None
count = 0


def events_in(body):
    """Events in a batch: a binary v1 one (telemetry/wire.h: "RNDT", version, batch_id
    and edge_id as LEB128-length strings, then a u32 LE count) or an older JSON one."""
    if not body.startswith(b"RNDT"):
        return body.count(b'"event_id"')
    pos = 5
    for _ in range(2):  # batch_id, edge_id
        n = shift = 0
        while True:
            b = body[pos]
            pos += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        pos += n
    return int.from_bytes(body[pos:pos + 4], "little")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if count_file:
            count += events_in(body)
            with open(count_file, "w") as f:
                f.write(str(count))
        # One write for head and body: split writes meet Nagle + delayed ACK (40 ms a batch).
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    def get_request(self):
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr


Server(("127.0.0.1", port), Handler).serve_forever()
