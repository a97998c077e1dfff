#!/usr/bin/env python3
"""Soak: bounded mixed load against one `rend dev` process for a fixed time, sampling
its RSS, open fds, threads and the p99 latency of each interval, then judging whether
each stayed flat. Started by bench/soak/run.sh (see bench/README.md, "Soak").

Load is a Python loop (standard library only), not wrk: the mix is stateful (new
assets appear, their playlists give the segment URLs, tokens come from the API) and
the latency percentiles are needed per sampling interval. Everything goes to
127.0.0.1, at a bounded rate (--rate requests per second plus one upload every
--upload-every seconds).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def log(msg: str) -> None:
    print(f"soak: {msg}", file=sys.stderr, flush=True)


# --- HTTP (one keep-alive connection per thread and port) ------------------------------------

class Client:
    def __init__(self):
        self.conns: dict = {}

    def request(self, method: str, url: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 30) -> tuple[int, dict, bytes]:
        u = urllib.parse.urlsplit(url)
        path = u.path + (f"?{u.query}" if u.query else "")
        for attempt in (0, 1):  # a kept-alive connection the server closed meanwhile: once more on a new one
            conn = self.conns.get(u.port)
            if conn is None:
                conn = self.conns[u.port] = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
            try:
                conn.request(method, path, body=body, headers=headers or {})
                r = conn.getresponse()
                data = r.read()
                return r.status, {k.lower(): v for k, v in r.getheaders()}, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                self.conns.pop(u.port, None)
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")


# --- the stack -------------------------------------------------------------------------------

class Stack:
    def __init__(self, kind: str, work: Path, binary: Path):
        self.kind, self.work, self.binary = kind, work, binary
        self.api_port, self.edge_port = free_port(), free_port()
        self.proc: subprocess.Popen | None = None
        self.stack_env: dict | None = None

    @property
    def api(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    @property
    def edge(self) -> str:
        return f"http://{HOST}:{self.edge_port}"

    def _services(self) -> dict:
        """scripts/stack up --services-only in a scratch dir on free ports."""
        d = self.work / "stack"
        d.mkdir()
        os.chmod(self.work, 0o755)
        os.chmod(d, 0o755)
        ports = {k: free_port() for k in ("PG", "REDIS", "CLICKHOUSE", "S3")}
        self.stack_env = {k: v for k, v in os.environ.items() if not k.startswith("REND_STACK_")}
        self.stack_env["REND_STACK_DIR"] = str(d)
        self.stack_env.update({f"REND_STACK_{k}_PORT": str(v) for k, v in ports.items()})
        log("starting Postgres, Redis, ClickHouse and s3rver (scripts/stack up --services-only)")
        subprocess.run([str(ROOT / "scripts" / "stack"), "up", "--services-only"], env=self.stack_env, check=True,
                       stdout=subprocess.DEVNULL, cwd=str(ROOT))
        return {
            "DATABASE_URL": f"postgres://rend@{HOST}:{ports['PG']}/rend",
            "REND_REDIS_URL": f"redis://{HOST}:{ports['REDIS']}/0",
            "S3_ENDPOINT": f"http://{HOST}:{ports['S3']}", "S3_BUCKET": "rend", "S3_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER",
            "CLICKHOUSE_URL": f"http://{HOST}:{ports['CLICKHOUSE']}", "CLICKHOUSE_DATABASE": "rend",
        }

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("REND_", "S3_", "CLICKHOUSE_", "AWS_")) and k != "DATABASE_URL"}
        if self.kind == "services":
            env.update(self._services())
        env.update({
            "REND_API_BIND_ADDR": f"{HOST}:{self.api_port}",
            "REND_EDGE_BIND_ADDR": f"{HOST}:{self.edge_port}",
            "REND_PLAYBACK_BASE_URL": self.edge,
        })
        data = self.work / "data"
        self.log_path = self.work / "rend.log"
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen([str(self.binary), "dev", "--data-dir", str(data)], env=env, stdout=out,
                                         stderr=out, stdin=subprocess.DEVNULL, cwd=str(ROOT))
        deadline = time.monotonic() + 60
        c = Client()
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"soak: rend dev exited ({self.proc.returncode}); log {self.log_path}")
            try:
                if all(c.request("GET", u + "/readyz", timeout=2)[0] == 200 for u in (self.api, self.edge)) and \
                        (data / "api-key").exists():
                    break
            except OSError:
                c = Client()
            if time.monotonic() > deadline:
                raise SystemExit(f"soak: rend dev not ready in 60 s; log {self.log_path}")
            time.sleep(0.2)
        self.key = (data / "api-key").read_text().strip()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.stack_env is not None:
            subprocess.run([str(ROOT / "scripts" / "stack"), "down"], env=self.stack_env, cwd=str(ROOT),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# --- process sampling ------------------------------------------------------------------------

def proc_sample(pid: int) -> dict:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_mib": int(fields["VmRSS"].split()[0]) / 1024,
        "threads": int(fields["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


def p99(values: list) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(0.99 * len(v)))]


# --- the load ----------------------------------------------------------------------------------

class Load:
    def __init__(self, stack: Stack, clip: bytes, rate: float, upload_every: float, threads: int):
        self.st, self.clip, self.rate, self.upload_every, self.nthreads = stack, clip, rate, upload_every, threads
        self.auth = {"Authorization": f"Bearer {stack.key}"}
        self.lock = threading.Lock()
        self.ready: list = []  # (asset_id, [edge URLs with ?token=])
        self.pending: list = []  # uploaded, not hls_ready yet
        self.window: list = []  # (kind, seconds, status) of requests finished in this interval
        self.totals = {"requests": 0, "errors": 0, "uploads": 0, "hit": 0, "miss": 0}
        self.errors: list = []
        self.edge_answered: dict = {}  # asset -> viewer requests the edge answered (each owes an event)
        self.stop_flag = threading.Event()

    def record(self, kind: str, secs: float, status: int, ok: bool, what: str = "") -> None:
        with self.lock:
            if kind != "upload":
                self.window.append((kind, secs, status))
            self.totals["requests"] += 1
            if not ok:
                self.totals["errors"] += 1
                if len(self.errors) < 20:
                    self.errors.append(f"{kind} {what}: {status}")

    def take_window(self) -> list:
        with self.lock:
            w, self.window = self.window, []
            return w

    def call(self, c: Client, kind: str, method: str, url: str, ok=(200,), **kw) -> tuple[int, dict, bytes]:
        t0 = time.monotonic()
        try:
            status, headers, body = c.request(method, url, **kw)
        except OSError as e:
            self.record(kind, time.monotonic() - t0, 0, False, f"{url} {e!r}")
            return 0, {}, b""
        self.record(kind, time.monotonic() - t0, status, status in ok, url)
        return status, headers, body

    # uploads: one every upload_every seconds; an asset joins the viewed set once hls_ready
    def uploader(self) -> None:
        c = Client()
        next_at = time.monotonic()
        while not self.stop_flag.is_set():
            now = time.monotonic()
            if now >= next_at:
                next_at = now + self.upload_every
                s, _, b = self.call(c, "create_upload", "POST", self.st.api + "/v1/uploads", ok=(201,),
                                    body=b"{}", headers={**self.auth, "Content-Type": "application/json"})
                if s == 201:
                    up = json.loads(b)
                    s, _, _ = self.call(c, "upload", "PUT", up["upload_url"], body=self.clip,
                                        headers={**self.auth, "Content-Type": "application/octet-stream"})
                    if s == 200:
                        self.totals["uploads"] += 1
                        self.pending.append(up["asset_id"])
            for aid in list(self.pending):
                s, _, b = self.call(c, "asset", "GET", f"{self.st.api}/v1/assets/{aid}", headers=self.auth)
                state = json.loads(b)["status"] if s == 200 else None
                if state == "hls_ready":
                    self.pending.remove(aid)
                    self.add_ready(c, aid)
                elif state in ("failed", "deleted"):
                    self.pending.remove(aid)
                    self.record("asset", 0, 0, False, f"{aid} ended {state}")
            self.stop_flag.wait(1)

    def add_ready(self, c: Client, aid: str) -> None:
        s, _, b = self.call(c, "playback", "POST", f"{self.st.api}/v1/assets/{aid}/playback", headers=self.auth)
        if s != 200:
            return
        master = json.loads(b)["urls"]["master"]
        urls = [master]
        s, _, b = self.call(c, "edge", "GET", master)
        self.count_edge(aid)
        for line in b.decode().splitlines() if s == 200 else []:
            if line and not line.startswith("#"):
                variant = urllib.parse.urljoin(master, line)
                urls.append(variant)
                s2, _, b2 = self.call(c, "edge", "GET", variant)
                self.count_edge(aid)
                urls += [urllib.parse.urljoin(variant, seg) for seg in b2.decode().splitlines()
                         if s2 == 200 and seg and not seg.startswith("#")]
        with self.lock:
            self.ready.append((aid, urls))

    def count_edge(self, aid: str) -> None:
        with self.lock:
            self.edge_answered[aid] = self.edge_answered.get(aid, 0) + 1

    # viewers: bounded rate split over the threads; a weighted mix
    def viewer(self, seed: int) -> None:
        rnd = random.Random(seed)
        c = Client()
        interval = self.nthreads / self.rate
        next_at = time.monotonic()
        while not self.stop_flag.is_set():
            next_at += interval
            with self.lock:
                assets = list(self.ready)
            if assets:
                aid, urls = rnd.choice(assets[-20:]) if rnd.random() < 0.7 else rnd.choice(assets)
                op = rnd.random()
                if op < 0.70:  # a viewer request: mostly HITs, MISSes for new assets and expired playlists
                    s, h, _ = self.call(c, "edge", "GET", rnd.choice(urls), ok=(200,))
                    if s:
                        self.count_edge(aid)
                        key = "hit" if h.get("x-rend-cache") == "HIT" else "miss"
                        with self.lock:
                            self.totals[key] += 1
                elif op < 0.90:  # the watch page's player bootstrap
                    self.call(c, "bootstrap", "GET", f"{self.st.api}/api/player/{aid}")
                elif op < 0.97:
                    self.call(c, "asset", "GET", f"{self.st.api}/v1/assets/{aid}", headers=self.auth)
                else:
                    self.call(c, "analytics", "GET", f"{self.st.api}/v1/analytics/assets/{aid}", headers=self.auth)
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stop_flag.wait(delay)
            else:
                next_at = time.monotonic()  # behind: do not burst to catch up

    def start(self) -> list:
        ts = [threading.Thread(target=self.uploader, daemon=True)]
        ts += [threading.Thread(target=self.viewer, args=(i,), daemon=True) for i in range(self.nthreads)]
        for t in ts:
            t.start()
        return ts


# --- the verdict -------------------------------------------------------------------------------

# Flat: the last third's median against the second third's (the first third is warm-up):
# RSS may grow at most 10 %, p99 at most 25 % (+2 ms, since a p99 of a few ms moves by
# a millisecond on a shared machine), fds at most +8, threads at most +4 (a transcode in
# flight holds a few of each).
RULES = {
    "rss_mib": ("RSS MiB", lambda a, b: b <= a * 1.10, "last ≤ second × 1.10"),
    "fds": ("open fds", lambda a, b: b <= a + 8, "last ≤ second + 8"),
    "threads": ("threads", lambda a, b: b <= a + 4, "last ≤ second + 4"),
    "p99_ms": ("p99 ms", lambda a, b: b <= a * 1.25 + 2, "last ≤ second × 1.25 + 2 ms"),
}


def verdict(rows: list) -> tuple[bool, list]:
    n = len(rows)
    if n < 3:
        return False, [f"only {n} samples: need at least 3 (run longer or lower --sample-secs)"]
    second, last = rows[n // 3: 2 * n // 3], rows[2 * n // 3:]
    lines, ok = [], True
    for key, (name, rule, text) in RULES.items():
        a = statistics.median(r[key] for r in second)
        b = statistics.median(r[key] for r in last)
        flat = rule(a, b)
        ok &= flat
        lines.append(f"{name:10} second third {a:9.2f}  last third {b:9.2f}  {'flat' if flat else 'NOT FLAT'} ({text})")
    return ok, lines


def make_clip(path: Path) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                    "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=6", "-f", "lavfi", "-i", "sine=f=440:d=6",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "50",
                    "-c:a", "aac", "-b:a", "48k", "-shortest", "-movflags", "+faststart", str(path)], check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--stack", choices=("embedded", "services"), default="embedded")
    ap.add_argument("--sample-secs", type=float, default=60)
    ap.add_argument("--rate", type=float, default=30, help="viewer/API requests per second (default 30)")
    ap.add_argument("--upload-every", type=float, default=10, help="seconds between uploads (default 10)")
    ap.add_argument("--threads", type=int, default=3)
    ap.add_argument("--bin", default=os.environ.get("REND_BIN", str(ROOT / "build" / "rend")))
    ap.add_argument("--json", help="write the samples and the verdict here")
    ap.add_argument("--keep", action="store_true", help="keep the scratch dir (data, rend.log)")
    a = ap.parse_args()

    binary = Path(a.bin) if Path(a.bin).is_absolute() else ROOT / a.bin
    if not binary.exists():
        log(f"no rend binary at {binary} (ninja -C build rend)")
        return 2
    work = Path(tempfile.mkdtemp(prefix="rend-soak."))
    stack = Stack(a.stack, work, binary)
    try:
        clip = work / "clip.mp4"
        make_clip(clip)
        stack.start()
        log(f"rend dev pid {stack.proc.pid} ({a.stack}); {a.minutes} min, {a.rate} req/s, an upload every "
            f"{a.upload_every} s; sampling every {a.sample_secs} s; scratch {work}")
        load = Load(stack, clip.read_bytes(), a.rate, a.upload_every, a.threads)
        threads = load.start()
        rows = []
        t0 = time.monotonic()
        end = t0 + a.minutes * 60
        print(f"{'min':>6} {'RSS MiB':>8} {'fds':>5} {'threads':>7} {'reqs':>6} {'p99 ms':>8} {'p50 ms':>7} "
              f"{'errors':>6} {'uploads':>7} {'assets':>6}", flush=True)
        next_sample = t0 + a.sample_secs
        while next_sample <= end + 0.001:
            time.sleep(max(0.0, next_sample - time.monotonic()))
            if stack.proc.poll() is not None:
                log(f"rend dev exited ({stack.proc.returncode}) during the soak; log {stack.log_path}")
                return 1
            w = load.take_window()
            lat = [s * 1000 for _, s, _ in w]
            row = {"minute": round((time.monotonic() - t0) / 60, 2), **proc_sample(stack.proc.pid),
                   "requests": len(w), "p99_ms": round(p99(lat), 2),
                   "p50_ms": round(statistics.median(lat), 2) if lat else float("nan"),
                   "errors": load.totals["errors"], "uploads": load.totals["uploads"], "assets": len(load.ready),
                   "p99_ms_by_kind": {k: round(p99([s * 1000 for kk, s, _ in w if kk == k]), 2)
                                      for k in sorted({kk for kk, _, _ in w})}}
            rows.append(row)
            print(f"{row['minute']:6.1f} {row['rss_mib']:8.1f} {row['fds']:5d} {row['threads']:7d} "
                  f"{row['requests']:6d} {row['p99_ms']:8.2f} {row['p50_ms']:7.2f} {row['errors']:6d} "
                  f"{row['uploads']:7d} {row['assets']:6d}", flush=True)
            next_sample += a.sample_secs
        load.stop_flag.set()
        for t in threads:
            t.join(60)

        # Telemetry under soak: every viewer request the edge answered is counted once.
        c = Client()
        deadline = time.monotonic() + 60
        while True:
            counted = {}
            for aid in load.edge_answered:
                s, _, b = c.request("GET", f"{stack.api}/v1/analytics/assets/{aid}", headers=load.auth)
                counted[aid] = json.loads(b)["requests"] if s == 200 else None
            missing = {k: (v, counted[k]) for k, v in load.edge_answered.items() if counted[k] != v}
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(1)

        ok, lines = verdict(rows)
        n = len(rows)
        for kind in sorted({k for r in rows for k in r["p99_ms_by_kind"]}):
            def med(part):
                v = [r["p99_ms_by_kind"][kind] for r in part if kind in r["p99_ms_by_kind"]]
                return statistics.median(v) if v else float("nan")
            lines.append(f"  p99 ms of {kind:13} second third {med(rows[n // 3: 2 * n // 3]):8.2f}  "
                         f"last third {med(rows[2 * n // 3:]):8.2f}  (information only)")
        print()
        print(f"ran {a.minutes} min on {a.stack}: {load.totals['requests']} requests "
              f"({load.totals['hit']} edge HITs, {load.totals['miss']} edge MISSes), {load.totals['uploads']} uploads, "
              f"{load.totals['errors']} errors")
        for line in lines:
            print(line)
        tele_ok = not missing
        print(f"telemetry: {sum(load.edge_answered.values())} viewer requests answered, "
              + ("all counted exactly" if tele_ok else f"{len(missing)} assets off (answered, counted): "
                 f"{list(missing.items())[:5]}"))
        for e in load.errors:
            print(f"error: {e}")
        passed = ok and tele_ok and load.totals["errors"] == 0
        print("PASS" if passed else "FAIL")
        if a.json:
            Path(a.json).write_text(json.dumps({"stack": a.stack, "minutes": a.minutes, "rate": a.rate,
                                                "samples": rows, "verdict": lines, "totals": load.totals,
                                                "telemetry_exact": tele_ok, "pass": passed}, indent=1))
        return 0 if passed else 1
    finally:
        stack.stop()
        if a.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
