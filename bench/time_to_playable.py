#!/usr/bin/env python3
"""Time to playable: Rend's upload->playable and upload->hls_ready against one ffmpeg command.

In ONE run (anchors.md: "a benchmark always runs the anchor and Rend in the same run"):
  1. generates the 30 s 1080p reference clip exactly as anchors.md says (cached in bench/.cache/);
  2. times the baseline: one ffmpeg process producing the 4-rung ladder (1080/720/540/360,
     x264 veryfast, high profile, 4 s GOP-aligned segments, AAC) with `split` and var_stream_map;
  3. starts `rend dev` on free loopback ports, uploads the clip --runs times (one after
     the other), and reads uploaded_at / playable_at / hls_ready_at from the asset.

Targets: median upload->playable <= 2 s; median upload->hls_ready <= 1.1 x baseline.
Standard library only. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
CACHE = BENCH_DIR / ".cache"

PLAYABLE_TARGET_S = 2.0
HLS_READY_TARGET_RATIO = 1.1

# anchors.md, "Media: one ffmpeg command producing the same ladder" (verbatim).
REFERENCE_CMD = [
    "ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=30:d=30,noise=alls=3:allf=t",
    "-f", "lavfi", "-i", "sine=f=440:d=30",
    "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "128k", "-shortest", "src30.mp4",
]

# The ladder, with the encoder settings Rend's media pipeline uses.
RUNGS = [("1080p", 1080, "5500k"), ("720p", 720, "3000k"), ("540p", 540, "1800k"), ("360p", 360, "800k")]
SEGMENT_S = 4


def log(msg: str) -> None:
    print(msg, flush=True)


def baseline_cmd(src: Path, out: Path) -> list[str]:
    n = len(RUNGS)
    graph = f"[0:v]split={n}" + "".join(f"[s{i}]" for i in range(n)) + ";" + ";".join(
        f"[s{i}]scale=-2:{h}[v{i}]" for i, (_, h, _) in enumerate(RUNGS)
    )
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(src),
           "-filter_complex", graph]
    for i in range(n):
        cmd += ["-map", f"[v{i}]"]
    for _ in range(n):
        cmd += ["-map", "0:a:0"]
    cmd += ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p"]
    for i, (_, _, rate) in enumerate(RUNGS):
        cmd += [f"-b:v:{i}", rate]
    cmd += ["-force_key_frames", f"expr:gte(t,n_forced*{SEGMENT_S})", "-sc_threshold", "0",
            "-c:a", "aac", "-b:a", "128k", "-ac", "2",
            "-f", "hls", "-hls_time", str(SEGMENT_S), "-hls_playlist_type", "vod",
            "-hls_flags", "independent_segments", "-hls_segment_type", "mpegts",
            "-hls_segment_filename", str(out / "%v" / "seg_%05d.ts"),
            "-master_pl_name", "master.m3u8",
            "-var_stream_map", " ".join(f"v:{i},a:{i},name:{name}" for i, (name, _, _) in enumerate(RUNGS)),
            str(out / "%v" / "index.m3u8")]
    return cmd


def reference_clip() -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    clip = CACHE / "src30.mp4"
    if clip.exists():
        log(f"reference clip: {clip} (cached)")
        return clip
    work = Path(tempfile.mkdtemp(dir=CACHE, prefix="gen-"))
    try:
        log("generating the reference clip (anchors.md) ...")
        r = subprocess.run(REFERENCE_CMD, cwd=work, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"reference clip generation failed:\n{r.stderr[-3000:]}")
        os.replace(work / "src30.mp4", clip)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"reference clip: {clip}")
    return clip


def probe(path: Path) -> str:
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration,bit_rate:stream=codec_name,width,height",
                        "-of", "json", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        return "?"
    j = json.loads(r.stdout)
    v = next((s for s in j["streams"] if s.get("width")), {})
    return (f"{float(j['format']['duration']):.1f} s, {v.get('width')}x{v.get('height')} {v.get('codec_name')}, "
            f"{int(j['format']['bit_rate']) / 1e6:.2f} Mb/s, {path.stat().st_size / 1e6:.1f} MB")


def run_baseline_once(src: Path, label: str, show_cmd: bool) -> float:
    out = CACHE / "baseline-out"
    shutil.rmtree(out, ignore_errors=True)
    for name, _, _ in RUNGS:
        (out / name).mkdir(parents=True)
    cmd = baseline_cmd(src, out)
    if show_cmd:
        log("baseline command: " + " ".join(f"'{a}'" if (" " in a or ";" in a) else a for a in cmd))
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit(f"baseline ffmpeg failed:\n{r.stderr[-3000:]}")
    if not (out / "master.m3u8").exists():
        sys.exit("baseline ffmpeg wrote no master.m3u8")
    log(f"baseline run {label}: {dt:.2f} s")
    return dt


# --- rend dev ----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, key: str | None = None, body: bytes | None = None,
         ctype: str | None = None, timeout: float = 600) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, method=method)
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else {})
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"raw": raw[:500].decode("utf-8", "replace")}


def parse_ts(value: str | None) -> float | None:
    if value is None:
        return None
    v = value.replace("Z", "+00:00")
    v = re.sub(r"\.(\d{6})\d+", r".\1", v)  # fromisoformat takes at most microseconds
    return datetime.fromisoformat(v).timestamp()


class Rend:
    def __init__(self, binary: Path, data_dir: Path):
        self.binary, self.data_dir = binary, data_dir
        self.api_port, self.edge_port = free_port(), free_port()
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.edge = f"http://127.0.0.1:{self.edge_port}"
        self.key = ""
        self.log_path = data_dir.parent / (data_dir.name + ".log")
        env = {k: v for k, v in os.environ.items() if not k.startswith("REND_") and k != "DATABASE_URL"}
        env.update({
            "REND_API_BIND_ADDR": f"127.0.0.1:{self.api_port}",
            "REND_EDGE_BIND_ADDR": f"127.0.0.1:{self.edge_port}",
            "REND_PLAYBACK_BASE_URL": self.edge,
            "REND_MAX_UPLOAD_BYTES": str(4 * 1024 ** 3),
        })
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str(binary), "dev", "--data-dir", str(data_dir)], env=env,
                                     stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=str(REPO_ROOT))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._die(f"rend dev exited with code {self.proc.returncode}")
            try:
                ok = all(http("GET", u + "/readyz", timeout=2)[0] == 200 for u in (self.api, self.edge))
            except OSError:
                ok = False
            keyfile = data_dir / "api-key"
            if ok and keyfile.exists() and keyfile.read_text().strip():
                self.key = keyfile.read_text().strip()
                return
            time.sleep(0.1)
        self._die("rend dev not ready within 30 s")

    def _die(self, msg: str):
        self.stop()
        tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-40:])
        sys.exit(f"{msg}\n--- rend log tail ({self.log_path}) ---\n{tail}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()

    def one_run(self, clip: Path, data: bytes, timeout: float) -> dict:
        st, up = http("POST", self.api + "/v1/uploads", self.key,
                      json.dumps({"visibility": "public", "size_bytes": len(data)}).encode(), "application/json")
        if st != 201:
            self._die(f"POST /v1/uploads -> {st} {up}")
        t_put = time.monotonic()
        st, put = http("PUT", up["upload_url"], self.key, data, "application/octet-stream")
        t_uploaded = time.monotonic()
        if st != 200:
            self._die(f"PUT upload -> {st} {put}")
        seen_playable = None
        deadline = time.monotonic() + timeout
        while True:
            st, a = http("GET", f"{self.api}/v1/assets/{up['asset_id']}", self.key, timeout=30)
            now = time.monotonic()
            if st != 200:
                self._die(f"GET asset -> {st} {a}")
            if seen_playable is None and a["status"] in ("playable", "hls_ready"):
                seen_playable = now
            if a["status"] == "hls_ready":
                break
            if a["status"] in ("failed", "deleted"):
                self._die(f"asset {a['id']} ended {a['status']}: {a.get('error')}")
            if now > deadline:
                self._die(f"asset {a['id']} not hls_ready within {timeout} s (status {a['status']})")
            time.sleep(0.05)
        up_at, pl_at, hr_at = parse_ts(a["uploaded_at"]), parse_ts(a["playable_at"]), parse_ts(a["hls_ready_at"])
        return {
            "asset_id": a["id"],
            "tiers": [t["name"] for t in a.get("tiers", [])],
            "upload_transfer_s": t_uploaded - t_put,
            "upload_to_processing_s": (parse_ts(a["processing_at"]) - up_at) if a.get("processing_at") else None,
            "upload_to_playable_s": pl_at - up_at,
            "upload_to_hls_ready_s": hr_at - up_at,
            "client_seen_playable_s": seen_playable - t_uploaded,
            "client_seen_hls_ready_s": now - t_uploaded,
        }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="uploads to Rend (default 3)")
    ap.add_argument("--baseline-runs", type=int, default=None,
                    help="baseline ffmpeg runs, alternating with the Rend runs (default: as many as --runs)")
    ap.add_argument("--bin", default=os.environ.get("REND_BIN", "build/rend"),
                    help="rend binary (default $REND_BIN or build/rend, relative to the repo root)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per upload to reach hls_ready")
    ap.add_argument("--json", dest="json_out", help="also write the results as JSON to this file")
    ap.add_argument("--keep", action="store_true", help="keep the rend data dir")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    if args.baseline_runs is None:
        args.baseline_runs = args.runs
    if args.runs < 1 or args.baseline_runs < 1:
        sys.exit("--runs and --baseline-runs must be at least 1")

    binary = Path(args.bin)
    if not binary.is_absolute():
        binary = REPO_ROOT / binary
    if not binary.exists():
        sys.exit(f"rend binary not found: {binary} (build: cmake -S . -B build -G Ninja && ninja -C build rend)")

    log(f"machine: {os.cpu_count()} CPUs; ffmpeg: "
        + subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.splitlines()[0])
    clip = reference_clip()
    log(f"  {probe(clip)}")

    work = Path(tempfile.mkdtemp(dir=CACHE, prefix="rend-run-"))
    rend = Rend(binary, work / "data")
    log(f"rend dev: api {rend.api}, edge {rend.edge}, data {rend.data_dir}")
    data = clip.read_bytes()
    baseline, runs = [], []
    # Baseline and Rend runs alternate, so that load from elsewhere on a shared machine
    # hits both sides alike. Rend idles (no job queued) while the baseline runs.
    try:
        for i in range(max(args.runs, args.baseline_runs)):
            if i < args.baseline_runs:
                baseline.append(run_baseline_once(clip, f"{i + 1}/{args.baseline_runs}", show_cmd=(i == 0)))
            if i < args.runs:
                r = rend.one_run(clip, data, args.timeout)
                runs.append(r)
                log(f"rend run {i + 1}/{args.runs}: upload->playable {r['upload_to_playable_s']:.2f} s, "
                    f"upload->hls_ready {r['upload_to_hls_ready_s']:.2f} s "
                    f"(client saw {r['client_seen_playable_s']:.2f} / {r['client_seen_hls_ready_s']:.2f} s; "
                    f"PUT {r['upload_transfer_s']:.2f} s; tiers {','.join(r['tiers'])}; {r['asset_id']})")
    finally:
        rend.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    baseline_s = statistics.median(baseline)

    playable = statistics.median(r["upload_to_playable_s"] for r in runs)
    hls_ready = statistics.median(r["upload_to_hls_ready_s"] for r in runs)
    ratio = hls_ready / baseline_s
    playable_ok = playable <= PLAYABLE_TARGET_S
    ratio_ok = ratio <= HLS_READY_TARGET_RATIO
    log("")
    log(f"baseline (one ffmpeg, 4-rung ladder):  {baseline_s:6.2f} s   (runs: {', '.join(f'{t:.2f}' for t in baseline)})")
    log(f"rend median upload->playable:          {playable:6.2f} s   target <= {PLAYABLE_TARGET_S:.1f} s: "
        f"{'MET' if playable_ok else 'MISSED'}")
    log(f"rend median upload->hls_ready:         {hls_ready:6.2f} s   ratio to baseline {ratio:.2f}x, "
        f"target <= {HLS_READY_TARGET_RATIO:.2f}x: {'MET' if ratio_ok else 'MISSED'}")

    if args.json_out:
        Path(args.json_out).write_text(json.dumps({
            "clip": str(clip), "cpus": os.cpu_count(),
            "baseline_s": baseline, "baseline_median_s": baseline_s,
            "runs": runs, "median_upload_to_playable_s": playable, "median_upload_to_hls_ready_s": hls_ready,
            "hls_ready_over_baseline": ratio,
            "targets": {"playable_le_2s": playable_ok, "hls_ready_le_1_1x_baseline": ratio_ok},
        }, indent=2))
    return 1 if args.strict and not (playable_ok and ratio_ok) else 0


if __name__ == "__main__":
    sys.exit(main())
