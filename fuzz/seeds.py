#!/usr/bin/python3
"""Writes the seed corpora in fuzz/corpus/<target>/ (checked in; rerun after a
format change). Real examples: tokens signed with the fuzz targets' fixed test keys,
playlists as ffmpeg writes them for the ladder, telemetry batches as edges send them,
spool files as the edge writes them. No secret here is used anywhere but the fuzzers."""
import base64, hashlib, hmac, json, os, struct, zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
ASSET = "ast_" + "abcdefghijklmnopqrstuvwxyz"  # a valid core id
OTHER = "ast_" + "234567abcdefghijklmnopqrst"


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def token(kid, secret, exp, asset, sid=None):
    body = f"v1.{kid}.{exp}.{asset}" if sid is None else f"v2.{kid}.{exp}.{asset}.{sid}"
    sig = base64.urlsafe_b64encode(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()).rstrip(b"=")
    return body + "." + sig.decode()


# ---- playback_token: "<asset id>\n<Cookie header value>"
v1 = token("k1", "fuzz-secret-one", 1900000000, ASSET)
v2 = token("k-2_b", "fuzz-secret-two", 1900000000, ASSET, "sess_0123456789abcdef")
put("playback_token", "cookie_v1", f"{ASSET}\nrend_playback={v1}")
put("playback_token", "cookie_v2_among_others", f"{ASSET}\ntheme=dark; rend_playback=\"{v2}\"; _ga=GA1.2.3")
put("playback_token", "bare_v2", f"{ASSET}\n{v2}")
put("playback_token", "expired", f"{ASSET}\nrend_playback={token('k1', 'fuzz-secret-one', 1700000000, ASSET)}")
put("playback_token", "wrong_asset", f"{OTHER}\nrend_playback={v1}")
put("playback_token", "unknown_key", f"{ASSET}\nrend_playback={token('k9', 'x', 1900000000, ASSET)}")

# ---- edge_paths: raw request paths
for i, p in enumerate([f"/v/{ASSET}/master.m3u8", f"/v/{ASSET}/720p/index.m3u8", f"/v/{ASSET}/720p/seg_00001.ts",
                       f"/v/{ASSET}/poster.jpg", f"/v/{ASSET}/src/index.m3u8", f"/v/{ASSET}/1080p/init.mp4",
                       f"/v/{ASSET}/subs/en/captions.vtt", f"/v/{ASSET}/%2e%2e/x.ts", f"/v/{ASSET}/../x.ts"]):
    put("edge_paths", f"path_{i}", p)

# ---- analytics_json: telemetry batches
def event(i, **kw):
    e = {"event_id": f"evt_{i:04d}", "ts_ms": 1800000000000 + i, "edge_id": "edge-a", "region": "eu",
         "asset_id": ASSET, "artifact": "720p/seg_00001.ts", "kind": "segment", "tier": "720p",
         "session_id": "sess_0123456789abcdef", "status": 200, "bytes": 1000 + i, "cache": "HIT",
         "ttfb_ms": 3, "duration_ms": 12, "media_seconds": 4.0}
    e.update(kw)
    return e
put("analytics_json", "one_segment", json.dumps({"batch_id": "bat_1", "edge_id": "edge-a", "events": [event(1)]}))
put("analytics_json", "mixed", json.dumps({"batch_id": "bat_2", "edge_id": "edge-a", "events": [
    event(1), event(2, artifact="master.m3u8", kind="master", tier="", media_seconds=0, cache="MISS"),
    event(3, status=403, bytes=0, session_id="", asset_id="", artifact="", kind="other", tier=""),
    event(4, media_seconds=3.333, extra_field="ignored")]}, separators=(",", ":")))
put("analytics_json", "bad_status", json.dumps({"batch_id": "b", "edge_id": "e", "events": [event(1, status=99)]}))

# ---- telemetry_binary: binary v1 batches as edges send them (src/telemetry/wire.h)
def leb(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)
def s8(v):
    return leb(len(v.encode())) + v.encode()
def row(e):
    return (s8(e["event_id"]) + struct.pack("<q", e["ts_ms"]) + s8(e["edge_id"]) + s8(e["region"]) +
            s8(e["asset_id"]) + s8(e["artifact"]) + s8(e["kind"]) + s8(e["tier"]) + s8(e["session_id"]) +
            struct.pack("<iq", e["status"], e["bytes"]) + s8(e["cache"]) +
            struct.pack("<qqd", e["ttfb_ms"], e["duration_ms"], e["media_seconds"]))
def binary(batch_id, events, count=None):
    n = len(events) if count is None else count
    return b"RNDT\x01" + s8(batch_id) + s8("edge-a") + struct.pack("<I", n) + b"".join(row(e) for e in events)
put("telemetry_binary", "one_segment", binary("bat_1", [event(1)]))
put("telemetry_binary", "mixed", binary("bat_2", [
    event(1), event(2, artifact="master.m3u8", kind="master", tier="", media_seconds=0, cache="MISS"),
    event(3, status=403, bytes=0, session_id="", asset_id="", artifact="", kind="other", tier=""),
    event(4, media_seconds=3.333)]))
put("telemetry_binary", "bad_status", binary("b", [event(1, status=99)]))
put("telemetry_binary", "count_beyond_rows", binary("b", [event(1)], count=2))

# ---- spool: files as Spool writes them (magic, then u32 len | u32 crc | payload)
def record(payload):
    n = struct.pack("<I", len(payload))
    return n + struct.pack("<I", zlib.crc32(n + payload)) + payload
batch = open(os.path.join(ROOT, "analytics_json", "one_segment"), "rb").read()
put("spool", "two_records", b"RENDSPL1" + record(batch) + record(b"second"))
put("spool", "torn_tail", b"RENDSPL1" + record(b"kept") + record(b"torn record")[:-3])
put("spool", "flipped_byte", b"RENDSPL1" + record(b"bad")[:-1] + b"X" + record(b"after"))
put("spool", "empty_file", b"RENDSPL1")

# ---- hls_playlist: "<token value>\n<playlist>", playlists from ffmpeg's HLS muxer
event_pl = ("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n"
            "#EXT-X-PLAYLIST-TYPE:EVENT\n#EXTINF:4.000000,\nseg_00000.ts\n#EXTINF:4.000000,\nseg_00001.ts\n"
            "#EXTINF:1.000000,\nseg_00002.ts\n#EXT-X-ENDLIST\n")
fmp4_pl = ("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n"
           "#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:4.000000,\nf_00000.m4s\n"
           "#EXTINF:4.000000,\nf_00001.m4s\n#EXTINF:1.000000,\nf_00002.m4s\n#EXT-X-ENDLIST")
master = ("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n"
          "#EXT-X-STREAM-INF:BANDWIDTH=2962000,AVERAGE-BANDWIDTH=2500000,RESOLUTION=1280x720,"
          "CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=29.970\n720p/index.m3u8\n"
          "#EXT-X-STREAM-INF:BANDWIDTH=1200000,RESOLUTION=640x360,CODECS=\"avc1.64001e,mp4a.40.2\"\n"
          "360p/index.m3u8?x=1#frag\n")
put("hls_playlist", "event_in_progress", f"{v1}\n" + event_pl[: event_pl.index("#EXTINF:1.0")])
put("hls_playlist", "event_ended", f"{v1}\n{event_pl}")
put("hls_playlist", "fmp4_vod_no_final_newline", f"{v2}\n{fmp4_pl}")
put("hls_playlist", "master_crlf", "a b&c=d\n" + master.replace("\n", "\r\n"))
put("hls_playlist", "foreign_uris", "t\n#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"skd://key\"\n#EXTINF:4,\n"
    "https://cdn.example/seg.ts\n#EXTINF:4,\n//host/seg.ts\n#EXTINF:4,\nseg.ts?token=old&a=1\n")

# ---- json_body: API request bodies
put("json_body", "upload", json.dumps({"expected_bytes": 1048576, "visibility": "private", "title": "A video"}))
put("json_body", "playback", json.dumps({"expires_in_secs": 3600}))
put("json_body", "heartbeat", json.dumps({"edge_id": "edge-a", "region": "eu", "base_url": "https://e.example",
                                         "version": "1.0", "cache": {"bytes": 1, "objects": 2}, "stats": [1, 2.5, None, True]}))
put("json_body", "empty", "")
put("json_body", "deep", "{\"a\":" * 40 + "1" + "}" * 40)

# ---- config: "NAME=value" lines, or a route table JSON
put("config", "env_durations_sizes", "REND_EDGE_PLAYLIST_TTL_SECS=0.25\nREND_MAX_UPLOAD_BYTES=10737418240\n"
    "REND_EDGE_CACHE_MAX_BYTES=1073741824\nREND_EDGE_TELEMETRY_REQUEST_TIMEOUT_SECS=5\nREND_ALLOW_INSECURE_EDGE_URLS=true\n")
put("config", "env_edges", "REND_ENV=production\nREND_EXPECTED_EDGES=edge-a=eu=https://a.example, edge-b=us=https://b.example\n"
    "REND_API_BIND_ADDR=0.0.0.0:4000\nREND_CONTROL_PLANE_URL=https://api.example\n"
    "REND_PLAYER_EDGE_BASE_URLS=ash-1=https://ash.example\nREND_PLAYER_EDGE_BASE_URLS_MODE=override\n")
put("config", "env_urls", "DATABASE_URL=postgres://rend@db:5432/rend\nS3_ENDPOINT=http://127.0.0.1:9000\nS3_BUCKET=rend\n"
    "CLICKHOUSE_URL=http://127.0.0.1:8123\nREND_REDIS_URL=redis://127.0.0.1:6379/0\nREND_EDGE_BIND_ADDR=[::1]:4100\n")
routes = open(os.path.join(ROOT, "..", "..", "config", "routes.json")).read()
put("config", "routes_checked_in", routes)

# ---- analytics_params: "<from>\n<to>\n<cursor>"
cur = base64.urlsafe_b64encode(f"1800000000000:{ASSET}".encode()).rstrip(b"=").decode()
put("analytics_params", "ms", f"1800000000000\n1800003600000\n{cur}")
put("analytics_params", "rfc3339", "2027-01-15T08:00:00Z\n2027-01-15T09:00:00.250+01:00\n")
put("analytics_params", "defaults", "\n\nnot-a-cursor")

# ---- tus_headers: one tus header value (Upload-Length, Upload-Metadata, Upload-Checksum) or a direct token
put("tus_headers", "length", "31457280")
put("tus_headers", "metadata", "filename Y2xpcC5tcDQ=,visibility cHJpdmF0ZQ==,is_confidential")
put("tus_headers", "checksum", "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=")
put("tus_headers", "noncanonical_base64", "hdX=")  # decoded and re-encoded as hdU= once: now refused
put("tus_headers", "origin", "https://app.example:8443")
# name/filename metadata (api/asset_text.h): UTF-8 kept, a control character, an overlong '/', a bare name
put("tus_headers", "named_metadata", "name " + base64.b64encode("Café — cut 🎬".encode()).decode() +
    ",filename " + base64.b64encode(b"a\nb.mp4").decode())
put("tus_headers", "overlong_name", "name " + base64.b64encode(b"clip\xc0\xaf.mp4").decode())
put("tus_headers", "name_text", "Café — cut 🎬")
_payload = "upl_abcdefghijklmnopqrstuvwxyz|1900000000|https://app.example"
_key = hmac.new(("f" * 40).encode(), b"rend-direct-upload-v1", hashlib.sha256).digest()
_mac = hmac.new(_key, _payload.encode(), hashlib.sha256).digest()
put("tus_headers", "direct_token", base64.urlsafe_b64encode(_payload.encode()).rstrip(b"=").decode() + "." +
    base64.urlsafe_b64encode(_mac).rstrip(b"=").decode())

# ---- percent: anything; what clients, S3 keys and Redis URLs carry
put("percent", "query_value", "a%20b+c%2Fd%3D%26e")
put("percent", "s3_key", "rend-test-0a1b/assets/ast_x/720p/seg_00001.ts")
put("percent", "broken_escapes", "100%%zz%4%")
put("percent", "utf8_and_controls", "caf\u00e9 \t\r\n\x00~")
put("percent", "redis_password", "p%40ss%2Fw%3Ard")

# ---- env_file: env files as operators write them (the checked-in examples, quoting, bad lines)
for name in (".env.local.example", ".env.docker.example", ".env.production.example"):
    put("env_file", name.strip(".").replace(".", "_"), open(os.path.join(ROOT, "..", "..", name)).read())
put("env_file", "quoting_and_bad_lines", "export A='x # y'\nB=\"unterminated\nC=v # c\r\n=nokey\n1X=y\nD=$(cmd)\n"
    "REND_ENV=production\nREND_EXPECTED_EDGES=a=r=https://a.example,a=r=http://localhost\nAUTUMN_SECRET_KEY=xxx\n")
put("env_file", "export_alone", "export \nexport\n")  # once threw out_of_range
# ---- thumbnail: "<time>\n<width>\n<token>\n<text>", text = a master playlist or a storyboard VTT
sb_vtt = "WEBVTT\n\n" + "".join(
    f"00:00:{2 * k:02d}.000 --> 00:00:{2 * k + 2:02d}.000\nstoryboard/sheet_0001.jpg#xywh={160 * (k % 10)},{90 * (k // 10)},160,90\n\n"
    for k in range(12))
ladder_master = ("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n"
                 "#EXT-X-STREAM-INF:BANDWIDTH=3300000,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\"\n720p/index.m3u8\n"
                 "#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS=\"avc1.64001e,mp4a.40.2\"\n360p/index.m3u8\n")
put("thumbnail", "storyboard_vtt", f"12.5\n320\n{v2}\n{sb_vtt}")
put("thumbnail", "ladder_master", f"0\n1280\n{v1}\n{ladder_master}")
put("thumbnail", "crlf_vtt_foreign", "5\n640\na b\nWEBVTT\r\n\r\n00:00.000 --> 00:02.000\r\n"
    "https://elsewhere.example/s.jpg#xywh=0,0,1,1\r\n\r\n00:02.000 --> 00:04.000\r\ns.jpg?token=old&a=1#xywh=0,0,1,1")
put("thumbnail", "bad_query", "1e3\n333\nt\nassets/ast_abcdefghijklmnopqrstuvwxyz/thumb/125/640/thumbnail.jpg")
put("thumbnail", "overlapping_key_ends", "1\n333\nt\nassets/thumbnail.jpg")  # once read past the start
