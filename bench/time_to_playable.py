#!/usr/bin/env python3
"""Time to playable: Rend's upload->playable and upload->hls_ready against one ffmpeg command.

In ONE run (anchors.md: "a benchmark always runs the anchor and Rend in the same run"),
for each input chosen with --inputs (default h264,hevc,vp9,10bit):
  1. generates the input once and caches it in bench/.cache/ (the H.264 clip exactly as
     anchors.md says; the others from the same testsrc2 source, see INPUTS);
  2. times the floor: one ffmpeg process producing the 4-rung ladder (1080/720/540/360,
     x264 veryfast, high profile, 4 s GOP-aligned segments, AAC) with `split` and var_stream_map;
  3. uploads it to `rend dev` (free loopback ports), alternating with the floor runs, and
     reads uploaded_at / playable_at / hls_ready_at from the asset, and where the time
     went from Rend's log (copy + probe, first rendition, ladder encode).

Targets: median upload->playable <= 1 s for H.264 (the remux fast path), <= 3 s for the
others (the first rendition); median upload->hls_ready <= 1.05 x the floor producing the
same ladder (anchors.md), i.e. with Rend's rung caps (-maxrate/-bufsize); the plain floor is
printed next to it.
Standard library only. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
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

PLAYABLE_TARGET_S = {"h264": 1.0}  # everything else: PLAYABLE_TARGET_OTHER_S
PLAYABLE_TARGET_OTHER_S = 3.0
HLS_READY_TARGET_RATIO = 1.05

# anchors.md, "Media: one ffmpeg command producing the same ladder" (verbatim).
REFERENCE_CMD = [
    "ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=30:d=30,noise=alls=3:allf=t",
    "-f", "lavfi", "-i", "sine=f=440:d=30",
    "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "128k", "-shortest", "src30.mp4",
]

# The non-H.264 inputs: the anchors.md picture (testsrc2 1080p30 with noise, a 440 Hz
# tone) encoded as phones and cameras deliver it. Fast encoder settings keep the one-off
# generation short on a 2-core machine; the ladder's work (decode, scale, 4 x x264) is
# what is measured, and it does not depend on them much.
_SRC = ["-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=30:d=30,noise=alls=3:allf=t",
        "-f", "lavfi", "-i", "sine=f=440:d=30"]
INPUTS = {
    "h264": {"file": "src30.mp4", "what": "30 s 1080p30 H.264 + AAC (anchors.md)", "cmd": REFERENCE_CMD},
    "hevc": {"file": "hevc30.mp4", "what": "30 s 1080p30 HEVC Main (x265 ultrafast, hvc1) + AAC",
             "cmd": ["ffmpeg", *_SRC, "-c:v", "libx265", "-preset", "ultrafast", "-crf", "26",
                     "-x265-params", "log-level=error", "-tag:v", "hvc1", "-pix_fmt", "yuv420p",
                     "-c:a", "aac", "-b:a", "128k", "-shortest", "hevc30.mp4"]},
    "vp9": {"file": "vp9_30.webm", "what": "30 s 1080p30 VP9 (libvpx realtime, cpu-used 8) + Opus, WebM",
            "cmd": ["ffmpeg", *_SRC, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8",
                    "-row-mt", "1", "-b:v", "4M", "-pix_fmt", "yuv420p", "-c:a", "libopus", "-b:a", "128k",
                    "-shortest", "vp9_30.webm"]},
    "10bit": {"file": "h264_10bit30.mp4", "what": "30 s 1080p30 H.264 High 10 (yuv420p10le, x264 ultrafast) + AAC",
              "cmd": ["ffmpeg", *_SRC, "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23",
                      "-pix_fmt", "yuv420p10le", "-c:a", "aac", "-b:a", "128k", "-shortest", "h264_10bit30.mp4"]},
    # 10 minutes: the 30 s HEVC clip looped 20 times without re-encoding (encoding 10 min
    # of 1080p HEVC here takes about an hour). Opt-in: a Rend run and a floor run each
    # take about 20 x the 30 s ones.
    "hevc600": {"file": "hevc600.mp4", "what": "10 min 1080p30 HEVC + AAC (hevc30.mp4 looped, -c copy)",
                "needs": "hevc",
                "cmd": ["ffmpeg", "-stream_loop", "19", "-i", "{hevc}", "-c", "copy", "-t", "600", "hevc600.mp4"]},
}
DEFAULT_INPUTS = "h264,hevc,vp9,10bit"

# The ladder, with the encoder settings Rend's media pipeline uses.
RUNGS = [("1080p", 1080, "5500k"), ("720p", 720, "3000k"), ("540p", 540, "1800k"), ("360p", 360, "800k")]
SEGMENT_S = 4

# Where the time goes: rend dev runs ffmpeg/ffprobe through this wrapper (REND_FFMPEG_PATH,
# REND_FFPROBE_PATH), which appends one line per process: wall start/end (epoch, the clock
# the asset's timestamps use), exit code, the tool's user and system CPU (the wrapper's
# cutime and cstime from /proc: clock ticks of its waited-for child) and the argv. Bash's startup (~2 ms) is the only cost it adds.
WRAPPER = """#!/bin/bash
t0=$EPOCHREALTIME
{real} "$@"
rc=$?
t1=$EPOCHREALTIME
read -r -a st < /proc/$$/stat
printf '%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$t0" "$t1" "$rc" "${st[15]} ${st[16]}" "${0##*/}" "$*" >> {log}
exit $rc
"""

# Phases in the order a job runs them; classify() names a process's phase from its argv.
PHASES = ["probe", "remux", "first", "ladder", "poster", "storyboard", "other"]


def write_wrappers(bin_dir: Path, log_path: Path) -> dict:
    """ffmpeg and ffprobe wrappers in bin_dir logging to log_path; returns rend's env for them."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    env = {}
    for tool, var in (("ffmpeg", "REND_FFMPEG_PATH"), ("ffprobe", "REND_FFPROBE_PATH")):
        real = shutil.which(tool)
        if not real:
            sys.exit(f"{tool} not found on PATH")
        w = bin_dir / tool
        w.write_text(WRAPPER.replace("{real}", real).replace("{log}", str(log_path)))
        w.chmod(0o755)
        env[var] = str(w)
    return env


def classify(tool: str, args: str) -> str:
    if tool == "ffprobe":
        return "probe"
    if "split=" in args:
        return "ladder"
    if "tile=" in args:
        return "storyboard"
    if "-frames:v 1" in args:
        return "poster"
    if "ultrafast" in args:
        return "first"
    if "-c:v copy" in args:
        return "remux"
    return "other"


def ticks_cpu(field: str) -> float:
    """"cutime cstime" in clock ticks -> CPU seconds."""
    return sum(int(x) for x in field.split()) / os.sysconf("SC_CLK_TCK")


def read_procs(log_path: Path, asset_id: str) -> list[dict]:
    """The wrapped processes whose argv names this asset (its work dir carries the id)."""
    out = []
    if not log_path.exists():
        return out
    for line in log_path.read_text(errors="replace").splitlines():
        f = line.split("\t", 5)
        if len(f) < 6 or asset_id not in f[5]:
            continue
        out.append({"phase": classify(f[4], f[5]), "start": float(f[0]), "end": float(f[1]), "rc": int(f[2]),
                    "cpu_s": ticks_cpu(f[3])})
    return out


def proc_cpu(pid: int) -> tuple[float, float]:
    """(own user+system, waited-for children's user+system) CPU seconds of a live process."""
    with open(f"/proc/{pid}/stat") as fh:
        f = fh.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return (int(f[11]) + int(f[12])) / tck, (int(f[13]) + int(f[14])) / tck


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def log(msg: str) -> None:
    print(msg, flush=True)


def baseline_cmd(src: Path, out: Path, caps: bool = False) -> list[str]:
    """anchors.md's one-ffmpeg ladder; `caps`: plus Rend's per-rung VBV caps (-maxrate = the
    rung's bitrate, -bufsize = twice it, as src/media/pipeline.cpp's ladder_command), which
    keep the master's BANDWIDTH honest and cost x264 some CPU: the "floor + caps" column
    separates that cost from the rest of Rend's overhead."""
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
        if caps:
            k = int(rate.rstrip("k"))
            cmd += [f"-maxrate:v:{i}", f"{k}k", f"-bufsize:v:{i}", f"{2 * k}k"]
    cmd += ["-force_key_frames", f"expr:gte(t,n_forced*{SEGMENT_S})", "-sc_threshold", "0",
            "-c:a", "aac", "-b:a", "128k", "-ac", "2",
            "-f", "hls", "-hls_time", str(SEGMENT_S), "-hls_playlist_type", "vod",
            "-hls_flags", "independent_segments", "-hls_segment_type", "mpegts",
            "-hls_segment_filename", str(out / "%v" / "seg_%05d.ts"),
            "-master_pl_name", "master.m3u8",
            "-var_stream_map", " ".join(f"v:{i},a:{i},name:{name}" for i, (name, _, _) in enumerate(RUNGS)),
            str(out / "%v" / "index.m3u8")]
    return cmd


def input_clip(name: str) -> Path:
    spec = INPUTS[name]
    CACHE.mkdir(parents=True, exist_ok=True)
    clip = CACHE / spec["file"]
    if clip.exists():
        log(f"{name}: {clip} (cached)")
        return clip
    cmd = list(spec["cmd"])
    if "needs" in spec:
        cmd = [a.replace("{" + spec["needs"] + "}", str(input_clip(spec["needs"]))) for a in cmd]
    work = Path(tempfile.mkdtemp(dir=CACHE, prefix="gen-"))
    try:
        log(f"{name}: generating {spec['what']} (once; cached in {CACHE}) ...")
        t0 = time.monotonic()
        r = subprocess.run(cmd[:1] + ["-hide_banner", "-loglevel", "error", "-nostdin", "-y"] + cmd[1:],
                           cwd=work, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"{name}: generation failed:\n{r.stderr[-3000:]}")
        os.replace(work / spec["file"], clip)
        log(f"{name}: generated in {time.monotonic() - t0:.0f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return clip


def probe(path: Path) -> str:
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                        "format=duration,bit_rate:stream=codec_name,width,height,pix_fmt",
                        "-of", "json", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        return "?"
    j = json.loads(r.stdout)
    v = next((s for s in j["streams"] if s.get("width")), {})
    return (f"{float(j['format']['duration']):.1f} s, {v.get('width')}x{v.get('height')} {v.get('codec_name')} "
            f"{v.get('pix_fmt')}, "
            f"{int(j['format']['bit_rate']) / 1e6:.2f} Mb/s, {path.stat().st_size / 1e6:.1f} MB")


def run_baseline_once(src: Path, label: str, show_cmd: bool, caps: bool = False) -> tuple[float, float]:
    """(wall s, CPU s) of one floor run (`caps`: the floor with Rend's rung caps)."""
    out = CACHE / "baseline-out"
    shutil.rmtree(out, ignore_errors=True)
    for name, _, _ in RUNGS:
        (out / name).mkdir(parents=True)
    cmd = baseline_cmd(src, out, caps)
    if caps:
        label = "+caps " + label
    if show_cmd:
        log(f"baseline command{' with caps' if caps else ''}: "
            + " ".join(f"'{a}'" if (" " in a or ";" in a) else a for a in cmd))
    c0, load = children_cpu(), os.getloadavg()[0]
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.monotonic() - t0
    cpu = children_cpu() - c0
    if r.returncode != 0:
        sys.exit(f"baseline ffmpeg failed:\n{r.stderr[-3000:]}")
    if not (out / "master.m3u8").exists():
        sys.exit("baseline ffmpeg wrote no master.m3u8")
    log(f"baseline run {label}: {dt:.2f} s, CPU {cpu:.2f} s ({cpu / dt:.2f} cores; load {load:.1f})")
    return dt, cpu


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
        self.procs_log = data_dir.parent / (data_dir.name + ".procs")
        env = {k: v for k, v in os.environ.items() if not k.startswith("REND_") and k != "DATABASE_URL"}
        env.update({
            "REND_API_BIND_ADDR": f"127.0.0.1:{self.api_port}",
            "REND_EDGE_BIND_ADDR": f"127.0.0.1:{self.edge_port}",
            "REND_PLAYBACK_BASE_URL": self.edge,
            "REND_MAX_UPLOAD_BYTES": str(4 * 1024 ** 3),
        })
        env.update(write_wrappers(data_dir.parent / (data_dir.name + ".bin"), self.procs_log))
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

    def playable_run(self, data: bytes, timeout: float) -> dict:
        return self.one_run(None, data, timeout, until="playable")

    def one_run(self, clip: Path | None, data: bytes, timeout: float, until: str = "hls_ready") -> dict:
        st, up = http("POST", self.api + "/v1/uploads", self.key,
                      json.dumps({"visibility": "public", "size_bytes": len(data)}).encode(), "application/json")
        if st != 201:
            self._die(f"POST /v1/uploads -> {st} {up}")
        t_put = time.monotonic()
        st, put = http("PUT", up["upload_url"], self.key, data, "application/octet-stream")
        t_uploaded = time.monotonic()
        if st != 200:
            self._die(f"PUT upload -> {st} {put}")
        own0, _ = proc_cpu(self.proc.pid)
        load = os.getloadavg()[0]
        seen_playable = None
        deadline = time.monotonic() + timeout
        while True:
            st, a = http("GET", f"{self.api}/v1/assets/{up['asset_id']}", self.key, timeout=30)
            now = time.monotonic()
            if st != 200:
                self._die(f"GET asset -> {st} {a}")
            if seen_playable is None and a["status"] in ("playable", "hls_ready"):
                seen_playable = now
            if a["status"] == "hls_ready" or (until == "playable" and seen_playable is not None):
                break
            if a["status"] in ("failed", "deleted"):
                self._die(f"asset {a['id']} ended {a['status']}: {a.get('error')}")
            if now > deadline:
                self._die(f"asset {a['id']} not {until} within {timeout} s (status {a['status']})")
            # Fine polling until playable (sub-second figures); after it every 250 ms, so the
            # poll's own CPU in rend (20 answers a second over a whole ladder: ~0.2 s) stays
            # small next to the job's. hls_ready itself comes from the server's timestamp.
            time.sleep(0.05 if seen_playable is None else 0.25)
        own1, _ = proc_cpu(self.proc.pid)
        up_at, pl_at = parse_ts(a["uploaded_at"]), parse_ts(a["playable_at"])
        hr_at = parse_ts(a.get("hls_ready_at"))
        ev = self.events(a["id"])
        processing = (parse_ts(a["processing_at"]) - up_at) if a.get("processing_at") else None
        return {
            "asset_id": a["id"],
            "tiers": [t["name"] for t in a.get("tiers", [])],
            "upload_transfer_s": t_uploaded - t_put,
            "upload_to_processing_s": (parse_ts(a["processing_at"]) - up_at) if a.get("processing_at") else None,
            "upload_to_playable_s": pl_at - up_at,
            "upload_to_hls_ready_s": (hr_at - up_at) if hr_at is not None else None,
            "client_seen_playable_s": seen_playable - t_uploaded,
            "client_seen_hls_ready_s": now - t_uploaded,
            "load": load,
            # CPU: every ffmpeg/ffprobe of the job (wrapper), and rend dev's own threads
            # (uploads of segments, playlist rewrites, polling answers) from the PUT's end on.
            "procs": [dict(p, start=p["start"] - up_at, end=p["end"] - up_at)
                      for p in read_procs(self.procs_log, up["asset_id"])],
            "rend_cpu_s": own1 - own0,
            "playable_s": pl_at - up_at,
            "hls_ready_s": (hr_at - up_at) if hr_at is not None else None,
            # Where the time goes (Rend's log; pipeline times count from after the probe).
            "breakdown": {
                "queue_s": processing,
                "copy_s": ms(ev, "job_probed", "copy_ms"),
                "probe_s": ms(ev, "job_probed", "probe_ms"),
                "first_rendition_s": ms(ev, "media_first_rendition_ready", "ms"),
                "fast_path_s": ms(ev, "media_fast_path_ready", "ms"),
                "pipeline_playable_s": ms(ev, "media_playable", "ms"),
                "ladder_encoded_s": ms(ev, "media_ladder_encoded", "ms"),
                "pipeline_hls_ready_s": ms(ev, "media_hls_ready", "ms"),
            },
        }

    def events(self, asset_id: str) -> dict:
        """The asset's log events by name (the last of each), from rend's JSON log lines."""
        self.logf.flush()
        out = {}
        for line in self.log_path.read_text(errors="replace").splitlines():
            if asset_id not in line or not line.startswith("{"):
                continue
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if j.get("asset_id") == asset_id:
                out[j.get("event")] = j
        return out


def ms(events: dict, event: str, field: str) -> float | None:
    v = events.get(event, {}).get(field)
    return v / 1000.0 if isinstance(v, (int, float)) else None


def phases(r: dict, until: str = "hls_ready") -> dict:
    """phase -> {start, end (s after upload; first start, last end), cpu (s), n} over the
    processes that ended by `until` (playable or hls_ready): the CPU that time paid for."""
    limit = r[f"{until}_s"] + 0.05
    out = {}
    for p in r["procs"]:
        if p["end"] > limit:
            continue
        ph = out.setdefault(p["phase"], {"start": p["start"], "end": p["end"], "cpu": 0.0, "n": 0})
        ph["start"], ph["end"] = min(ph["start"], p["start"]), max(ph["end"], p["end"])
        ph["cpu"] += p["cpu_s"]
        ph["n"] += 1
    return out


def timeline(r: dict, until: str = "hls_ready") -> str:
    """One run's timeline: each phase's span after the upload and its CPU, then the totals."""
    ph = phases(r, until)
    parts = []
    for name in PHASES:
        if name in ph:
            p = ph[name]
            # cores = CPU / wall: on a shared machine, how much of it the scheduler gave this phase
            # (compare with the floor's).
            span = max(1e-3, p["end"] - p["start"])
            parts.append(f"{name}{'' if p['n'] == 1 else ' x' + str(p['n'])} {p['start']:.2f}-{p['end']:.2f} "
                         f"({p['cpu']:.2f} CPU" + (f", {p['cpu'] / span:.2f} cores)" if name == "ladder" else ")"))
    ff = sum(p["cpu"] for p in ph.values())
    marks = f"playable {r['playable_s']:.2f}" + (f", hls_ready {r['hls_ready_s']:.2f}" if until == "hls_ready" else "")
    return (f"    timeline (s after upload): {' | '.join(parts)} | {marks}\n"
            f"    CPU by {until}: ffmpeg/ffprobe {ff:.2f} s + rend's own {r['rend_cpu_s']:.2f} s = "
            f"{ff + r['rend_cpu_s']:.2f} s (load {r['load']:.1f})")


def fmt(v: float | None) -> str:
    return f"{v:.2f}" if v is not None else "-"


def median_of(runs: list[dict], key: str) -> float | None:
    vals = [r["breakdown"][key] for r in runs if r["breakdown"].get(key) is not None]
    return statistics.median(vals) if vals else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", default=DEFAULT_INPUTS,
                    help=f"comma-separated, from {','.join(INPUTS)} (default {DEFAULT_INPUTS}; "
                         "hevc600 is 10 minutes long: opt-in)")
    ap.add_argument("--runs", type=int, default=3, help="uploads to Rend per input (default 3)")
    ap.add_argument("--baseline-runs", type=int, default=None,
                    help="floor ffmpeg runs per input, alternating with the Rend runs (default: as many as --runs)")
    ap.add_argument("--no-capped-floor", action="store_true",
                    help="skip the capped floor (anchors.md's ladder plus Rend's -maxrate/-bufsize per rung, the "
                         "same ladder Rend makes; run by default next to each plain floor run) and judge "
                         "hls_ready against the plain floor")
    ap.add_argument("--playable-only", action="store_true",
                    help="no floor runs, and each upload is measured up to playable only (the rest of the "
                         "job is abandoned when rend stops): for the 10-minute input")
    ap.add_argument("--bin", default=os.environ.get("REND_BIN", "build/rend"),
                    help="rend binary (default $REND_BIN or build/rend, relative to the repo root)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per upload to reach hls_ready")
    ap.add_argument("--json", dest="json_out", help="also write the results as JSON to this file")
    ap.add_argument("--keep", action="store_true", help="keep the rend data dir")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    if args.baseline_runs is None:
        args.baseline_runs = 0 if args.playable_only else args.runs
    if args.runs < 1 or args.baseline_runs < 0 or (args.baseline_runs < 1 and not args.playable_only):
        sys.exit("--runs and --baseline-runs must be at least 1")
    names = [n.strip() for n in args.inputs.split(",") if n.strip()]
    unknown = [n for n in names if n not in INPUTS]
    if unknown or not names:
        sys.exit(f"--inputs: unknown {','.join(unknown) or '(none)'}; choose from {','.join(INPUTS)}")

    binary = Path(args.bin)
    if not binary.is_absolute():
        binary = REPO_ROOT / binary
    if not binary.exists():
        sys.exit(f"rend binary not found: {binary} (build: cmake -S . -B build -G Ninja && ninja -C build rend)")

    log(f"machine: {os.cpu_count()} CPUs; ffmpeg: "
        + subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.splitlines()[0])
    clips = {}
    for n in names:
        clips[n] = input_clip(n)
        log(f"  {n}: {probe(clips[n])}")

    work = Path(tempfile.mkdtemp(dir=CACHE, prefix="rend-run-"))
    rend = Rend(binary, work / "data")
    log(f"rend dev: api {rend.api}, edge {rend.edge}, data {rend.data_dir}")
    results = {}
    shown = False
    # Floor and Rend runs alternate, so that load from elsewhere on a shared machine
    # hits both sides alike. Rend idles (no job queued) while the floor runs.
    try:
        for n in names:
            clip, data = clips[n], clips[n].read_bytes()
            baseline, baseline_cpu, capped, capped_cpu, runs = [], [], [], [], []
            for i in range(max(args.runs, args.baseline_runs)):
                if i < args.baseline_runs:
                    wall, cpu = run_baseline_once(clip, f"{n} {i + 1}/{args.baseline_runs}", show_cmd=not shown)
                    baseline.append(wall)
                    baseline_cpu.append(cpu)
                    if not args.no_capped_floor:
                        wall, cpu = run_baseline_once(clip, f"{n} {i + 1}/{args.baseline_runs}", show_cmd=not shown,
                                                      caps=True)
                        capped.append(wall)
                        capped_cpu.append(cpu)
                    shown = True
                if i < args.runs:
                    if args.playable_only:
                        r = rend.playable_run(data, args.timeout)
                        runs.append(r)
                        b = r["breakdown"]
                        log(f"rend {n} {i + 1}/{args.runs}: upload->playable {r['upload_to_playable_s']:.2f} s "
                            f"(queue {fmt(b['queue_s'])}, copy {fmt(b['copy_s'])}, probe {fmt(b['probe_s'])}, "
                            f"pipeline->playable {fmt(b['pipeline_playable_s'])}; PUT {r['upload_transfer_s']:.2f} s; "
                            f"{r['asset_id']})")
                        log(timeline(r, until="playable"))
                        # The rest of this job would compete with the next upload: a fresh rend.
                        rend.stop()
                        rend = Rend(binary, work / f"data-{n}-{i}")
                        continue
                    r = rend.one_run(clip, data, args.timeout)
                    runs.append(r)
                    b = r["breakdown"]
                    log(f"rend {n} {i + 1}/{args.runs}: upload->playable {r['upload_to_playable_s']:.2f} s, "
                        f"upload->hls_ready {r['upload_to_hls_ready_s']:.2f} s "
                        f"(queue {fmt(b['queue_s'])}, copy {fmt(b['copy_s'])}, probe {fmt(b['probe_s'])}, "
                        f"pipeline->playable {fmt(b['pipeline_playable_s'])}, ladder encoded "
                        f"{fmt(b['ladder_encoded_s'])}, pipeline->hls_ready {fmt(b['pipeline_hls_ready_s'])}; "
                        f"client saw {r['client_seen_playable_s']:.2f} / {r['client_seen_hls_ready_s']:.2f} s; "
                        f"PUT {r['upload_transfer_s']:.2f} s; tiers {','.join(r['tiers'])}; {r['asset_id']})")
                    log(timeline(r))
            results[n] = {"clip": str(clip), "baseline_s": baseline, "baseline_cpu_s": baseline_cpu,
                          "baseline_capped_s": capped, "baseline_capped_cpu_s": capped_cpu, "runs": runs}
    finally:
        rend.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    ok = True
    log("")
    log(f"{'input':8} {'playable':>9} {'target':>7} {'hls_ready':>10} {'floor':>8} {'ratio':>6}   "
        "where the time goes (medians, s): queue+copy+probe | pipeline->playable | ladder encode")
    for n, res in results.items():
        runs, baseline = res["runs"], res["baseline_s"]
        target = PLAYABLE_TARGET_S.get(n, PLAYABLE_TARGET_OTHER_S)
        playable = statistics.median(r["upload_to_playable_s"] for r in runs)
        res["median_upload_to_playable_s"] = playable
        res["playable_target_s"] = target
        res["playable_ok"] = playable <= target
        ok &= res["playable_ok"]
        line = f"{n:8} {playable:8.2f}s {'<=' + format(target, 'g') + 's':>7}{'' if res['playable_ok'] else '!'}"
        pre = [median_of(runs, k) for k in ("queue_s", "copy_s", "probe_s")]
        pre_s = sum(v for v in pre if v is not None)
        if args.playable_only:
            line += (f" {'-':>10} {'-':>8} {'-':>6}    {pre_s:.2f} ({' + '.join(fmt(v) for v in pre)}) | "
                     f"{fmt(median_of(runs, 'pipeline_playable_s'))} | -")
        else:
            hls_ready = statistics.median(r["upload_to_hls_ready_s"] for r in runs)
            plain = statistics.median(baseline)
            # anchors.md's floor is "one ffmpeg command producing the same ladder". Rend's
            # ladder caps every rung (-maxrate/-bufsize, so no segment outruns the master's
            # BANDWIDTH, which players choose renditions by); the floor that produces that
            # same ladder is the capped one, so the target is judged against it. The plain
            # floor (no caps) stays printed next to it, with its own ratio.
            capped = bool(res["baseline_capped_s"])
            floor = statistics.median(res["baseline_capped_s"]) if capped else plain
            ratio = hls_ready / floor
            res.update({"median_upload_to_hls_ready_s": hls_ready, "floor_median_s": plain,
                        "hls_ready_over_floor": hls_ready / plain, "target_floor": "capped" if capped else "plain",
                        "hls_ready_over_target_floor": ratio, "hls_ready_ok": ratio <= HLS_READY_TARGET_RATIO})
            ok &= res["hls_ready_ok"]
            line += (f" {hls_ready:9.2f}s {floor:7.2f}s {ratio:5.2f}x{'' if res['hls_ready_ok'] else '!'}   "
                     f"{pre_s:.2f} ({' + '.join(fmt(v) for v in pre)}) | "
                     f"{fmt(median_of(runs, 'pipeline_playable_s'))} | {fmt(median_of(runs, 'ladder_encoded_s'))}")
            if capped:
                res.update({"floor_capped_median_s": floor, "hls_ready_over_floor_capped": ratio})
                line += (f"   [plain floor, without the rung caps: {plain:.2f}s, hls_ready {hls_ready / plain:.2f}x it; "
                         f"the caps cost the floor {floor / plain:.2f}x]")
        log(line)
    log(f"targets: playable <= 1 s (h264) / <= {PLAYABLE_TARGET_OTHER_S:g} s (others); "
        f"hls_ready <= {HLS_READY_TARGET_RATIO:.2f}x the floor producing the same ladder "
        f"({'the plain floor: --no-capped-floor' if args.no_capped_floor else 'with the rung caps'}); '!' = missed")

    # CPU seconds survive a loaded machine far better than wall-clock ratios: what Rend
    # spends before hls_ready (playable with --playable-only) next to the floor's one ffmpeg.
    until = "playable" if args.playable_only else "hls_ready"
    shown_phases = [p for p in PHASES if any(p in phases(r, until) for res in results.values() for r in res["runs"])]
    log("")
    log(f"CPU seconds by {until} (medians): " + " | ".join(shown_phases)
        + " | rend's own | Rend total | floor | ratio | floor + caps | ratio")
    for n, res in results.items():
        runs = res["runs"]
        cpu = {p: statistics.median(phases(r, until).get(p, {}).get("cpu", 0.0) for r in runs) for p in shown_phases}
        own = statistics.median(r["rend_cpu_s"] for r in runs)
        total = statistics.median(sum(v["cpu"] for v in phases(r, until).values()) + r["rend_cpu_s"] for r in runs)
        res["cpu_by_phase_s"] = dict(cpu, rend_own=own, total=total)
        line = f"{n:8} " + " | ".join(f"{cpu[p]:.2f}" for p in shown_phases) + f" | {own:.2f} | {total:.2f}"
        if res["baseline_cpu_s"]:
            floor_cpu = statistics.median(res["baseline_cpu_s"])
            res["floor_cpu_median_s"] = floor_cpu
            line += f" | {floor_cpu:.2f} | {total / floor_cpu:.2f}x"
            if res["baseline_capped_cpu_s"]:
                cap_cpu = statistics.median(res["baseline_capped_cpu_s"])
                res["floor_capped_cpu_median_s"] = cap_cpu
                line += f" | {cap_cpu:.2f} | {total / cap_cpu:.2f}x"
            # The scheduler's share: Rend's ladder and the floor should get the same on a quiet machine.
            lad = [phases(r)["ladder"] for r in runs if "ladder" in phases(r)]
            if lad:
                lc = statistics.median(p["cpu"] / max(1e-3, p["end"] - p["start"]) for p in lad)
                fc = statistics.median(c / w for c, w in zip(res["baseline_cpu_s"], res["baseline_s"]))
                line += f"   (cores used: ladder {lc:.2f}, floor {fc:.2f})"
        log(line)

    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"cpus": os.cpu_count(), "inputs": results}, indent=2))
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
