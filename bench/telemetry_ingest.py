#!/usr/bin/env python3
"""Telemetry ingest throughput: how many playback events per second one `rend api`
accepts on POST /internal/telemetry (each 200 means the events are durably stored).

Starts nothing: point it at a running API (bench/telemetry_ingest.sh starts ClickHouse
and `rend api` and calls this).

    bench/telemetry_ingest.py --api http://127.0.0.1:4000 --token $REND_INTERNAL_TELEMETRY_TOKEN \
        --api-key $KEY --events 300000 --batch 1000 --concurrency 8 [--runs 3]

Per run: distinct batches (unique event ids, their own edge ids and time window) are
generated before the clock starts, then POSTed by --concurrency threads over keep-alive
connections. A 503 (busy / store unavailable) is retried after its Retry-After, as an
edge would; retries count in the time. Afterwards GET /v1/analytics/edges (the API key
needs the `operator` scope) must report exactly --events requests for the run's edges.

Standard library only. Exit status 1 when a run is not counted exactly.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time
import urllib.parse

KINDS = (("segment", 0.9), ("playlist", 0.06), ("master", 0.03), ("poster", 0.01))
TIERS = ("1080p", "720p", "540p", "360p")


def make_batches(run_id: str, events: int, batch_size: int, edges: int, base_ms: int) -> list:
    """Encoded bodies, each a realistic edge batch (~360 bytes per event)."""
    rnd = random.Random(run_id)
    assets = ["ast_" + "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(26)) for _ in range(50)]
    sessions = [f"{rnd.getrandbits(128):032x}" for _ in range(2000)]
    kinds = [k for k, w in KINDS for _ in range(int(w * 100))]
    bodies = []
    n = 0
    b = 0
    while n < events:
        size = min(batch_size, events - n)
        edge = f"bench-{run_id}-{b % edges}"
        parts = []
        for i in range(size):
            kind = rnd.choice(kinds)
            tier = rnd.choice(TIERS) if kind in ("segment", "playlist") else ""
            seg = kind == "segment"
            artifact = f"{tier}/seg_{i % 500:05d}.ts" if seg else (f"{tier}/index.m3u8" if tier else "master.m3u8")
            parts.append(
                '{"event_id":"evt_%s_%d","ts_ms":%d,"edge_id":"%s","region":"bench","asset_id":"%s",'
                '"artifact":"%s","kind":"%s","tier":"%s","session_id":"%s","status":200,"bytes":%d,'
                '"cache":"%s","ttfb_ms":%d,"duration_ms":%d,"media_seconds":%s}'
                % (run_id, n + i, base_ms + (n + i) % 3_600_000, edge, rnd.choice(assets), artifact, kind, tier,
                   rnd.choice(sessions), rnd.randint(500_000, 3_000_000) if seg else rnd.randint(200, 2000),
                   "HIT" if rnd.random() < 0.9 else "MISS", rnd.randint(0, 50), rnd.randint(1, 400),
                   "4.000" if seg else "0.000"))
        bodies.append(('{"batch_id":"bat_%s_%d","edge_id":"%s","events":[%s]}'
                       % (run_id, b, edge, ",".join(parts))).encode())
        n += size
        b += 1
    return bodies


class Poster(threading.Thread):
    def __init__(self, api: urllib.parse.SplitResult, token: str, bodies: list, start: threading.Barrier):
        super().__init__(daemon=True)
        self.api, self.token, self.bodies, self.start_barrier = api, token, bodies, start
        self.retries = 0
        self.error = None

    def run(self) -> None:
        conn = http.client.HTTPConnection(self.api.hostname, self.api.port or 80, timeout=60)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
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


def one_run(args, run: int) -> float:
    run_id = os.urandom(4).hex()
    # Each run gets its own hour in 2025, so verification reads only its own events.
    base_ms = 1_735_689_600_000 + random.randrange(0, 8000) * 3_600_000
    t = time.monotonic()
    bodies = make_batches(run_id, args.events, args.batch, args.edges, base_ms)
    mb = sum(len(b) for b in bodies) / 1e6
    print(f"run {run}: generated {len(bodies)} batches, {mb:.1f} MB in {time.monotonic() - t:.1f}s", flush=True)

    api = urllib.parse.urlsplit(args.api)
    barrier = threading.Barrier(args.concurrency + 1)
    threads = [Poster(api, args.token, bodies[i::args.concurrency], barrier) for i in range(args.concurrency)]
    for th in threads:
        th.start()
    barrier.wait()
    t0, cpu0 = time.monotonic(), os.times()
    for th in threads:
        th.join()
    elapsed, cpu1 = time.monotonic() - t0, os.times()
    client_cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    for th in threads:
        if th.error:
            raise SystemExit(f"run {run}: {th.error}")
    rate = args.events / elapsed
    retries = sum(th.retries for th in threads)
    print(f"run {run}: {args.events} events in {elapsed:.2f}s = {rate:,.0f} events/s "
          f"({mb / elapsed:.1f} MB/s, {retries} retries; this client used {client_cpu:.1f} CPU-s)", flush=True)

    if args.api_key:
        t = time.monotonic()
        n = counted(args.api, args.api_key, run_id, base_ms)
        status = "ok" if n == args.events else "MISMATCH"
        print(f"run {run}: analytics counts {n} events ({status}; query {time.monotonic() - t:.2f}s)", flush=True)
        if n != args.events:
            raise SystemExit(1)
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
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    if not args.token:
        ap.error("--token (or REND_INTERNAL_TELEMETRY_TOKEN) is required")

    print(f"machine: {os.cpu_count()} CPUs; {args.events} events per run, batches of {args.batch}, "
          f"{args.concurrency} connections, {args.runs} run(s)", flush=True)
    rates = [one_run(args, i + 1) for i in range(args.runs)]
    med = statistics.median(rates)
    print(f"median: {med:,.0f} events/s over {len(rates)} run(s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"events": args.events, "batch": args.batch, "concurrency": args.concurrency,
                       "rates": rates, "median": med}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
