#!/usr/bin/env python3
"""A test double of Autumn's billing API (/work/shared/design/autumn.md), failure modes included.

Two ways to use it:
  * in-process (pytest):  d = AutumnDouble(keys=["am_sk_test_x"]).start(); d.url; d.stop()
  * as a process (the C++ unit tests):  python3 autumn_double.py [--key KEY ...]
    prints "PORT <n>" as its first stdout line once it listens on 127.0.0.1:<n>,
    and serves until killed or until stdin closes.

Autumn's behaviour imitated here:
  * `Authorization: Bearer <key>`: missing → 401 no_secret_key, unknown → 401 invalid_secret_key.
  * `x-api-version`: unknown → 400 invalid_api_version; absent → the organization's default
    (`default_version`, 1.2 here: a v1 shape), which is why a client must send it.
  * POST /v1/check: v1.x flat shape or v2.x shape with a `balance` object; unknown customers
    are created on the fly; a "slow" check answers 202 {allowed: true, balance: null}.
  * POST /v1/track: idempotency_key (body, or the Idempotency-Key header) → 409
    duplicate_idempotency_key within 24 h, the original not replayed; after any other
    4xx/5xx the key is released (so a failed attempt may be retried with the same key).
  * POST /v1/balances.batch_track: a bare JSON array of 1–1000 track bodies, all validated
    first (one bad item → 400, nothing recorded), answered 204. Like the real service it does
    NOT deduplicate by idempotency_key (a retried batch is recorded twice) unless the
    `batch_dedup` switch is on.
  * POST /v1/usage: absolute usage {customer_id, feature_id, value} → {success: true}; its v2
    equivalent POST /v1/balances.update {customer_id, feature_id, usage}.
  * POST /v1/customers (get-or-create), GET /v1/customers/{id} (404 customer_not_found).
  * Errors are {"message", "code", "env"} with env "sandbox" for am_sk_test_ keys, "live" otherwise.

Switches (POST /_double/config, a JSON object; every field optional, merged into the current
config; {"reset": true} first clears config, log, customers, usage and idempotency keys):
  refuse_features: ["feature" | "customer_id/feature"]   check answers allowed: false
  unknown_features: ["feature"]                           404 feature_not_found on check/track/usage
  fail: {"status": 429|503|500|…, "count": N, "retry_after": S, "paths": ["/v1/track", …]}
                                                          the next N matching requests get that answer
  drop: {"count": N, "paths": [...]}                      the next N matching requests: connection
                                                          closed without an answer (request not applied)
  drop_after_apply: {"count": N, "paths": [...]}          applied and recorded, then the connection
                                                          closed without an answer (a lost response)
  delay_ms: N, delay_paths: [...]                         answers wait N ms first
  slow_check: true                                        check answers 202 (Autumn's > 3 s check)
  keys: [...]                                             accepted secret keys
  default_version: "1.2"                                  the version used without x-api-version
  clock_offset_ms: N                                      moves the double's clock (idempotency expiry)
  batch_dedup: true                                       batch items' idempotency keys honoured
  echo_auth_in_errors: true                               error messages quote the Authorization header
                                                          (a reflecting proxy: clients must redact)
GET /_double/log → {"requests": [...], "recorded": [...]}: every request with the status it got
(0 = dropped), and every usage event the double recorded, in order. The Authorization header is
never logged, only whether it was accepted.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000
DEFAULT_KEYS = ("am_sk_test_double",)
# Versions Autumn names (legacy float, semver, "beta"); calendar versions are accepted as v1.
_V1 = {"0.1", "0.2", "1", "1.0", "1.1", "1.2", "1.4", "beta"}
_V2 = {"2", "2.0", "2.1", "2.2", "2.3", "2.4", "2.5"}
_CALVER = re.compile(r"^20\d\d-\d\d-\d\d$")
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.0$")


def shape_of(version: str) -> Optional[int]:
    """1 or 2 (the check response shape) for a version Autumn knows, None otherwise."""
    m = _SEMVER.match(version)
    if m:
        version = f"{m.group(1)}.{m.group(2)}"
    if version in _V1 or _CALVER.match(version):
        return 1
    if version in _V2:
        return 2
    return None


class _State:
    def __init__(self, keys):
        self.lock = threading.Lock()
        self.initial_keys = list(keys)
        self.reset()

    def reset(self):
        self.config = {"keys": list(self.initial_keys), "default_version": "1.2"}
        self.requests = []
        self.recorded = []
        self.customers = {}
        self.usage = {}  # (customer, feature) -> float
        self.idempotency = {}  # key -> (customer, accepted_at_ms)

    def now_ms(self) -> int:
        return int(time.time() * 1000) + int(self.config.get("clock_offset_ms", 0))


class _Answer(Exception):
    def __init__(self, status: int, body=None, headers=None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def _error(status: int, code: str, message: str, env: str, headers=None) -> _Answer:
    return _Answer(status, {"message": message, "code": code, "env": env}, headers)


def _matches(rule: dict, path: str) -> bool:
    paths = rule.get("paths")
    return not paths or path in paths


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "autumn-double"

    def log_message(self, *args):  # quiet: tests read /_double/log instead
        pass

    @property
    def state(self) -> _State:
        return self.server.state  # type: ignore[attr-defined]

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, status: int, body=None, headers=None):
        data = b"" if body is None or status == 204 else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if data or status != 204:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(2)
        except OSError:
            pass

    def _handle(self, method: str):
        raw = self._read_body()
        path = self.path.split("?", 1)[0]
        st = self.state
        if path.startswith("/_double/"):
            return self._admin(method, path, raw)

        entry = {"method": method, "path": path, "x_api_version": self.headers.get("x-api-version"),
                 "idempotency_key_header": self.headers.get("Idempotency-Key"), "auth": None, "status": None,
                 "at_ms": st.now_ms()}
        try:
            entry["body"] = json.loads(raw) if raw else None
        except ValueError:
            entry["body"] = raw.decode("utf-8", "replace")
        with st.lock:
            st.requests.append(entry)
            cfg = st.config
            drop = cfg.get("drop")
            if drop and drop.get("count", 0) > 0 and _matches(drop, path):
                drop["count"] -= 1
                entry["status"] = 0
                dropped = True
            else:
                dropped = False
            delay = cfg.get("delay_ms", 0) if _matches({"paths": cfg.get("delay_paths")}, path) else 0
        if dropped:
            return self._drop()
        if delay:
            time.sleep(delay / 1000.0)

        lose_answer = False
        try:
            with st.lock:
                result = self._route(method, path, entry)
                lost = st.config.get("drop_after_apply")
                if lost and lost.get("count", 0) > 0 and _matches(lost, path):
                    lost["count"] -= 1
                    lose_answer = True
        except _Answer as a:
            result = a
        entry["status"] = 0 if lose_answer else result.status
        if st.config.get("echo_auth_in_errors") and result.status >= 400 and isinstance(result.body, dict):
            # A careless proxy reflecting the request: a client must not pass this on.
            result.body = dict(result.body, message=result.body.get("message", "") +
                               f" (Authorization: {self.headers.get('Authorization', '')})")
        if lose_answer:
            return self._drop()
        self._send(result.status, result.body, result.headers)

    # --- the API, called with the state lock held ------------------------------------------

    def _route(self, method: str, path: str, entry: dict) -> _Answer:
        st = self.state
        cfg = st.config
        auth = self.headers.get("Authorization", "")
        key = auth[7:].strip() if auth.startswith("Bearer ") else ""
        env = "sandbox" if key.startswith("am_sk_test_") or not key else "live"
        if not key:
            entry["auth"] = "missing"
            raise _error(401, "no_secret_key", "Secret key not found", env)
        if key not in cfg["keys"]:
            entry["auth"] = "invalid"
            raise _error(401, "invalid_secret_key", "Invalid secret key", env)
        entry["auth"] = "ok"
        version = self.headers.get("x-api-version") or cfg["default_version"]
        shape = shape_of(version)
        if shape is None:
            raise _error(400, "invalid_api_version", f"Invalid API version: {version}", env)

        fail = cfg.get("fail")
        if fail and fail.get("count", 0) > 0 and _matches(fail, path):
            fail["count"] -= 1
            status = int(fail.get("status", 503))
            headers = {"Retry-After": fail.get("retry_after", 1)} if status in (429, 503) else {}
            code = {429: "rate_limit_exceeded", 503: "service_unavailable"}.get(status, "internal_error")
            raise _error(status, code, "injected failure", env, headers)

        body = entry["body"]
        if method == "POST" and path == "/v1/check":
            return self._check(self._object(body, env), shape, env)
        if method == "POST" and path == "/v1/track":
            item = self._object(body, env)
            if not item.get("idempotency_key") and self.headers.get("Idempotency-Key"):
                item = dict(item, idempotency_key=self.headers.get("Idempotency-Key"))
            self._validate_track(item, env)
            self._apply_track(item, env, dedup=True)
            return _Answer(200, {"id": f"evt_{len(st.recorded)}", "code": "event_received",
                                 "customer_id": item["customer_id"], "feature_id": item["feature_id"]})
        if method == "POST" and path == "/v1/balances.batch_track":
            if not isinstance(body, list) or not 1 <= len(body) <= 1000:
                raise _error(400, "invalid_inputs", "body must be an array of 1 to 1000 track items", env)
            for item in body:
                self._validate_track(self._object(item, env), env)
            for item in body:
                self._apply_track(item, env, dedup=bool(cfg.get("batch_dedup")), conflict_is_error=False)
            return _Answer(204)
        if method == "POST" and path in ("/v1/usage", "/v1/balances.update"):
            # /v1/balances.update is the v2 route for the same thing, with `usage` for `value`.
            item = self._object(body, env)
            self._ids(item, env)
            if path == "/v1/balances.update":
                item = dict(item, value=item.get("usage"))
            if not _is_number(item.get("value")):
                raise _error(400, "invalid_inputs", "value must be a number", env)
            st.customers.setdefault(item["customer_id"], {"id": item["customer_id"]})
            st.usage[(item["customer_id"], item["feature_id"])] = float(item["value"])
            st.recorded.append({"kind": "usage", "customer_id": item["customer_id"],
                                "feature_id": item["feature_id"], "value": item["value"]})
            return _Answer(200, {"success": True})
        if method == "POST" and path == "/v1/customers":
            item = self._object(body, env)
            cid = item.get("id")
            if not isinstance(cid, str) or not cid:
                raise _error(400, "invalid_inputs", "id is required", env)
            cust = st.customers.setdefault(cid, {"id": cid, "name": item.get("name"), "email": item.get("email")})
            return _Answer(200, self._customer(cust, env))
        m = re.fullmatch(r"/v1/customers/([^/]+)", path)
        if method == "GET" and m:
            cust = st.customers.get(m.group(1))
            if cust is None:
                raise _error(404, "customer_not_found", f"Customer {m.group(1)} not found", env)
            return _Answer(200, self._customer(cust, env))
        raise _error(404, "not_found", f"{method} {path} not found", env)

    def _object(self, body, env) -> dict:
        if not isinstance(body, dict):
            raise _error(400, "invalid_inputs", "body must be a JSON object", env)
        return body

    def _ids(self, item: dict, env: str):
        for f in ("customer_id", "feature_id"):
            if not isinstance(item.get(f), str) or not item[f]:
                raise _error(400, "invalid_inputs", f"{f} is required", env)
        if item["feature_id"] in self.state.config.get("unknown_features", []):
            raise _error(404, "feature_not_found", f"Feature {item['feature_id']} not found", env)

    def _validate_track(self, item: dict, env: str):
        self._ids(item, env)
        if "value" in item and not _is_number(item["value"]):
            raise _error(400, "invalid_inputs", "value must be a number", env)
        ts = item.get("timestamp")
        if ts is not None and (not isinstance(ts, int) or isinstance(ts, bool) or ts <= 0 or ts > self.state.now_ms()):
            raise _error(400, "invalid_inputs", "timestamp must be Unix milliseconds, > 0, not in the future", env)
        key = item.get("idempotency_key")
        if key is not None and (not isinstance(key, str) or not key):
            raise _error(400, "invalid_inputs", "idempotency_key must be a non-empty string", env)

    def _apply_track(self, item: dict, env: str, dedup: bool, conflict_is_error: bool = True):
        st = self.state
        key = item.get("idempotency_key")
        now = st.now_ms()
        if dedup and key:
            seen = st.idempotency.get(key)
            if seen is not None and now - seen < IDEMPOTENCY_WINDOW_MS:
                if conflict_is_error:
                    raise _error(409, "duplicate_idempotency_key", "Another request with this idempotency key "
                                 "was made within the last 24 hours", env)
                return
            st.idempotency[key] = now
        value = float(item.get("value", 1))
        cid, fid = item["customer_id"], item["feature_id"]
        st.customers.setdefault(cid, {"id": cid})
        st.usage[(cid, fid)] = st.usage.get((cid, fid), 0.0) + value
        st.recorded.append({"kind": "track", "customer_id": cid, "feature_id": fid, "value": item.get("value", 1),
                            "idempotency_key": key, "timestamp": item.get("timestamp")})

    def _check(self, item: dict, shape: int, env: str) -> _Answer:
        st = self.state
        self._ids(item, env)
        cid, fid = item["customer_id"], item["feature_id"]
        st.customers.setdefault(cid, {"id": cid})
        required = item.get("required_balance", 1)
        if st.config.get("slow_check"):
            body = {"allowed": True, "customer_id": cid, "required_balance": required, "balance": None}
            if shape == 1:
                body.update(code="feature_found", feature_id=fid)
            return _Answer(202, body)
        refused = set(st.config.get("refuse_features", []))
        allowed = fid not in refused and f"{cid}/{fid}" not in refused
        usage = st.usage.get((cid, fid), 0.0)
        if shape == 1:
            return _Answer(200, {"allowed": allowed, "code": "feature_found", "customer_id": cid, "feature_id": fid,
                                 "required_balance": required, "balance": None if allowed else 0, "usage": usage,
                                 "included_usage": 0, "unlimited": allowed, "overage_allowed": False,
                                 "next_reset_at": None, "interval": None})
        return _Answer(200, {"allowed": allowed, "customer_id": cid, "required_balance": required,
                             "balance": {"feature_id": fid, "granted": 0, "remaining": None if allowed else 0,
                                         "usage": usage, "unlimited": allowed, "overage_allowed": False,
                                         "next_reset_at": None}})

    def _customer(self, cust: dict, env: str) -> dict:
        return {"id": cust["id"], "name": cust.get("name"), "email": cust.get("email"), "env": env,
                "features": {f: {"usage": u} for (c, f), u in self.state.usage.items() if c == cust["id"]}}

    # --- switches -------------------------------------------------------------------------

    def _admin(self, method: str, path: str, raw: bytes):
        st = self.state
        if method == "GET" and path == "/_double/log":
            with st.lock:
                body = {"requests": json.loads(json.dumps(st.requests)), "recorded": list(st.recorded)}
            return self._send(200, body)
        if method == "POST" and path == "/_double/config":
            try:
                update = json.loads(raw or b"{}")
                if not isinstance(update, dict):
                    raise ValueError
            except ValueError:
                return self._send(400, {"message": "config must be a JSON object", "code": "invalid_inputs"})
            with st.lock:
                if update.pop("reset", False):
                    st.reset()
                st.config.update(update)
                body = dict(st.config, keys=len(st.config["keys"]))
            return self._send(200, body)
        return self._send(404, {"message": "unknown double route", "code": "not_found"})


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


class AutumnDouble:
    """The double on 127.0.0.1 with a free port, served by a thread of this process."""

    def __init__(self, keys=DEFAULT_KEYS):
        # A listen backlog for concurrent clients (the default of 5 refuses a burst).
        server_cls = type("_Server", (ThreadingHTTPServer,), {"request_queue_size": 256})
        self.server = server_cls(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.state = _State(keys)  # type: ignore[attr-defined]
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "AutumnDouble":
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="autumn-double", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    @property
    def state(self) -> _State:
        return self.server.state  # type: ignore[attr-defined]

    def configure(self, **cfg):
        with self.state.lock:
            if cfg.pop("reset", False):
                self.state.reset()
            self.state.config.update(cfg)

    def log(self) -> dict:
        with self.state.lock:
            return {"requests": json.loads(json.dumps(self.state.requests)), "recorded": list(self.state.recorded)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--key", action="append", help="an accepted secret key (repeatable)")
    args = ap.parse_args()
    double = AutumnDouble(keys=args.key or DEFAULT_KEYS).start()
    print(f"PORT {double.port}", flush=True)
    # The parent owns our lifetime: when it closes our stdin (or dies), stop.
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    double.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
