#!/usr/bin/env python3
"""Probes of the preflight scripts that need more than a shell (standard library only,
so it runs on a bare Debian host). Each subcommand prints one line: the reason on
failure (exit 1), a short detail on success (exit 0).

  ports                          stdin: `docker compose config --format json`; prints
                                 "<service> <host_ip> <port>" per published port; exit 1
                                 (naming it) if one is published on every interface or
                                 on a public address
  bind IP PORT                   the port can be bound on IP (nothing listens there)
  http METHOD URL [BODY]         status code of the request; bearer token from the
                                 OPS_TOKEN environment variable (never in argv)
  writable DIR UID GID           DIR is writable by UID:GID (mode bits and ownership,
                                 for hosts where we cannot switch user)
"""
import ipaddress
import json
import os
import socket
import stat
import sys
import urllib.error
import urllib.request


def ports():
    try:
        cfg = json.load(sys.stdin)
    except ValueError as e:
        print(f"compose config is not JSON ({e.__class__.__name__})")
        return 1
    bad, out = [], []
    for name, svc in sorted((cfg.get("services") or {}).items()):
        for p in svc.get("ports") or []:
            if isinstance(p, str):  # short syntax [ip:]published:target[/proto]
                parts = p.split("/")[0].rsplit(":", 2)
                ip, published = (parts[0], parts[1]) if len(parts) == 3 else ("", parts[0] if len(parts) == 2 else "")
            else:
                ip, published = p.get("host_ip") or "", str(p.get("published") or "")
            if not published:
                bad.append(f"{name} publishes container port {p} on a random host port")
                continue
            try:
                addr = ipaddress.ip_address(ip.strip("[]")) if ip else None
            except ValueError:
                bad.append(f"{name} port {published} has host address '{ip}'")
                continue
            if addr is None or addr.is_unspecified:
                bad.append(f"{name} port {published} is published on every interface (set a private address)")
            elif not (addr.is_loopback or addr.is_private):
                bad.append(f"{name} port {published} is published on public address {addr}")
            else:
                out.append(f"{name} {addr} {published}")
    if bad:
        print("; ".join(bad))
        return 1
    print("\n".join(out))
    return 0


def bind(ip, port):
    fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.bind((ip, int(port)))
    except OSError as e:
        print(f"cannot bind {ip}:{port}: {e.strerror}")
        return 1
    finally:
        s.close()
    print(f"{ip}:{port} free")
    return 0


def http(method, url, body=None):
    req = urllib.request.Request(url, method=method, data=body.encode() if body is not None else None)
    token = os.environ.get("OPS_TOKEN")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            print(r.status)
            return 0
    except urllib.error.HTTPError as e:
        print(e.code)
        return 0
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        print(f"unreachable ({reason})")
        return 1


def writable(d, uid, gid):
    uid, gid = int(uid), int(gid)
    try:
        st = os.stat(d)
    except OSError as e:
        print(f"{d}: {e.strerror}")
        return 1
    if not stat.S_ISDIR(st.st_mode):
        print(f"{d} is not a directory")
        return 1
    m = st.st_mode
    if st.st_uid == uid:
        ok = m & stat.S_IWUSR and m & stat.S_IXUSR
    elif st.st_gid == gid:
        ok = m & stat.S_IWGRP and m & stat.S_IXGRP
    else:
        ok = m & stat.S_IWOTH and m & stat.S_IXOTH
    if not ok:
        print(f"{d} (owner {st.st_uid}:{st.st_gid}, mode {stat.S_IMODE(m):o}) is not writable by {uid}:{gid}")
        return 1
    print(f"{d} writable by {uid}:{gid}")
    return 0


def main(argv):
    if argv[:1] == ["ports"]:
        return ports()
    if argv[:1] == ["bind"] and len(argv) == 3:
        return bind(argv[1], argv[2])
    if argv[:1] == ["http"] and len(argv) in (3, 4):
        return http(*argv[1:])
    if argv[:1] == ["writable"] and len(argv) == 4:
        return writable(*argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
