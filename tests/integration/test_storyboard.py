"""Storyboards and thumbnails (issue 16): the worker's sprite sheets and storyboard.vtt for a
60 s clip, served by the edge with the playback credential and listed in the player
bootstrap; /v/{id}/thumbnail.jpg?time=T&width=W rendered at the edge from the segment that
holds T, cached and coalesced (50 concurrent requests, one ffmpeg run); hover previews on
the watch page in Chromium."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests

from conftest import _ffmpeg, ffprobe_json
from edgeproc import metrics
from test_loop import HLS_TIMEOUT_S, chromium_report, start_chromium_watch

CLIP_SECONDS = 60


@pytest.fixture(scope="session")
def clip60() -> Path:
    """A 60 s 640x360 H.264 clip whose picture changes every frame (testsrc has a counter), under 1 MB."""
    recipe = ["-f", "lavfi", "-i", f"testsrc=s=640x360:r=25:d={CLIP_SECONDS}", "-c:v", "libx264", "-preset",
              "ultrafast", "-crf", "32", "-pix_fmt", "yuv420p", "-g", "50", "-movflags", "+faststart"]
    cache = Path(tempfile.gettempdir()) / f"rend-storyboard-clip-{hashlib.sha256(json.dumps(recipe).encode()).hexdigest()[:12]}"
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / "clip60.mp4"
    if not target.exists():
        tmp = cache / f"tmp-{os.getpid()}.mp4"
        _ffmpeg(*recipe, str(tmp))
        os.replace(tmp, target)
    return target


@pytest.fixture(scope="module")
def asset(rend, clip60) -> dict:
    aid = rend.upload(clip60)
    a = rend.wait_status(aid, "hls_ready", timeout=HLS_TIMEOUT_S)
    return a


def viewer(rend, aid: str) -> tuple[requests.Session, dict]:
    """A browser-like session: the player bootstrap's cookie, sent to the edge."""
    s = requests.Session()
    r = s.get(f"{rend.api}/api/player/{aid}", timeout=10)
    assert r.status_code == 200, r.text
    return s, r.json()


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the JPEG's start-of-frame marker."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    i = 2
    while i + 4 <= len(data):
        assert data[i] == 0xFF, f"bad marker at {i}"
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + length
    raise AssertionError("no SOF marker")


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    assert text.startswith("WEBVTT"), text[:100]
    cues = []
    ts = r"(\d+):(\d{2}):(\d{2})\.(\d{3})"
    for block in text.strip().split("\n\n")[1:]:
        lines = block.strip().splitlines()
        m = re.fullmatch(ts + r" --> " + ts, lines[0])
        assert m, lines
        g = [int(x) for x in m.groups()]
        start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
        end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
        assert len(lines) == 2, lines
        cues.append((start, end, lines[1]))
    return cues


def test_storyboard_vtt_covers_the_whole_duration_with_in_bounds_tiles(rend, asset):
    aid = asset["id"]
    s, boot = viewer(rend, aid)
    url = boot["urls"]["storyboard"]
    assert url == f"{rend.edge}/v/{aid}/storyboard.vtt", boot["urls"]
    r = s.get(url, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "text/vtt"
    assert "immutable" in r.headers["Cache-Control"]
    cues = parse_vtt(r.text)
    duration = asset["duration_s"]
    assert abs(duration - CLIP_SECONDS) < 0.5, asset
    # Contiguous from 0 to the duration, 2 s tiles.
    assert cues[0][0] == 0
    for (_, end, _), (start, _, _) in zip(cues, cues[1:]):
        assert start == end
    assert abs(cues[-1][1] - duration) < 0.01, (cues[-1], duration)
    assert len(cues) == 30
    sheets = {}
    for start, end, target in cues:
        assert end > start
        m = re.fullmatch(r"(storyboard/sheet_\d{4}\.jpg)#xywh=(\d+),(\d+),(\d+),(\d+)", target)
        assert m, target
        name, x, y, w, h = m.group(1), *map(int, m.groups()[1:])
        assert (w, h) == (160, 90), target  # 160 px wide, 16:9 kept
        if name not in sheets:
            sr = s.get(f"{rend.edge}/v/{aid}/{name}", timeout=10)
            assert sr.status_code == 200, (name, sr.text)
            assert sr.headers["Content-Type"] == "image/jpeg"
            sheets[name] = jpeg_size(sr.content)
        sw, sh = sheets[name]
        assert x + w <= sw and y + h <= sh, (target, sheets[name])
    assert sheets == {"storyboard/sheet_0001.jpg": (1600, 270)}


def test_storyboard_with_a_query_token_carries_it_to_every_sheet(rend, asset):
    """A player given ?token= URLs (POST /v1/assets/{id}/playback): the VTT's cues carry
    the token too, so the sheets load without a cookie."""
    aid = asset["id"]
    token = rend.playback(aid)["token"]
    r = requests.get(f"{rend.edge}/v/{aid}/storyboard.vtt", params={"token": token}, timeout=10)
    assert r.status_code == 200, r.text
    cues = parse_vtt(r.text)
    assert len(cues) == 30
    for _, _, target in cues:
        assert re.fullmatch(r"storyboard/sheet_0001\.jpg\?token=[A-Za-z0-9._-]+#xywh=\d+,\d+,160,90", target), target
        assert target.split("?token=")[1].split("#")[0] == token
    sheet = requests.get(f"{rend.edge}/v/{aid}/{cues[0][2].split('#')[0]}", timeout=10)
    assert sheet.status_code == 200 and sheet.headers["Content-Type"] == "image/jpeg"


def test_the_legacy_same_origin_route_carries_the_token_into_the_storyboard_too(rend, asset):
    aid = asset["id"]
    token = rend.playback(aid)["token"]
    base = f"{rend.api}/api/player/{aid}/artifact"
    r = requests.get(f"{base}/storyboard.vtt", params={"token": token}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/vtt", r.text
    target = parse_vtt(r.text)[0][2]
    assert target.startswith(f"storyboard/sheet_0001.jpg?token={token}#xywh="), target
    sheet = requests.get(f"{base}/{target.split('#')[0]}", timeout=10)
    assert sheet.status_code == 200 and sheet.headers["Content-Type"] == "image/jpeg"


def thumbnail(s: requests.Session, rend, aid: str, **query) -> requests.Response:
    return s.get(f"{rend.edge}/v/{aid}/thumbnail.jpg", params=query, timeout=60)


def ffprobe_width(data: bytes) -> int:
    with tempfile.NamedTemporaryFile(suffix=".jpg") as f:
        f.write(data)
        f.flush()
        return ffprobe_json(f.name)["streams"][0]["width"]


def test_thumbnails_at_three_times_are_different_pictures_of_the_requested_width(rend, asset):
    aid = asset["id"]
    s, boot = viewer(rend, aid)
    assert boot["urls"]["thumbnail"] == f"{rend.edge}/v/{aid}/thumbnail.jpg", boot["urls"]
    pictures = []
    for t in ("5", "25.5", "47.25"):
        r = thumbnail(s, rend, aid, time=t, width="320")
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"] == "image/jpeg"
        assert ffprobe_width(r.content) == 320
        assert jpeg_size(r.content) == (320, 180)
        pictures.append(r.content)
    assert len(set(pictures)) == 3, "the three thumbnails are the same picture"
    big = thumbnail(s, rend, aid, time="5", width="1280")
    assert big.status_code == 200 and jpeg_size(big.content) == (1280, 720)
    # Without a time: the poster's (1 s), the same cached picture as time=1.
    default = thumbnail(s, rend, aid, width="160")
    assert default.status_code == 200
    assert default.content == thumbnail(s, rend, aid, time="1.0", width="160").content
    again = thumbnail(s, rend, aid, time="5", width="320")
    assert again.headers.get("x-rend-cache") == "HIT" and again.content == pictures[0]


def test_fifty_concurrent_requests_for_a_new_thumbnail_run_ffmpeg_once(rend, asset):
    aid = asset["id"]
    s, _ = viewer(rend, aid)
    cookies = s.cookies.get_dict()

    def renders() -> float:
        return metrics(requests.get(rend.edge + "/metrics", timeout=5).text)["rend_edge_thumbnail_renders_total"]

    before = renders()

    def one(_):
        r = requests.get(f"{rend.edge}/v/{aid}/thumbnail.jpg", params={"time": "33.3", "width": "640"},
                         cookies=cookies, timeout=60)
        return r.status_code, r.content

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(50)))
    assert [code for code, _ in results] == [200] * 50, [c for c, _ in results]
    assert len({body for _, body in results}) == 1
    assert jpeg_size(results[0][1]) == (640, 360)
    assert renders() - before == 1


@pytest.mark.parametrize("query,code", [
    ({"time": "-1"}, "invalid_time"),
    ({"time": "abc"}, "invalid_time"),
    ({"time": "1e3"}, "invalid_time"),
    ({"time": "nan"}, "invalid_time"),
    ({"time": str(CLIP_SECONDS)}, "invalid_time"),  # time < duration
    ({"time": "100000"}, "invalid_time"),
    ({"time": "5", "width": "333"}, "invalid_width"),
    ({"width": "0"}, "invalid_width"),
])
def test_bad_time_or_width_is_400(rend, asset, query, code):
    s, _ = viewer(rend, asset["id"])
    r = thumbnail(s, rend, asset["id"], **query)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == code, r.text


@pytest.mark.parametrize("path", ["storyboard.vtt", "storyboard/sheet_0001.jpg", "thumbnail.jpg?time=5&width=320"])
def test_no_credential_no_storyboard_or_thumbnail(rend, asset, path):
    aid = asset["id"]
    assert requests.get(f"{rend.edge}/v/{aid}/{path}", timeout=10).status_code == 401
    sep = "&" if "?" in path else "?"
    assert requests.get(f"{rend.edge}/v/{aid}/{path}{sep}token=v1.x.1.{aid}.forged", timeout=10).status_code == 401
    # A credential for the asset works with ?token= as well.
    token = rend.playback(aid)["token"]
    assert requests.get(f"{rend.edge}/v/{aid}/{path}{sep}token={token}", timeout=30).status_code == 200


def test_watch_page_shows_storyboard_previews_when_hovering_the_timeline(rend, asset):
    """Chromium: the page reads storyboard.vtt with the playback cookie, and hovering the
    timeline shows the tile for the hovered time (a sheet URL and #xywh offsets)."""
    aid = asset["id"]
    proc = start_chromium_watch(f"{rend.api}/watch/{aid}", env={"HOVER_PREVIEW": "1"})
    report = chromium_report(proc)
    hover = report.get("hover")
    assert hover, json.dumps(report, indent=1)
    assert hover["cues"] == 30, hover
    # Hovering at 3/4 of the timeline: the tile of t = 45 s (cue 22: 44-46 s) on sheet 1.
    assert hover["visible"] and hover["sheet"].endswith(f"/v/{aid}/storyboard/sheet_0001.jpg"), hover
    assert hover["position"] == "-320px -180px" and (hover["width"], hover["height"]) == ("160px", "90px"), hover
    assert any(line.startswith("200 ") for line in hover["sheetResponses"]), hover
    assert not [l for l in report["console"] if l.startswith("pageerror")], report["console"]
