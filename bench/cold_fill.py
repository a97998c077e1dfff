#!/usr/bin/env python3
"""Helpers of bench/cold_fill.sh (standard library only).

  cold_fill.py origin PORT [--ttfb-ms 100] [--seconds 2] [--size 1048576]
      A pacing S3-compatible origin (path-style GET/HEAD of any key): waits --ttfb-ms
      before the response head, then sends --size bytes in 20 equal slices spread over
      --seconds (keys under a 360p/ rung: --hit-size bytes, for the warm HIT load).
      Every key has a body derived from its name (body_of), so a viewer can
      check each byte. GET /__stats answers {"gets": {key: count}, "head_ms": {key: ms}, "arrived_at": {key:
      unix time of the first request}, "head_at": {key: unix time its head was sent}}.

  cold_fill.py storm --edge URL --asset ID --token T [--objects 50] [--viewers 500]
      Opens --viewers connections to the edge, then sends them all at once a GET of
      one of --objects cold segments (round robin), each with the playback cookie.
      Measures each viewer's time to the first response byte and checks the status,
      Content-Length and every body byte. Prints one JSON line; exits 1 if any viewer
      failed or got a wrong body. With --origin, also where the time went: when the
      requests reached the origin, when its heads left, and how long the edge took
      from an object's head to each viewer's first byte (edge_forward_ms).
"""
import argparse
import asyncio
import json
import resource
import sys
import time
import urllib.request
from urllib.parse import urlsplit

SLICES = 20


def body_of(key, size):
    unit = (key + "|").encode()
    return (unit * (size // len(unit) + 1))[:size]


def run_origin(args):
    """asyncio, one thread: a request costs one parse on the event loop (no thread
    start per connection), the head leaves --ttfb-ms after the request's last header
    byte arrived, and connections are kept alive (HTTP/1.1) as S3 does, so an edge
    that reuses them is measured as such. Records per key when its connection was
    accepted, whether it was reused, when the request arrived and the head left."""
    gets, head_ms, arrived_at, head_at, accepted_at, reused = {}, {}, {}, {}, {}, {}
    conns = {"accepted": 0}

    def key_of(target):
        # /bucket/key...: the object key is everything after the bucket.
        parts = urlsplit(target).path.lstrip("/").split("/", 1)
        return parts[1] if len(parts) == 2 else ""

    async def serve(reader, writer):
        accepted = time.time()
        conns["accepted"] += 1
        served = 0
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                t0, arrived = time.monotonic(), time.time()
                line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
                if len(line) != 3:
                    return
                method, target = line[0], line[1]
                close = b"\r\nconnection: close" in head.lower()
                if target == "/__stats":
                    out = json.dumps({"gets": gets, "head_ms": head_ms, "arrived_at": arrived_at,
                                      "head_at": head_at, "accepted_at": accepted_at, "reused": reused,
                                      "connections": conns["accepted"]}).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(out) + out)
                    await writer.drain()
                    served += 1
                    if close:
                        return
                    continue
                key = key_of(target)
                size = args.hit_size if "/360p/" in key else args.size
                if method == "HEAD":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (size if key else 0))
                    await writer.drain()
                    served += 1
                    if close:
                        return
                    continue
                gets[key] = gets.get(key, 0) + 1
                arrived_at.setdefault(key, arrived)
                accepted_at.setdefault(key, accepted)
                reused.setdefault(key, served > 0)
                body = body_of(key, size)
                await asyncio.sleep(max(0.0, t0 + args.ttfb_ms / 1000 - time.monotonic()))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: video/mp2t\r\n\r\n"
                             % len(body))
                await writer.drain()
                head_ms[key] = (time.monotonic() - t0) * 1000
                head_at.setdefault(key, time.time())
                step = (len(body) + SLICES - 1) // SLICES
                start = time.monotonic()
                for i in range(SLICES):
                    # Slice i leaves at i/SLICES of the way through: the last one at the end.
                    await asyncio.sleep(max(0.0, start + args.seconds * i / SLICES - time.monotonic()))
                    writer.write(body[i * step:(i + 1) * step])
                    await writer.drain()
                served += 1
                if close:
                    return
        except ConnectionError:
            return
        finally:
            writer.close()

    async def main():
        srv = await asyncio.start_server(serve, "127.0.0.1", args.port, backlog=1024)
        async with srv:
            await srv.serve_forever()

    asyncio.run(main())


class Viewer(asyncio.Protocol):
    """One viewer on its own connection. A Protocol rather than streams: the client
    must cost little next to the edge (500 viewers take ~250 MB/s through it), or its
    own event-loop lag would show up as the edge's TTFB."""

    def __init__(self, path, expect, done):
        self.path, self.expect, self.done = path, expect, done
        self.rec = {"path": path, "key": "assets/" + path.split("/", 2)[2], "ok": False}
        self.chunks, self.got, self.head, self.length = [], 0, None, -1

    def connection_made(self, transport):
        self.transport = transport

    def send(self, request):
        self.t0 = time.monotonic()
        self.rec["sent_at"] = self.t0
        self.transport.write(request)

    def data_received(self, data):
        if "ttfb_ms" not in self.rec:
            self.rec["ttfb_ms"] = (time.monotonic() - self.t0) * 1000
        if self.head is None:
            self.chunks.append(data)
            buf = b"".join(self.chunks)
            if b"\r\n\r\n" not in buf:
                self.chunks = [buf]
                return
            head, _, rest = buf.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            self.head = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
            self.rec["status"] = int(lines[0].split()[1])
            self.rec["cache"] = self.head.get("x-rend-cache", "")
            self.length = int(self.head.get("content-length", "-1"))
            self.chunks, data = [], rest
            if self.rec["status"] != 200:
                return self.finish(f"status {self.rec['status']}")
            if self.length != len(self.expect):
                return self.finish(f"Content-Length {self.length}, expected {len(self.expect)}")
        self.chunks.append(data)
        self.got += len(data)
        if self.got >= self.length:
            self.finish()

    def connection_lost(self, exc):
        self.finish(f"connection closed after {self.got} body bytes" + (f" ({exc})" if exc else ""))

    def finish(self, error=None):
        if self.done.done():
            return
        if error is None:
            self.rec["total_ms"] = (time.monotonic() - self.t0) * 1000
            if b"".join(self.chunks) != self.expect:
                error = "body differs from the origin's"
        if error:
            self.rec["error"] = error
        else:
            self.rec["ok"] = True
        self.transport.close()
        self.done.set_result(self.rec)


async def storm(args):
    u = urlsplit(args.edge)
    keys = [f"720p/seg_{i:05d}.ts" for i in range(args.objects)]
    expect = {k: body_of(f"assets/{args.asset}/{k}", args.size) for k in keys}
    loop = asyncio.get_running_loop()
    viewers = []
    for v in range(args.viewers):
        k = keys[v % len(keys)]
        done = loop.create_future()
        try:
            _, proto = await loop.create_connection(lambda: Viewer(f"/v/{args.asset}/{k}", expect[k], done),
                                                    u.hostname, u.port)
        except OSError as e:
            print(json.dumps({"viewers": args.viewers, "failed": args.viewers, "errors": [f"connect: {e}"]}))
            return 1
        viewers.append(proto)
    await asyncio.sleep(0.3)  # every connection accepted before the storm
    t0, t0_wall = time.monotonic(), time.time()
    for p in viewers:  # all requests in one go: one write each, no awaits in between
        p.send((f"GET {p.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n"
                f"Cookie: rend_playback={args.token}\r\nConnection: close\r\n\r\n").encode())
    try:
        out = await asyncio.wait_for(asyncio.gather(*(p.done for p in viewers)), timeout=60)
    except asyncio.TimeoutError:
        out = [p.done.result() if p.done.done() else dict(p.rec, error="no complete answer in 60 s") for p in viewers]
    wall = (time.monotonic() - t0) * 1000
    ttfb = sorted(r["ttfb_ms"] for r in out if "ttfb_ms" in r)
    # Where the time goes, on the origin's clock (same machine): when each object's
    # request reached the origin, when its head left, and how long after that the edge
    # handed each viewer its first byte.
    where = {}
    q = lambda v, p: round(v[min(len(v) - 1, int(p * len(v)))], 1) if v else -1
    if args.origin:
        with urllib.request.urlopen(args.origin + "/__stats") as r:
            st = json.load(r)
        mine = [f"assets/{args.asset}/{k}" for k in keys]
        arrived = sorted((st["arrived_at"][k] - t0_wall) * 1000 for k in mine if k in st["arrived_at"])
        head = {k: (st["head_at"][k] - t0_wall) * 1000 for k in mine if k in st["head_at"]}
        after = sorted(r["ttfb_ms"] + (r["sent_at"] - t0) * 1000 - head[r["key"]]
                       for r in out if "ttfb_ms" in r and r["key"] in head)
        acc = sorted((st["accepted_at"][k] - t0_wall) * 1000 for k in mine
                     if k in st["accepted_at"] and not st["reused"].get(k))
        where = {"origin_new_connections": len(acc),
                 "origin_connected_after_ms_p50": q(acc, .5), "origin_connected_after_ms_max": q(acc, 1),
                 "origin_request_after_ms_p50": q(arrived, .5), "origin_request_after_ms_max": q(arrived, 1),
                 "origin_head_after_ms_p50": q(sorted(head.values()), .5),
                 "origin_head_after_ms_max": q(sorted(head.values()), 1),
                 "edge_forward_ms_p50": q(after, .5), "edge_forward_ms_p95": q(after, .95),
                 "edge_forward_ms_max": q(after, 1)}
    if args.edge_log:
        # The edge's own clock for each fill (edge_fill_done lines): when the miss started
        # it, how long it waited for a fill worker, how long the origin took to its head.
        fills = {}
        with open(args.edge_log) as f:
            for line in f:
                if '"edge_fill_done"' in line:
                    d = json.loads(line)
                    fills[d["key"]] = d
        mine = [fills[f"assets/{args.asset}/{k}"] for k in keys if f"assets/{args.asset}/{k}" in fills]
        started = sorted(d["requested_unix_ms"] - t0_wall * 1000 for d in mine)
        queued = sorted(d["queued_ms"] for d in mine)
        ohead = sorted(d["origin_head_ms"] for d in mine)
        got = sorted(d["requested_unix_ms"] - t0_wall * 1000 + d["queued_ms"] + d["origin_head_ms"] for d in mine)
        where.update({"edge_fill_started_after_ms_p50": q(started, .5), "edge_fill_started_after_ms_max": q(started, 1),
                      "edge_fill_queued_ms_p50": q(queued, .5), "edge_fill_queued_ms_max": q(queued, 1),
                      "edge_origin_head_ms_p50": q(ohead, .5), "edge_origin_head_ms_max": q(ohead, 1),
                      "edge_got_head_after_ms_p50": q(got, .5), "edge_got_head_after_ms_max": q(got, 1)})
    failed = [r for r in out if not r["ok"]]
    sent = [r["sent_at"] for r in out if "sent_at" in r]

    def pct(p):
        return ttfb[min(len(ttfb) - 1, int(p * len(ttfb)))] if ttfb else -1

    print(json.dumps({
        "viewers": len(out), "failed": len(failed), "errors": sorted({r.get("error", "") for r in failed})[:5],
        "ttfb_p50_ms": round(pct(0.50), 1), "ttfb_p95_ms": round(pct(0.95), 1), "ttfb_max_ms": round(ttfb[-1] if ttfb else -1, 1),
        "total_p50_ms": round(sorted(r.get("total_ms", 0) for r in out)[len(out) // 2], 1), "wall_ms": round(wall, 1),
        # How long the client took to send all requests (its own share of the TTFBs).
        "send_spread_ms": round((max(sent) - min(sent)) * 1000, 1) if sent else -1,
        # CPU seconds this client used (it shares the 2 cores with the edge), and the
        # kernel's part of it (receiving 500 MB: any client pays that).
        "client_cpu_s": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 2),
        "client_sys_s": round(resource.getrusage(resource.RUSAGE_SELF).ru_stime, 2),
        **where,
    }))
    return 1 if failed else 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("origin")
    o.add_argument("port", type=int)
    o.add_argument("--ttfb-ms", type=float, default=100)
    o.add_argument("--seconds", type=float, default=2)
    o.add_argument("--size", type=int, default=1 << 20)
    o.add_argument("--hit-size", type=int, default=64 << 10)
    s = sub.add_parser("storm")
    s.add_argument("--edge", required=True)
    s.add_argument("--asset", required=True)
    s.add_argument("--token", required=True)
    s.add_argument("--objects", type=int, default=50)
    s.add_argument("--viewers", type=int, default=500)
    s.add_argument("--size", type=int, default=1 << 20)
    s.add_argument("--origin", help="the pacing origin's URL, for where the time goes")
    s.add_argument("--edge-log", help="the edge's log (edge_fill_done lines), for where the time goes")
    args = p.parse_args()
    if args.cmd == "origin":
        run_origin(args)
        return 0
    return asyncio.run(storm(args))


if __name__ == "__main__":
    sys.exit(main())
