#!/usr/bin/env python3
"""A minimal tus 1.0 client for bench/upload.sh: creates an upload, then PATCHes the
file in fixed-size chunks over one keep-alive connection, streaming each chunk from
disk (never the whole file in memory). Prints the upload URL.
   bench/tus_client.py API_URL API_KEY FILE CHUNK_BYTES"""
import http.client
import os
import sys
from urllib.parse import urlsplit

api, key, path, chunk = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
size = os.path.getsize(path)
u = urlsplit(api)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
auth = {"Authorization": f"Bearer {key}", "Tus-Resumable": "1.0.0"}
conn.request("POST", "/v1/uploads/tus", headers={**auth, "Upload-Length": str(size)})
r = conn.getresponse()
r.read()
if r.status != 201:
    sys.exit(f"create: HTTP {r.status}")
location = urlsplit(r.getheader("Location")).path
offset = 0
with open(path, "rb") as f:
    while offset < size:
        n = min(chunk, size - offset)
        conn.putrequest("PATCH", location)
        for k, v in {**auth, "Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset),
                     "Content-Length": str(n)}.items():
            conn.putheader(k, v)
        conn.endheaders()
        left = n
        while left:
            buf = f.read(min(left, 1 << 20))
            conn.send(buf)
            left -= len(buf)
        r = conn.getresponse()
        r.read()
        if r.status != 204:
            sys.exit(f"PATCH at {offset}: HTTP {r.status}")
        offset = int(r.getheader("Upload-Offset"))
print(location)
