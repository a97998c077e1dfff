#!/usr/bin/python3
"""First-host verification after a deploy (scripts/verify-first-host-deploy.sh).

Reads the API's and an edge's env files the way the processes read them and checks,
printing one line per check as it runs (`ok CHECK: detail` / `FAIL CHECK: reason`):
  api readyz, edge readyz (private base), edge registered (fresh heartbeat), public
  deny surface, player bootstrap, warmed HIT playback (per edge), playback analytics,
  telemetry loss (dropped/rejected counters), telemetry spool (back to 0), and with
  --run-readiness-gate `rend readiness --target configured --skip-local-stack`.
Exit 0 only when every check is ok; 1 when one failed; 2 on bad usage.

Only Debian's python3 standard library; psql is used for --database-url.
Nothing it prints carries a token, key, password or cookie: every line goes through
redact(), which knows every secret this run read.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

COOKIE_NAME = "rend_playback"  # src/playback/credential.h kCookieName
# Traversal attempts on the public edge: raw and percent-encoded dot segments and
# separators. The edge must refuse each (4xx) and never answer with a file.
TRAVERSAL_TAILS = [
    "../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e/%2e%2e/etc/passwd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%5c..%5cetc%5cpasswd",
    "%252e%252e%252f%252e%252e%252fetc%252fpasswd",
]

SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "KEY")


# --- output --------------------------------------------------------------------------

class Reporter:
    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.failed = 0
        self.passed = 0

    def secret(self, value: Optional[str]) -> None:
        # Short values (e.g. "default", "local") would redact ordinary words.
        if value and len(value) >= 6:
            self.secrets.add(value)

    def redact(self, text: str) -> str:
        for s in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(s, "<redacted>")
        text = re.sub(r"(?i)(token|key|password|secret|signature)=[^&\s;\"']+", r"\1=<redacted>", text)
        text = re.sub(r"(?i)(bearer)\s+[A-Za-z0-9._~+/=-]+", r"\1 <redacted>", text)
        text = re.sub(r"(?i)(rend_playback=)[^;\s\"']+", r"\1<redacted>", text)
        text = re.sub(r"(://[^/@\s:]*:)[^/@\s]+@", r"\1<redacted>@", text)  # URL userinfo passwords
        return text

    def line(self, ok: bool, check: str, detail: str) -> bool:
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(self.redact(f"{'ok' if ok else 'FAIL'} {check}: {detail}"), flush=True)
        return ok

    def note(self, text: str) -> None:
        print(self.redact(f"-- {text}"), flush=True)


R = Reporter()


# --- env files -----------------------------------------------------------------------

def read_env_file(path: str) -> dict:
    """KEY=value lines (optionally `export KEY=value`, optionally quoted); # comments."""
    out: dict = {}
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as e:
        raise SystemExit(f"verify-first-host-deploy: cannot read env file {path}: {e.strerror}")
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise SystemExit(f"verify-first-host-deploy: {path}:{n}: not a KEY=value line")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key] = value
    for k, v in out.items():
        if any(w in k for w in SECRET_WORDS):
            R.secret(v)
    return out


# --- HTTP ----------------------------------------------------------------------------

@dataclass
class Resp:
    status: int
    headers: dict  # lower-case name -> value (Set-Cookie: every value joined by "\n")
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body.decode("utf-8"))


class HttpError(Exception):
    pass


def request(method: str, url: str, headers: Optional[dict] = None, body: Optional[bytes] = None,
            raw_path: Optional[str] = None, timeout: float = 10.0) -> Resp:
    """One request, no redirects followed, `raw_path` sent byte for byte (no normalizing)."""
    u = urlsplit(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise HttpError(f"not an http(s) URL: {url}")
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    path = raw_path if raw_path is not None else (u.path or "/") + (f"?{u.query}" if u.query else "")
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        hdrs: dict = {}
        for k, v in r.getheaders():
            k = k.lower()
            hdrs[k] = hdrs[k] + "\n" + v if k in hdrs else v
        return Resp(r.status, hdrs, data)
    except (OSError, http.client.HTTPException) as e:
        raise HttpError(f"{method} {u.scheme}://{u.netloc}{urlsplit(path).path or '/'}: {e.__class__.__name__}: {e}")
    finally:
        conn.close()


def join(base: str, path: str) -> str:
    return base.rstrip("/") + path


def origin_key(url: str) -> tuple:
    u = urlsplit(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    return (u.scheme, (u.hostname or "").lower(), port, u.path.rstrip("/"))


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def short(r: Resp) -> str:
    """Status and the start of an error body, for a FAIL line (redacted on print)."""
    t = r.text().strip().replace("\n", " ")
    return f"{r.status}" + (f" {t[:160]}" if t and r.status >= 300 else "")


# --- metrics -------------------------------------------------------------------------

def metric_values(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split()
        if len(parts) >= 2 and "{" not in parts[0]:
            try:
                out[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return out


TELEMETRY_LOSS = ("rend_edge_telemetry_dropped_total", "rend_edge_telemetry_rejected_total")
SPOOL_BYTES = "rend_edge_telemetry_spool_bytes"
# Variables the API and every edge must agree on (src/core settings, src/telemetry).
SHARED_SECRETS = ("REND_PLAYBACK_SIGNING_KEY_ID", "REND_PLAYBACK_SIGNING_SECRET", "REND_EDGE_INTERNAL_TOKEN",
                  "REND_INTERNAL_TELEMETRY_TOKEN")


# --- the run -------------------------------------------------------------------------

@dataclass
class Edge:
    public: str
    internal: str
    label: str = ""
    edge_id: str = ""
    region: str = ""
    up: bool = True
    metrics_before: dict = field(default_factory=dict)
    served: int = 0  # 200 GETs with a body this run made on it (each one a playback event)


class Verifier:
    def __init__(self, a: argparse.Namespace):
        self.a = a
        self.api = a.api_base.rstrip("/")
        self.api_env = read_env_file(a.api_env)
        self.edge_env = read_env_file(a.edge_env)
        self.api_key = os.environ.get("REND_READINESS_API_KEY", "")
        R.secret(self.api_key)
        self.edge_token = self.edge_env.get("REND_EDGE_INTERNAL_TOKEN", "")
        self.api_internal_token = self.api_env.get("REND_EDGE_INTERNAL_TOKEN", "")
        for s in (a.clickhouse_password, a.database_url):
            R.secret(s)
        if a.database_url:
            pw = urlsplit(a.database_url).password
            R.secret(pw)
            R.secret(unquote(pw or ""))
        internals = a.edge_internal_base or []
        if internals and len(internals) != len(a.edge_base):
            raise SystemExit("verify-first-host-deploy: give one --edge-internal-base per --edge-base (or none)")
        self.edges = [Edge(public=p.rstrip("/"), internal=(internals[i] if internals else p).rstrip("/"))
                      for i, p in enumerate(a.edge_base)]
        for e in self.edges:
            e.label = urlsplit(e.internal).netloc
        self.rows: list = []
        self.registry_error = ""
        self.expected: list = []
        self.expected_errors: list = []
        self.asset_id = a.asset_id or ""
        self.uploaded = False
        self.cookie = ""
        self.bootstrap_base = ""
        self.clickhouse = self._clickhouse_settings()

    # --- analytics source ---------------------------------------------------------
    def _clickhouse_settings(self) -> Optional[dict]:
        a = self.a
        if a.clickhouse_url:
            return {"url": a.clickhouse_url, "database": a.clickhouse_database or "rend",
                    "user": a.clickhouse_user or "default", "password": a.clickhouse_password or ""}
        if self.api_key:
            return None  # the API's analytics route
        if self.api_env.get("CLICKHOUSE_URL"):
            return {"url": self.api_env["CLICKHOUSE_URL"], "database": self.api_env.get("CLICKHOUSE_DATABASE", "rend"),
                    "user": self.api_env.get("CLICKHOUSE_USER", "default"),
                    "password": self.api_env.get("CLICKHOUSE_PASSWORD", "")}
        return None

    def analytics_source(self) -> str:
        if self.clickhouse:
            return "ClickHouse " + urlsplit(self.clickhouse["url"]).netloc
        return "API /v1/analytics" if self.api_key else ""

    def requests_by_edge(self) -> dict:
        """Playback events of the asset, by edge id ("*" = all edges when the API is the source)."""
        if self.clickhouse:
            ch = self.clickhouse
            db = ch["database"]
            if not re.fullmatch(r"ast_[A-Za-z0-9]+", self.asset_id):
                raise HttpError(f"unexpected asset id {self.asset_id!r}")
            if not re.fullmatch(r"[A-Za-z0-9_]+", db):
                raise HttpError("the ClickHouse database name must be [A-Za-z0-9_]")
            q = (f"SELECT edge_id, count() FROM (SELECT event_id, any(edge_id) AS edge_id FROM {db}.playback_events "
                 f"WHERE asset_id = '{self.asset_id}' GROUP BY event_id) GROUP BY edge_id FORMAT TabSeparated")
            headers = {"X-ClickHouse-User": ch["user"]}
            if ch["password"]:
                headers["X-ClickHouse-Key"] = ch["password"]
            r = request("POST", ch["url"].rstrip("/") + "/", headers=headers, body=q.encode())
            if r.status != 200:
                raise HttpError(f"ClickHouse answered {short(r)}")
            out = {}
            for line in r.text().splitlines():
                if "\t" in line:
                    k, v = line.split("\t", 1)
                    out[k] = int(v)
            return out
        r = request("GET", f"{self.api}/v1/analytics/assets/{self.asset_id}?from=0", headers=bearer(self.api_key))
        if r.status != 200:
            raise HttpError(f"GET /v1/analytics/assets/{self.asset_id} answered {short(r)}")
        return {"*": int(r.json().get("requests", 0))}

    # --- checks -------------------------------------------------------------------
    def check_api_readyz(self) -> None:
        try:
            r = request("GET", self.api + "/readyz")
            R.line(r.status == 200, "api readyz", f"{self.api}/readyz answered {short(r)}")
        except HttpError as e:
            R.line(False, "api readyz", str(e))

    def check_shared_secrets(self) -> None:
        """The API and its edges must hold the same shared secrets: the edge verifies
        the API's playback tokens, the API calls /internal/* with the internal token,
        and the edge sends telemetry with the telemetry token. Compared here, never
        printed: a mismatch names the variable only."""
        problems, same = [], []
        for var in SHARED_SECRETS:
            a, e = self.api_env.get(var), self.edge_env.get(var)
            if not e:
                problems.append(f"{var} is not set in --edge-env")
            elif not a:
                problems.append(f"{var} is not set in --api-env")
            elif a != e:
                problems.append(f"{var} differs between --api-env and --edge-env")
            else:
                same.append(var)
        R.line(not problems, "shared secrets", "; ".join(problems) if problems else "the same in both env files: " +
               ", ".join(same))

    def check_edge_readyz(self, e: Edge) -> None:
        try:
            r = request("GET", e.internal + "/readyz")
            e.up = r.status == 200
            R.line(e.up, f"edge readyz {e.label}", f"{e.internal}/readyz answered {short(r)}")
        except HttpError as ex:
            e.up = False
            R.line(False, f"edge readyz {e.label}", f"unreachable: {ex}")

    def registry(self) -> list:
        """[{edge_id, region, base_url, age_s}] from Postgres (--database-url) or the API."""
        now_ms = time.time() * 1000
        if self.a.database_url:
            if not shutil.which("psql"):
                raise HttpError("psql not found (apt-get install postgresql-client)")
            # For psql only: libpq older than 16 does not know sslrootcert=system (the
            # service's DATABASE_URL is not rewritten).
            # The password goes to psql through PGPASSWORD, not its command line (ps).
            u = urlsplit(self.a.database_url)
            q = [(k, v) for k, v in parse_qsl(u.query) if not (k == "sslrootcert" and v == "system")]
            netloc = (u.hostname or "") if ":" not in (u.hostname or "") else f"[{u.hostname}]"
            netloc = (f"{u.username}@" if u.username else "") + netloc + (f":{u.port}" if u.port else "")
            url = urlunsplit((u.scheme, netloc, u.path, urlencode(q), ""))
            env = {**os.environ}
            if u.password:
                env["PGPASSWORD"] = unquote(u.password)
            sql = "SELECT edge_id, region, base_url, last_heartbeat_at FROM rend.edge_nodes ORDER BY edge_id"
            p = subprocess.run(["psql", "-X", "-q", "-tA", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                               env=env, capture_output=True, text=True, timeout=30)
            if p.returncode != 0:
                raise HttpError(f"psql failed: {p.stderr.strip()[-300:]}")
            rows = []
            for line in p.stdout.splitlines():
                parts = line.split("\t")
                if len(parts) == 4:
                    rows.append({"edge_id": parts[0], "region": parts[1], "base_url": parts[2],
                                 "age_s": (now_ms - int(parts[3])) / 1000})
            return rows
        if not self.api_internal_token:
            raise HttpError(f"REND_EDGE_INTERNAL_TOKEN is not set in {self.a.api_env} (needed for GET /internal/edges)")
        r = request("GET", self.api + "/internal/edges", headers=bearer(self.api_internal_token))
        if r.status != 200:
            raise HttpError(f"GET /internal/edges answered {short(r)}")
        rows = []
        for x in r.json().get("data", []):
            ts = x.get("last_heartbeat_at", "")
            try:
                from datetime import datetime
                hb = datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000
            except ValueError:
                hb = 0
            rows.append({"edge_id": x.get("edge_id", ""), "region": x.get("region", ""),
                         "base_url": x.get("base_url", ""), "age_s": (now_ms - hb) / 1000})
        return rows

    def name_edges(self) -> None:
        """Reads the registry once, and names each given edge by the record (or the
        REND_EXPECTED_EDGES entry) of its private base, so that every line, the
        readyz of a stopped edge included, says which edge it is about."""
        try:
            self.rows = self.registry()
        except (HttpError, subprocess.TimeoutExpired, ValueError) as ex:
            self.rows, self.registry_error = [], str(ex)
        by_url = {origin_key(x["base_url"]): x for x in self.rows}
        for e in self.edges:
            x = by_url.get(origin_key(e.internal))
            if x:
                e.edge_id, e.region, e.label = x["edge_id"], x["region"], x["edge_id"]
        self.expected, self.expected_errors = [], []
        spec = self.api_env.get("REND_EXPECTED_EDGES", "").strip()
        for entry in [s.strip() for s in spec.split(",") if s.strip()]:
            parts = entry.split("=", 2)
            if len(parts) != 3:
                self.expected_errors.append(f"REND_EXPECTED_EDGES entry '{entry}' is not edge_id=region=base_url")
                continue
            self.expected.append({"edge_id": parts[0], "region": parts[1], "base_url": parts[2]})
            for e in self.edges:
                if not e.edge_id and origin_key(e.internal) == origin_key(parts[2]):
                    e.edge_id, e.region, e.label = parts[0], parts[1], parts[0]

    def check_registry(self) -> None:
        window = float(self.a.heartbeat_max_age or self.api_env.get("REND_EDGE_ACTIVE_HEARTBEAT_WINDOW_SECS") or 60)
        if self.registry_error:
            R.line(False, "edge registry", self.registry_error)
            return
        for err in self.expected_errors:
            R.line(False, "edge registry", err)
        rows = self.rows
        by_url = {origin_key(x["base_url"]): x for x in rows}
        by_id = {x["edge_id"]: x for x in rows}
        expected = self.expected or [{"edge_id": e.edge_id, "region": e.region, "base_url": e.internal}
                                     for e in self.edges]
        for want in expected:
            name = want["edge_id"] or urlsplit(want["base_url"]).netloc
            check = f"edge registered {name}"
            x = by_id.get(want["edge_id"]) if want["edge_id"] else by_url.get(origin_key(want["base_url"]))
            if x is None:
                R.line(False, check, f"no registration with base_url {want['base_url']}" if not want["edge_id"]
                       else "not in the edge registry")
                continue
            if origin_key(x["base_url"]) != origin_key(want["base_url"]):
                R.line(False, check, f"registered with base_url {x['base_url']}, expected {want['base_url']}")
            elif want["region"] and x["region"] != want["region"]:
                R.line(False, check, f"registered in region {x['region']}, expected {want['region']}")
            elif x["age_s"] > window:
                R.line(False, check, f"last heartbeat {x['age_s']:.0f} s ago (more than {window:.0f} s)")
            else:
                R.line(True, check, f"region {x['region']}, last heartbeat {max(x['age_s'], 0):.1f} s ago")

    # --- asset --------------------------------------------------------------------
    def upload_synthetic(self) -> bool:
        check = "synthetic asset"
        if not self.api_key:
            return R.line(False, check, "no --asset-id and no REND_READINESS_API_KEY (scopes upload, read, delete, "
                          "analytics) to upload a generated clip with")
        if not shutil.which("ffmpeg"):
            return R.line(False, check, "no --asset-id and ffmpeg not found to generate a clip")
        with tempfile.TemporaryDirectory(prefix="rend-verify-") as tmp:
            clip = os.path.join(tmp, "verify.mp4")
            p = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                                "-f", "lavfi", "-i", "testsrc2=s=320x180:r=15:d=2", "-f", "lavfi", "-i",
                                "sine=f=440:d=2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                                "-g", "30", "-c:a", "aac", "-b:a", "32k", "-shortest", "-movflags", "+faststart", clip],
                               capture_output=True, text=True, timeout=60)
            if p.returncode != 0:
                return R.line(False, check, f"ffmpeg failed: {p.stderr.strip()[-300:]}")
            data = open(clip, "rb").read()
        try:
            r = request("POST", self.api + "/v1/uploads", headers={**bearer(self.api_key),
                        "Content-Type": "application/json"},
                        body=json.dumps({"visibility": "public", "size_bytes": len(data)}).encode())
            if r.status != 201:
                return R.line(False, check, f"POST /v1/uploads answered {short(r)}")
            up = r.json()
            self.asset_id, self.uploaded = up["asset_id"], True
            r = request("PUT", up["upload_url"], headers={**bearer(self.api_key),
                        "Content-Type": "application/octet-stream"}, body=data, timeout=60)
            if r.status != 200:
                return R.line(False, check, f"PUT upload answered {short(r)}")
            t0, deadline = time.monotonic(), time.monotonic() + self.a.asset_timeout
            status = ""
            while time.monotonic() < deadline:
                r = request("GET", f"{self.api}/v1/assets/{self.asset_id}", headers=bearer(self.api_key))
                status = r.json().get("status", "") if r.status == 200 else f"HTTP {r.status}"
                if status == "hls_ready":
                    return R.line(True, check, f"uploaded {self.asset_id} ({len(data)} bytes), hls_ready after "
                                  f"{time.monotonic() - t0:.1f} s")
                if status in ("failed", "deleted"):
                    break
                time.sleep(0.3)
            return R.line(False, check, f"{self.asset_id} is '{status}', not hls_ready, after "
                          f"{time.monotonic() - t0:.0f} s")
        except (HttpError, ValueError, KeyError) as ex:
            return R.line(False, check, str(ex))

    def check_bootstrap(self) -> bool:
        check = "player bootstrap"
        try:
            r = request("GET", f"{self.api}/api/player/{self.asset_id}",
                        headers=bearer(self.api_key) if self.api_key else {})
        except HttpError as ex:
            return R.line(False, check, str(ex))
        if r.status != 200:
            return R.line(False, check, f"GET /api/player/{self.asset_id} answered {short(r)}")
        try:
            j = r.json()
        except ValueError:
            return R.line(False, check, "the answer is not JSON")
        master = ((j.get("urls") or {}).get("master")) or ""
        if not j.get("playable") or not master:
            return R.line(False, check, f"asset {self.asset_id} is '{j.get('status')}', not playable")
        if "token=" in master or urlsplit(master).query:
            return R.line(False, check, "the playback URL carries a query (token in URL); expected a tokenless URL")
        cookies = [c for c in r.headers.get("set-cookie", "").split("\n") if c.startswith(COOKIE_NAME + "=")]
        if not cookies:
            return R.line(False, check, f"no {COOKIE_NAME} cookie set")
        attrs = [a.strip() for a in cookies[0].split(";")]
        self.cookie = attrs[0].split("=", 1)[1]
        R.secret(self.cookie)
        want_path = f"Path=/v/{self.asset_id}/"
        if want_path not in attrs or "HttpOnly" not in attrs:
            return R.line(False, check, f"the playback cookie is not HttpOnly with {want_path}")
        self.bootstrap_base = master[: master.find(f"/v/{self.asset_id}/")]
        return R.line(True, check, f"tokenless playback URL on {urlsplit(master).netloc}, HttpOnly cookie "
                      f"scoped to /v/{self.asset_id}/")

    # --- public surface -----------------------------------------------------------
    def check_deny_surface(self, e: Edge) -> None:
        check = f"public deny surface {e.label}"
        problems, seen = [], []
        same_listener = origin_key(e.public) == origin_key(e.internal)
        try:
            for path in ("/internal/warm", "/internal/purge"):
                r = request("POST", e.public + path, headers={"Content-Type": "application/json"},
                            body=json.dumps({"asset_id": self.asset_id or "ast_00000000000000000000000000"}).encode())
                seen.append(f"{path} {r.status}")
                if r.status not in (401, 403, 404, 405):
                    problems.append(f"POST {path} without the internal token answered {r.status}")
            r = request("GET", e.public + "/metrics")
            seen.append(f"/metrics {r.status}")
            if r.status == 200 or b"rend_edge_" in r.body:
                if not same_listener:
                    problems.append("GET /metrics is served on the public base")
                elif self.edge_env.get("REND_ENV") == "production":
                    problems.append("GET /metrics is served on the public base (production edges serve it only on "
                                    "REND_EDGE_INTERNAL_BIND_ADDR; pass the private base as --edge-internal-base)")
                else:
                    seen[-1] += " (one listener: REND_EDGE_INTERNAL_BIND_ADDR unset, local topology)"
            if self.asset_id:
                base = f"/v/{self.asset_id}/"
                r = request("GET", e.public + base + "master.m3u8")
                seen.append(f"no credential {r.status}")
                if r.status not in (401, 403):
                    problems.append(f"GET {base}master.m3u8 without a credential answered {r.status}")
                statuses = []
                cookie = {"Cookie": f"{COOKIE_NAME}={self.cookie}"} if self.cookie else {}
                for tail in TRAVERSAL_TAILS:
                    r = request("GET", e.public + base, headers=cookie, raw_path=base + tail)
                    statuses.append(r.status)
                    if not 400 <= r.status < 500 or b"root:" in r.body:
                        problems.append(f"traversal {base}{tail} answered {r.status}")
                seen.append(f"{len(TRAVERSAL_TAILS)} traversal paths {sorted(set(statuses))}")
        except HttpError as ex:
            problems.append(str(ex))
        R.line(not problems, check, "; ".join(problems) if problems else ", ".join(seen))

    # --- playback -----------------------------------------------------------------
    def metrics(self, e: Edge) -> dict:
        r = request("GET", e.internal + "/metrics")
        if r.status != 200:
            raise HttpError(f"GET {e.internal}/metrics answered {r.status}")
        return metric_values(r.text())

    def check_playback(self, e: Edge) -> None:
        check = f"warmed HIT playback {e.label}"
        if not self.cookie:
            R.line(False, check, "no playback credential (player bootstrap failed)")
            return
        if self.a.rewrite_playback_base:
            base = e.public
        elif origin_key(self.bootstrap_base) == origin_key(e.public):
            base = self.bootstrap_base
        else:
            R.line(False, check, f"the bootstrap's playback base is {urlsplit(self.bootstrap_base).netloc}, not this "
                   "edge (pass --rewrite-playback-base to play from every --edge-base)")
            return
        try:
            r = request("POST", e.internal + "/internal/warm", headers={**bearer(self.edge_token),
                        "Content-Type": "application/json"}, body=json.dumps({"asset_id": self.asset_id}).encode(),
                        timeout=60)
            if r.status != 200:
                hint = " (the edge refused REND_EDGE_INTERNAL_TOKEN from --edge-env)" if r.status == 401 else ""
                R.line(False, check, f"POST /internal/warm answered {short(r)}{hint}")
                return
            cookie = {"Cookie": f"{COOKIE_NAME}={self.cookie}"}
            prefix = f"{base}/v/{self.asset_id}/"
            got = []

            # Playlists live REND_EDGE_PLAYLIST_TTL_SECS in the edge's cache (2 s by
            # default) and warm does not refresh one already cached, so only the
            # segment must be a HIT; the playlists must be served (either way).
            def get(rel: str, kinds: tuple, need_hit: bool) -> Resp:
                r = request("GET", prefix + rel, headers=cookie, timeout=30)
                ctype = r.headers.get("content-type", "")
                cache = r.headers.get("x-rend-cache", "")
                if r.status == 200 and r.body:
                    e.served += 1
                got.append(f"{rel} {r.status} {cache or '-'}")
                if r.status != 200:
                    raise HttpError(f"GET {rel} answered {short(r)}")
                if not any(k in ctype for k in kinds):
                    raise HttpError(f"GET {rel}: content-type '{ctype}'")
                if need_hit and cache != "HIT":
                    raise HttpError(f"GET {rel}: x-rend-cache '{cache or 'absent'}' after warm, expected HIT")
                edge_id = r.headers.get("x-rend-edge-id", "")
                if e.edge_id and edge_id != e.edge_id:
                    raise HttpError(f"GET {rel}: x-rend-edge-id '{edge_id}', expected '{e.edge_id}'")
                return r

            m = get("master.m3u8", ("mpegurl",), False)
            variant = next((ln for ln in m.text().splitlines() if ln and not ln.startswith("#")), "")
            if not variant or ".." in variant or variant.startswith("/") or "://" in variant:
                raise HttpError(f"master playlist names no relative variant ({variant[:80]!r})")
            v = get(variant, ("mpegurl",), False)
            seg = next((ln for ln in v.text().splitlines() if ln and not ln.startswith("#")), "")
            if not seg:
                raise HttpError(f"{variant} names no segment")
            seg_rel = variant.rsplit("/", 1)[0] + "/" + seg if "/" in variant else seg
            get(seg_rel, ("video/", "mp2t", "mp4", "octet-stream"), True)
            R.line(True, check, ", ".join(got) + f" (from {urlsplit(base).netloc})")
        except HttpError as ex:
            R.line(False, check, str(ex))

    # --- telemetry ----------------------------------------------------------------
    def check_analytics(self, before: dict) -> None:
        check = "playback analytics"
        source = self.analytics_source()
        want = sum(e.served for e in self.edges)
        if not source:
            R.line(False, check, "no analytics source: set REND_READINESS_API_KEY (analytics scope) or "
                   "--clickhouse-url, or CLICKHOUSE_URL in --api-env")
            return
        if want == 0:
            R.line(False, check, "no playback request was served, nothing to look for")
            return
        t0 = time.monotonic()
        deadline = t0 + self.a.telemetry_timeout
        per_edge = bool(self.clickhouse)
        last: dict = {}
        while True:
            try:
                last = self.requests_by_edge()
            except (HttpError, ValueError) as ex:
                last = {"error": str(ex)}
            if "error" not in last:
                if per_edge:
                    short_of = [e for e in self.edges if e.served and
                                last.get(e.edge_id, 0) - before.get(e.edge_id, 0) < e.served]
                    if not short_of:
                        R.line(True, check, f"+{want} playback events of {self.asset_id} on every edge after "
                               f"{time.monotonic() - t0:.1f} s ({source})")
                        return
                elif last.get("*", 0) - before.get("*", 0) >= want:
                    R.line(True, check, f"+{last['*'] - before.get('*', 0)} requests for {self.asset_id} (this run "
                           f"served {want}) after {time.monotonic() - t0:.1f} s ({source})")
                    return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        if "error" in last:
            R.line(False, check, f"{source}: {last['error']}")
        elif per_edge:
            missing = ", ".join(f"{e.label} +{last.get(e.edge_id, 0) - before.get(e.edge_id, 0)} of {e.served}"
                                for e in self.edges if e.served)
            R.line(False, check, f"this run's playback did not reach analytics within {self.a.telemetry_timeout:g} s: "
                   f"{missing} ({source})")
        else:
            R.line(False, check, f"requests for {self.asset_id} +{last.get('*', 0) - before.get('*', 0)}, this run "
                   f"served {want}, within {self.a.telemetry_timeout:g} s ({source})")

    def check_telemetry_loss(self, e: Edge) -> None:
        check = f"telemetry loss {e.label}"
        if not e.metrics_before:
            R.line(False, check, "no /metrics baseline from the private base")
            return
        try:
            now = self.metrics(e)
        except HttpError as ex:
            R.line(False, check, str(ex))
            return
        deltas = {k: now.get(k, 0) - e.metrics_before.get(k, 0) for k in TELEMETRY_LOSS}
        text = ", ".join(f"{k.replace('rend_edge_telemetry_', '')} +{v:g}" for k, v in deltas.items())
        R.line(all(v == 0 for v in deltas.values()), check, text)

    def check_spool(self, e: Edge) -> None:
        check = f"telemetry spool {e.label}"
        deadline = time.monotonic() + self.a.telemetry_timeout
        value: Optional[float] = None
        err = ""
        while True:
            try:
                value = self.metrics(e).get(SPOOL_BYTES)
                err = "" if value is not None else f"{SPOOL_BYTES} missing from /metrics"
            except HttpError as ex:
                err = str(ex)
            if value == 0 and not err:
                R.line(True, check, f"{SPOOL_BYTES} 0")
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        R.line(False, check, err or f"{SPOOL_BYTES} {value:g} after {self.a.telemetry_timeout:g} s (expected 0)")

    # --- cleanup and gate ---------------------------------------------------------
    def cleanup(self) -> None:
        if not self.uploaded:
            return
        try:
            r = request("DELETE", f"{self.api}/v1/assets/{self.asset_id}", headers=bearer(self.api_key))
            R.line(r.status in (200, 204), "synthetic asset deleted", f"DELETE /v1/assets/{self.asset_id} answered "
                   f"{short(r)}")
        except HttpError as ex:
            R.line(False, "synthetic asset deleted", str(ex))

    def readiness_gate(self) -> None:
        check = "readiness gate"
        rend = os.environ.get("REND_BIN") or shutil.which("rend") or ""
        if not rend or not os.access(rend, os.X_OK):
            R.line(False, check, "rend readiness not available (no rend binary: set REND_BIN or put rend on PATH)")
            return
        edges = []
        for i, e in enumerate(self.edges, 1):
            edges.append(f"{e.edge_id or f'edge-{i}'}={e.region or 'unknown'}={e.public}" +
                         (f"={e.internal}" if e.internal != e.public else ""))
        env = {**os.environ, "REND_API_BASE_URL": self.api, "REND_READINESS_API_KEY": self.api_key,
               "REND_EDGE_INTERNAL_TOKEN": self.edge_token, "REND_READINESS_EDGES": ",".join(edges)}
        R.note(f"running {os.path.basename(rend)} readiness --target configured --skip-local-stack")
        p = subprocess.Popen([rend, "readiness", "--target", "configured", "--skip-local-stack"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = []
        for line in p.stdout:
            out.append(line)
            print(R.redact("   " + line.rstrip("\n")), flush=True)
        rc = p.wait()
        text = "".join(out)
        if rc == 2 and "unknown command 'readiness'" in text:
            R.line(False, check, "rend readiness not available")
        else:
            R.line(rc == 0, check, f"rend readiness exited {rc}")

    # --- the order ----------------------------------------------------------------
    def run(self) -> int:
        R.note(f"verifying {self.api} with {len(self.edges)} edge(s)")
        self.check_shared_secrets()
        self.check_api_readyz()
        self.name_edges()
        for e in self.edges:
            self.check_edge_readyz(e)
        self.check_registry()
        have_asset = bool(self.asset_id) or self.upload_synthetic()
        if have_asset and self.asset_id:
            have_asset = self.check_bootstrap()
        for e in self.edges:
            self.check_deny_surface(e)
        before_analytics: dict = {}
        for e in self.edges:
            try:
                e.metrics_before = self.metrics(e)
            except HttpError as ex:
                R.note(f"no /metrics baseline for {e.label}: {ex}")
        if self.asset_id and self.analytics_source():
            try:
                before_analytics = self.requests_by_edge()
            except (HttpError, ValueError) as ex:
                R.note(f"no analytics baseline: {ex}")
        for e in self.edges:
            self.check_playback(e)
        self.check_analytics(before_analytics)
        for e in self.edges:
            self.check_telemetry_loss(e)
        for e in self.edges:
            self.check_spool(e)
        self.cleanup()
        if self.a.run_readiness_gate:
            self.readiness_gate()
        verdict = "all checks ok" if R.failed == 0 else f"{R.failed} check(s) failed"
        print(f"verify-first-host-deploy: {verdict} ({R.passed} ok)", flush=True)
        return 0 if R.failed == 0 else 1


def main(argv: list) -> int:
    p = argparse.ArgumentParser(prog="verify-first-host-deploy.sh", description=__doc__.split("\n\n")[0],
                                allow_abbrev=False)
    p.add_argument("--api-base", required=True)
    p.add_argument("--edge-base", action="append", required=True, help="public playback base (repeat per edge)")
    p.add_argument("--edge-internal-base", action="append", help="private base of the same edge, in --edge-base order")
    p.add_argument("--api-env", required=True, help="the API's env file (KEY=value)")
    p.add_argument("--edge-env", required=True, help="an edge's env file (its REND_EDGE_INTERNAL_TOKEN)")
    p.add_argument("--asset-id", help="an hls_ready asset; without it a generated clip is uploaded and deleted")
    p.add_argument("--rewrite-playback-base", action="store_true",
                   help="play from each --edge-base instead of the edge the bootstrap picked")
    p.add_argument("--database-url", help="read edge registrations from Postgres (psql) instead of the API")
    p.add_argument("--clickhouse-url")
    p.add_argument("--clickhouse-database")
    p.add_argument("--clickhouse-user")
    p.add_argument("--clickhouse-password")
    p.add_argument("--run-readiness-gate", action="store_true")
    p.add_argument("--telemetry-timeout", type=float, default=30.0,
                   help="seconds for analytics to show this run's playback and for spools to drain (default 30)")
    p.add_argument("--asset-timeout", type=float, default=180.0,
                   help="seconds for an uploaded clip to become hls_ready (default 180)")
    p.add_argument("--heartbeat-max-age", type=float,
                   help="seconds (default REND_EDGE_ACTIVE_HEARTBEAT_WINDOW_SECS of --api-env, else 60)")
    a = p.parse_args(argv)
    if a.asset_id and not re.fullmatch(r"ast_[A-Za-z0-9]{1,64}", a.asset_id):
        p.error("--asset-id must look like ast_…")
    for u in [a.api_base, *a.edge_base, *(a.edge_internal_base or [])]:
        if urlsplit(u).scheme not in ("http", "https") or not urlsplit(u).hostname:
            p.error(f"not an http(s) base URL: {u}")
    if a.telemetry_timeout <= 0 or a.asset_timeout <= 0:
        p.error("timeouts must be positive")
    return Verifier(a).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
