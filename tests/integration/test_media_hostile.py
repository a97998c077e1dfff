"""Hostile uploads: playlists and scripts that make ffmpeg read other files or URLs.

Each upload references both a local file (a real, playable clip, so following the
reference would visibly succeed) and a loopback URL served by a recorder in this
test. The worker must refuse them as `not_a_video` without touching either.
"""
from __future__ import annotations

import http.server
import subprocess
import threading
from pathlib import Path

import pytest

TIMEOUT_S = 60


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests_seen: list = []
    body = b""

    def _answer(self) -> None:
        type(self).requests_seen.append(f"{self.command} {self.path}")
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(self.body)

    do_GET = do_HEAD = _answer

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def bait(tmp_path_factory):
    """A playable local clip (the marker) and a recording HTTP server serving the same bytes."""
    d = tmp_path_factory.mktemp("hostile")
    marker = d / "marker.ts"
    r = subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi", "-i",
         "testsrc2=s=320x240:r=25:d=2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-f", "mpegts", str(marker)],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-1000:]
    handler = type("Recorder", (_Recorder,), {"requests_seen": [], "body": marker.read_bytes()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield {"marker": marker, "url": f"http://127.0.0.1:{server.server_address[1]}", "seen": handler.requests_seen}
    server.shutdown()
    server.server_close()


def _hls(marker: Path, url: str) -> bytes:
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:2.0,\n{url}/hls/seg0.ts\n"
        f"#EXTINF:2.0,\nfile://{marker}\n"
        f"#EXTINF:2.0,\n{marker}\n"
        "#EXT-X-ENDLIST\n"
    ).encode()


def _dash(marker: Path, url: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT4S"'
        ' minBufferTime="PT2S" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">\n'
        ' <Period id="0" duration="PT4S">\n'
        '  <AdaptationSet mimeType="video/mp2t" contentType="video">\n'
        '   <Representation id="remote" bandwidth="100000" width="320" height="240" codecs="avc1.42c00d">\n'
        f'    <BaseURL>{url}/dash/seg.ts</BaseURL>\n'
        '   </Representation>\n'
        '   <Representation id="local" bandwidth="90000" width="320" height="240" codecs="avc1.42c00d">\n'
        f'    <BaseURL>file://{marker}</BaseURL>\n'
        '   </Representation>\n'
        '  </AdaptationSet>\n'
        ' </Period>\n'
        '</MPD>\n'
    ).encode()


def _dash_local(marker: Path, url: str) -> bytes:
    """Only the local file: ffmpeg's default (inherited "file,crypto,data") protocol
    list does not stop this one, so it is the manifest that would leak the file."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT4S"'
        ' minBufferTime="PT2S" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">\n'
        ' <Period id="0" duration="PT4S">\n'
        '  <AdaptationSet mimeType="video/mp2t" contentType="video">\n'
        '   <Representation id="local" bandwidth="90000" width="320" height="240" codecs="avc1.42c00d">\n'
        f'    <BaseURL>file://{marker}</BaseURL>\n'
        '   </Representation>\n'
        '  </AdaptationSet>\n'
        ' </Period>\n'
        '</MPD>\n'
    ).encode()


def _ffconcat(marker: Path, url: str) -> bytes:
    return f"ffconcat version 1.0\nfile '{url}/concat/a.ts'\nfile '{marker}'\nfile 'file:{marker}'\n".encode()


@pytest.mark.parametrize("kind,make", [("hls", _hls), ("dash", _dash), ("dash_local", _dash_local),
                                       ("ffconcat", _ffconcat)])
def test_playlists_and_scripts_are_refused_without_fetching_anything(rend, bait, kind, make):
    before = len(bait["seen"])
    aid = rend.upload(make(bait["marker"], bait["url"]))
    a = rend.wait_status(aid, "failed", timeout=TIMEOUT_S)
    assert a["error"]["code"] == "not_a_video", (kind, a["error"])
    assert a["playable_at"] is None and a["hls_ready_at"] is None, a
    assert bait["seen"][before:] == [], f"{kind}: the worker fetched {bait['seen'][before:]}"
    # Nothing derived from the referenced clip was published.
    assert rend.object_keys(f"assets/{aid}/") == {}, rend.object_keys(f"assets/{aid}/")
