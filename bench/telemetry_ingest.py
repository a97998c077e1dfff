#!/usr/bin/env python3
"""Telemetry ingest throughput: how many playback events per second one `rend api`
stores in ClickHouse through POST /internal/telemetry, next to the anchor: clickhouse-client
inserting the same kind of rows from a RowBinary file (the server's own limit).

Starts nothing: point it at a running API (bench/telemetry_ingest.sh starts ClickHouse
and `rend api` and calls this).

    bench/telemetry_ingest.py --api http://127.0.0.1:4000 --token $REND_INTERNAL_TELEMETRY_TOKEN \
        --api-key $KEY --events 300000 --batch 1000 --concurrency 8 [--runs 5] \
        [--anchor-port TCP --anchor-database DB --clickhouse-url URL --api-pid P --clickhouse-pid P]

Per run: distinct batches (unique event ids, their own edge ids and time window) are
generated before the clock starts, in the binary format edges send (--wire json: the JSON
format older edges send), then POSTed by --concurrency threads over keep-alive
connections. A 503 (busy / store unavailable) is retried after its Retry-After, as an
edge would; retries count in the time. With --clickhouse-url the run's time ends when
ClickHouse holds every event (a 200 may mean "in the API's journal"), polled every 20 ms;
that is the figure compared with the anchor (system.parts' row total, not a count()
over the rows, which would cost the server more CPU than the inserts at 50 polls a second). Afterwards GET /v1/analytics/edges (the API
key needs the `operator` scope) must report exactly --events requests for the run's
edges, and with --anchor-port ClickHouse must hold exactly --events rows with as many
distinct event ids (no duplicate, none lost), for Rend's runs and the anchor's alike.
The anchor runs (--anchor-port) alternate with Rend's; each inserts its own run's rows
into the table anchor_events (same definition as playback_events) in one
`clickhouse-client --query "INSERT ... FORMAT RowBinary" < file`, timed from the
client's start to its exit. --api-pid/--clickhouse-pid add each side's CPU seconds.

Standard library only. Exit status 1 when a run is not counted exactly.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

KINDS = (("segment", 0.9), ("playlist", 0.06), ("master", 0.03), ("poster", 0.01))
TIERS = ("1080p", "720p", "540p", "360p")


def make_events(run_id: str, events: int, batch_size: int, edges: int, base_ms: int) -> list:
    """The run's events as (batch_id, edge, fields) per batch; fields in wire/column order."""
    rnd = random.Random(run_id)
    assets = ["ast_" + "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(26)) for _ in range(50)]
    sessions = [f"{rnd.getrandbits(128):032x}" for _ in range(2000)]
    kinds = [k for k, w in KINDS for _ in range(int(w * 100))]
    batches = []
    n = 0
    b = 0
    while n < events:
        size = min(batch_size, events - n)
        edge = f"bench-{run_id}-{b % edges}"
        rows = []
        for i in range(size):
            kind = rnd.choice(kinds)
            tier = rnd.choice(TIERS) if kind in ("segment", "playlist") else ""
            seg = kind == "segment"
            artifact = f"{tier}/seg_{i % 500:05d}.ts" if seg else (f"{tier}/index.m3u8" if tier else "master.m3u8")
            # event_id ts_ms edge_id region asset_id artifact kind tier session_id status bytes cache
            # ttfb_ms duration_ms media_seconds
            rows.append((f"evt_{run_id}_{n + i}", base_ms + (n + i) % 3_600_000, edge, "bench", rnd.choice(assets),
                         artifact, kind, tier, rnd.choice(sessions), 200,
                         rnd.randint(500_000, 3_000_000) if seg else rnd.randint(200, 2000),
                         "HIT" if rnd.random() < 0.9 else "MISS", rnd.randint(0, 50), rnd.randint(1, 400),
                         4.0 if seg else 0.0))
        batches.append((f"bat_{run_id}_{b}", edge, rows))
        n += size
        b += 1
    return batches


def json_bodies(batches: list) -> list:
    """Encoded bodies, each a realistic edge batch (~360 bytes per event), as an edge sends them."""
    bodies = []
    for batch_id, edge, rows in batches:
        parts = [
            '{"event_id":"%s","ts_ms":%d,"edge_id":"%s","region":"%s","asset_id":"%s",'
            '"artifact":"%s","kind":"%s","tier":"%s","session_id":"%s","status":%d,"bytes":%d,'
            '"cache":"%s","ttfb_ms":%d,"duration_ms":%d,"media_seconds":%.3f}' % r for r in rows]
        bodies.append(('{"batch_id":"%s","edge_id":"%s","events":[%s]}' % (batch_id, edge, ",".join(parts))).encode())
    return bodies


def _leb_string(v: str) -> bytes:
    b = v.encode()
    n, out = len(b), bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out) + b


def binary_bodies(batches: list) -> list:
    """The same batches in the binary format edges send (src/telemetry/wire.h, ~190 bytes per
    event): "RNDT" 1 | batch_id | edge_id | u32 count | rows close to RowBinary."""
    s = _leb_string
    bodies = []
    for batch_id, edge, rows in batches:
        out = [b"RNDT\x01", s(batch_id), s(edge), struct.pack("<I", len(rows))]
        for (eid, ts_ms, edge_id, region, asset, artifact, kind, tier, sid, status, nbytes, cache, ttfb, dur,
             media) in rows:
            out += [s(eid), struct.pack("<q", ts_ms), s(edge_id), s(region), s(asset), s(artifact), s(kind), s(tier),
                    s(sid), struct.pack("<iq", status, nbytes), s(cache), struct.pack("<qqd", ttfb, dur, media)]
        bodies.append(b"".join(out))
    return bodies


WIRE_CONTENT_TYPES = {"binary": "application/vnd.rend.telemetry.v1", "json": "application/json"}


# The anchor's columns: every column of playback_events, in the order Rend's insert names them.
ANCHOR_COLUMNS = ("event_id, batch_id, ts, ts_ms, edge_id, region, asset_id, artifact, kind, tier, session_id, "
                  "status, bytes, cache, ttfb_ms, duration_ms, media_seconds, ingested_at_ms")


def rowbinary(batches: list, ingested_at_ms: int) -> bytes:
    """The same rows in ClickHouse's RowBinary (LEB128-prefixed strings, little-endian numbers)."""
    s = _leb_string
    out = []
    for batch_id, _edge, rows in batches:
        bid = s(batch_id)
        for (eid, ts_ms, edge, region, asset, artifact, kind, tier, sid, status, nbytes, cache, ttfb, dur,
             media) in rows:
            out += [s(eid), bid, struct.pack("<Iq", ts_ms // 1000, ts_ms), s(edge), s(region), s(asset),
                    s(artifact), s(kind), s(tier), s(sid), struct.pack("<iq", status, nbytes), s(cache),
                    struct.pack("<qqdq", ttfb, dur, media, ingested_at_ms)]
    return b"".join(out)


class Poster(threading.Thread):
    def __init__(self, api: urllib.parse.SplitResult, token: str, bodies: list, start: threading.Barrier,
                 content_type: str):
        super().__init__(daemon=True)
        self.api, self.token, self.bodies, self.start_barrier = api, token, bodies, start
        self.content_type = content_type
        self.retries = 0
        self.error = None

    def run(self) -> None:
        conn = http.client.HTTPConnection(self.api.hostname, self.api.port or 80, timeout=60)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": self.content_type}
        self.start_barrier.wait()
        try:
            for body in self.bodies:
                for _attempt in range(100):
                    try:
                        conn.request("POST", "/internal/telemetry", body=body, headers=headers)
                        r = conn.getresponse()
                        data = r.read()
                    except (http.client.HTTPException, OSError):
                        conn.close()  # the server closed a keep-alive connection: reconnect
                        self.retries += 1
                        continue
                    if r.status == 200:
                        break
                    if r.status == 503:
                        self.retries += 1
                        time.sleep(min(float(r.getheader("Retry-After") or 1), 1.0) * random.uniform(0.2, 0.6))
                        continue
                    raise RuntimeError(f"POST /internal/telemetry -> {r.status}: {data[:300]!r}")
                else:
                    raise RuntimeError("gave up after 100 attempts")
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            self.error = e
        finally:
            conn.close()


def counted(api: str, key: str, run_id: str, base_ms: int) -> int:
    u = urllib.parse.urlsplit(api)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=300)
    q = urllib.parse.urlencode({"from": base_ms, "to": base_ms + 3_600_000})
    conn.request("GET", f"/v1/analytics/edges?{q}", headers={"Authorization": f"Bearer {key}"})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise RuntimeError(f"GET /v1/analytics/edges -> {r.status}: {body[:300]!r}")
    prefix = f"bench-{run_id}-"
    return sum(e["requests"] for e in json.loads(body)["edges"] if e["edge_id"].startswith(prefix))


def cpu_seconds(pid) -> float:
    """User + system CPU seconds a process has used (0 when not given or gone)."""
    if not pid:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def new_run() -> tuple:
    # Each run gets its own id and its own hour in 2025, so verification reads only its own events.
    return os.urandom(4).hex(), 1_735_689_600_000 + random.randrange(0, 8000) * 3_600_000


class ClickHouseClient:
    """clickhouse-client over the native TCP port: the anchor's inserts and the exact counts."""

    def __init__(self, binary: str, port: int, database: str):
        self.base = [binary, "--host", "127.0.0.1", "--port", str(port), "--database", database]

    def query(self, sql: str, stdin=None) -> str:
        r = subprocess.run(self.base + ["--query", sql], stdin=stdin, capture_output=True, text=stdin is None)
        if r.returncode != 0:
            err = r.stderr if isinstance(r.stderr, str) else r.stderr.decode(errors="replace")
            raise SystemExit(f"clickhouse-client failed ({r.returncode}): {err.strip()[:500]}")
        return r.stdout if isinstance(r.stdout, str) else r.stdout.decode()

    def run_filter(self, run_id: str, base_ms: int) -> str:
        return (f"ts >= toDateTime({base_ms // 1000}) AND ts < toDateTime({base_ms // 1000 + 3600}) "
                f"AND startsWith(event_id, 'evt_{run_id}_')")

    def rows(self, table: str, run_id: str, base_ms: int) -> tuple:
        """(rows, distinct event ids) of the run in `table`: both must equal the events sent."""
        out = self.query(f"SELECT count(), uniqExact(event_id) FROM {table} WHERE {self.run_filter(run_id, base_ms)} "
                         "FORMAT TabSeparated")
        rows, distinct = out.split()
        return int(rows), int(distinct)


class RowWatch:
    """Rows in Rend's table, from ClickHouse's part metadata (system.parts): cheap enough to poll
    every 20 ms without costing the server the CPU a count() over the rows would (every event id
    is new, so merges never change the total)."""

    def __init__(self, url: str, database: str):
        u = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=30)
        self.sql = (f"SELECT sum(rows) FROM system.parts WHERE database = '{database}' "
                    "AND table = 'playback_events' AND active FORMAT TabSeparated").encode()

    def rows(self) -> int:
        self.conn.request("POST", "/", body=self.sql)
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise SystemExit(f"ClickHouse system.parts -> {r.status}: {body[:300]!r}")
        return int(body or 0)

    def wait(self, target: int, t0: float) -> float:
        """Seconds from t0 until the table holds `target` rows (a 200 may mean "journaled":
        the events still have to be inserted)."""
        deadline = time.monotonic() + 300
        while (n := self.rows()) < target:
            if time.monotonic() > deadline:
                raise SystemExit(f"ClickHouse holds {n} of {target} rows after 300 s")
            time.sleep(0.02)
        return time.monotonic() - t0


def check_rows(what: str, run: int, ch: ClickHouseClient, table: str, run_id: str, base_ms: int, events: int) -> None:
    t = time.monotonic()
    rows, distinct = ch.rows(table, run_id, base_ms)
    ok = rows == events and distinct == events
    print(f"run {run} {what}: ClickHouse holds {rows} rows, {distinct} distinct event ids "
          f"({'ok' if ok else 'MISMATCH'}; query {time.monotonic() - t:.2f}s)", flush=True)
    if not ok:
        raise SystemExit(1)


CPU = {"rend_api": [], "rend_clickhouse": [], "anchor_client": [], "anchor_clickhouse": []}


def rend_run(args, run: int, ch) -> float:
    run_id, base_ms = new_run()
    t = time.monotonic()
    encode = binary_bodies if args.wire == "binary" else json_bodies
    bodies = encode(make_events(run_id, args.events, args.batch, args.edges, base_ms))
    mb = sum(len(b) for b in bodies) / 1e6
    print(f"run {run} rend: generated {len(bodies)} {args.wire} batches, {mb:.1f} MB in {time.monotonic() - t:.1f}s",
          flush=True)

    api = urllib.parse.urlsplit(args.api)
    barrier = threading.Barrier(args.concurrency + 1)
    threads = [Poster(api, args.token, bodies[i::args.concurrency], barrier, WIRE_CONTENT_TYPES[args.wire])
               for i in range(args.concurrency)]
    for th in threads:
        th.start()
    watch = RowWatch(args.clickhouse_url, args.anchor_database) if ch and args.clickhouse_url else None
    rows_before = watch.rows() if watch else 0
    api_cpu0, ch_cpu0 = cpu_seconds(args.api_pid), cpu_seconds(args.clickhouse_pid)
    barrier.wait()
    t0, cpu0 = time.monotonic(), os.times()
    for th in threads:
        th.join()
    elapsed, cpu1 = time.monotonic() - t0, os.times()
    stored = watch.wait(rows_before + args.events, t0) if watch else None
    client_cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    for th in threads:
        if th.error:
            raise SystemExit(f"run {run}: {th.error}")
    rate = args.events / elapsed
    retries = sum(th.retries for th in threads)
    print(f"run {run} rend: {args.events} events answered in {elapsed:.2f}s = {rate:,.0f} events/s "
          f"({mb / elapsed:.1f} MB/s, {retries} retries; this client used {client_cpu:.1f} CPU-s)", flush=True)
    api_cpu, ch_cpu = cpu_seconds(args.api_pid) - api_cpu0, cpu_seconds(args.clickhouse_pid) - ch_cpu0
    if stored is not None:
        # The figure compared with the anchor: events per second into ClickHouse, not into the journal.
        rate = args.events / stored
        print(f"run {run} rend: {args.events} events in ClickHouse after {stored:.2f}s = {rate:,.0f} events/s",
              flush=True)
    if args.api_pid:
        # CPU, unlike wall time, hardly depends on what else the machine runs.
        print(f"run {run} rend: CPU used until then: rend api {api_cpu:.2f}s, ClickHouse {ch_cpu:.2f}s", flush=True)
    CPU["rend_api"].append(api_cpu)
    CPU["rend_clickhouse"].append(ch_cpu)

    if args.api_key:
        t = time.monotonic()
        n = counted(args.api, args.api_key, run_id, base_ms)
        status = "ok" if n == args.events else "MISMATCH"
        print(f"run {run} rend: analytics counts {n} events ({status}; query {time.monotonic() - t:.2f}s)", flush=True)
        if n != args.events:
            raise SystemExit(1)
    if ch:
        check_rows("rend", run, ch, "playback_events", run_id, base_ms, args.events)
    return rate


def anchor_run(args, run: int, ch: ClickHouseClient, workdir: str) -> float:
    """The same kind of rows, inserted by clickhouse-client from a RowBinary file: the server's own limit."""
    run_id, base_ms = new_run()
    t = time.monotonic()
    data = rowbinary(make_events(run_id, args.events, args.batch, args.edges, base_ms), int(time.time() * 1000))
    path = os.path.join(workdir, f"anchor-{run_id}.rowbinary")
    with open(path, "wb") as f:
        f.write(data)
    print(f"run {run} anchor: generated {len(data) / 1e6:.1f} MB of RowBinary in {time.monotonic() - t:.1f}s",
          flush=True)
    try:
        with open(path, "rb") as f:
            ch_cpu0, client_cpu0 = cpu_seconds(args.clickhouse_pid), children_cpu()
            t0 = time.monotonic()
            ch.query(f"INSERT INTO {args.anchor_table} ({ANCHOR_COLUMNS}) FORMAT RowBinary", stdin=f)
            elapsed = time.monotonic() - t0
            ch_cpu, client_cpu = cpu_seconds(args.clickhouse_pid) - ch_cpu0, children_cpu() - client_cpu0
    finally:
        os.unlink(path)
    rate = args.events / elapsed
    print(f"run {run} anchor: {args.events} events in {elapsed:.2f}s = {rate:,.0f} events/s "
          f"(clickhouse-client, one INSERT ... FORMAT RowBinary from a file)", flush=True)
    if args.clickhouse_pid:
        print(f"run {run} anchor: CPU used: clickhouse-client {client_cpu:.2f}s, ClickHouse {ch_cpu:.2f}s", flush=True)
    CPU["anchor_client"].append(client_cpu)
    CPU["anchor_clickhouse"].append(ch_cpu)
    check_rows("anchor", run, ch, args.anchor_table, run_id, base_ms, args.events)
    return rate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--api", required=True, help="API base URL, e.g. http://127.0.0.1:4000")
    ap.add_argument("--token", default=os.environ.get("REND_INTERNAL_TELEMETRY_TOKEN"),
                    help="telemetry bearer token (default: $REND_INTERNAL_TELEMETRY_TOKEN)")
    ap.add_argument("--api-key", help="API key with the operator scope, to verify the counts (else not verified)")
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--batch", type=int, default=1000, help="events per POST")
    ap.add_argument("--concurrency", type=int, default=8, help="concurrent connections (the API admits 12)")
    ap.add_argument("--edges", type=int, default=20, help="distinct edge ids the batches come from")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--wire", choices=sorted(WIRE_CONTENT_TYPES), default="binary",
                    help="the batch format POSTed: binary (what edges send) or json (older edges)")
    ap.add_argument("--anchor-port", type=int,
                    help="ClickHouse's native TCP port: also run the anchor (clickhouse-client inserting the same "
                         "rows from a RowBinary file), alternating with Rend's runs, and count ClickHouse's rows")
    ap.add_argument("--anchor-database", help="the database Rend writes to (the anchor's table goes there too)")
    ap.add_argument("--clickhouse-client", default="clickhouse-client", help="the client binary")
    ap.add_argument("--clickhouse-url", help="ClickHouse's HTTP interface: Rend's rate is then counted until "
                                             "ClickHouse holds every event (polled), not until the last 200")
    ap.add_argument("--api-pid", type=int, help="the API's pid: report its CPU seconds per run")
    ap.add_argument("--clickhouse-pid", type=int, help="ClickHouse's pid: report its CPU seconds per run")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    if not args.token:
        ap.error("--token (or REND_INTERNAL_TELEMETRY_TOKEN) is required")

    ch = None
    if args.anchor_port:
        if not args.anchor_database:
            ap.error("--anchor-port needs --anchor-database")
        ch = ClickHouseClient(args.clickhouse_client, args.anchor_port, args.anchor_database)
        args.anchor_table = "anchor_events"
        # The same table definition as Rend's (engine, sort key, partitions): only who inserts differs.
        ch.query(f"CREATE TABLE IF NOT EXISTS {args.anchor_table} AS playback_events")

    print(f"machine: {os.cpu_count()} CPUs; {args.events} events per run, batches of {args.batch}, "
          f"{args.concurrency} connections, {args.runs} run(s){', alternating with the anchor' if ch else ''}",
          flush=True)
    rates, anchors = [], []
    with tempfile.TemporaryDirectory(prefix="rend-ingest-anchor.") as workdir:
        for i in range(args.runs):
            # Alternate which goes first, so neither always meets the other's merges.
            if ch and i % 2 == 0:
                anchors.append(anchor_run(args, i + 1, ch, workdir))
            rates.append(rend_run(args, i + 1, ch))
            if ch and i % 2 == 1:
                anchors.append(anchor_run(args, i + 1, ch, workdir))
    med = statistics.median(rates)
    print(f"rend:   {', '.join(f'{r:,.0f}' for r in rates)} events/s; median {med:,.0f}")
    result = {"events": args.events, "batch": args.batch, "concurrency": args.concurrency, "rates": rates,
              "median": med}
    if anchors:
        amed = statistics.median(anchors)
        print(f"anchor: {', '.join(f'{r:,.0f}' for r in anchors)} events/s; median {amed:,.0f} (clickhouse-client)")
        print(f"ratio (rend / anchor, medians): {med / amed:.2f}x")
        result.update(anchor_rates=anchors, anchor_median=amed, ratio=med / amed)
    if args.api_pid or args.clickhouse_pid:
        med_cpu = {k: statistics.median(v) for k, v in CPU.items() if v}
        print("CPU seconds per run (medians): " + ", ".join(f"{k} {v:.2f}" for k, v in med_cpu.items()))
        result["cpu_median"] = med_cpu
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
