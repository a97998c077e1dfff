"""scripts/verify-first-host-deploy.sh against `scripts/stack up --two-edge` (issue 14,
"First-host verification"): real Postgres, Redis, ClickHouse, s3rver, `rend api`,
`rend worker media` and three `rend edge` processes in a scratch stack dir on free
ports. The verifier reads the stack's per-role env files (.../role-env/ROLE.env) the
way it reads a host's, passes on the healthy stack and fails, naming the check and the
edge, when an edge is stopped, the edge env holds a wrong internal token, or an edge's
telemetry is refused by the API.

Needs the real services' packages (the module runs where scripts/with-test-services
runs, and skips where it does not).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import REPO_ROOT, free_port, inherited_env, rend_bin, services_available

VERIFY = REPO_ROOT / "scripts" / "verify-first-host-deploy.sh"
STACK = REPO_ROOT / "scripts" / "stack"
ROLES = ["api", "worker-media", "edge", "edge-us-east", "edge-london"]
EDGES = ["edge-us-east", "edge-london"]
# What Rend reads from its environment (the scrubbed prefixes of conftest.inherited_env).
REND_PREFIXES = ("REND_", "S3_", "CLICKHOUSE_", "OBJECT_STORE_", "AUTUMN_", "AWS_")

pytestmark = pytest.mark.skipif(
    not services_available() and os.environ.get("REND_REQUIRE_SERVICES") != "1",
    reason="needs the real services (run under scripts/with-test-services)",
)


def read_env(path: Path) -> dict:
    out = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            k, sep, v = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", k), f"{path}: not a KEY=value line: {line!r}"
            out[k] = v
    return out


def write_env(path: Path, env: dict) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    path.chmod(0o600)
    return path


def wait_gone(pid: int, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid):
        assert time.monotonic() < deadline, f"pid {pid} still running"
        time.sleep(0.05)
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
        except requests.ConnectionError:
            return
        assert time.monotonic() < deadline, f"127.0.0.1:{port} still answers"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split("\n", 1)[0]
    except (FileNotFoundError, IndexError):
        return "zombie"


class Stack:
    def __init__(self, root: Path):
        self.dir = root
        os.chmod(root, 0o755)  # Postgres runs as the postgres user and must enter it
        names = ["PG", "REDIS", "CLICKHOUSE", "S3", "API", "EDGE", "EDGE_US_EAST", "EDGE_LONDON"]
        self.ports = {n: free_port() for n in names}
        while len(set(self.ports.values())) < len(names):
            self.ports = {n: free_port() for n in names}
        # Nothing of the caller's Rend settings (with-test-services exports its own stack's).
        self.env = {k: v for k, v in inherited_env().items() if not k.startswith("REND_STACK_")}
        self.env.update({"REND_BIN": str(rend_bin()), "REND_STACK_DIR": str(root)})
        self.env.update({f"REND_STACK_{k}_PORT": str(v) for k, v in self.ports.items()})

    def stack(self, *args: str) -> None:
        r = subprocess.run([str(STACK), *args], env=self.env, capture_output=True, text=True, timeout=180,
                           cwd=str(REPO_ROOT))
        assert r.returncode == 0, f"scripts/stack {' '.join(args)} failed:\n{r.stderr[-3000:]}"

    def role_env(self, role: str) -> Path:
        return self.dir / "role-env" / f"{role}.env"

    def pid(self, role: str) -> int:
        return int((self.dir / role / f"{role}.pid").read_text())

    def url(self, port_name: str) -> str:
        return f"http://127.0.0.1:{self.ports[port_name]}"

    def edge_url(self, edge: str) -> str:
        return self.url({"edge-us-east": "EDGE_US_EAST", "edge-london": "EDGE_LONDON"}[edge])

    def secrets(self) -> dict:
        return read_env(self.dir / "secrets.env")


@pytest.fixture(scope="module")
def stack():
    # Not under pytest's tmp dir: that is 0700, and Postgres runs as the postgres user.
    st = Stack(Path(tempfile.mkdtemp(prefix="rend-verify-stack.")))
    st.stack("up", "--two-edge")
    # An API key as an operator makes one: `rend keys create` with the API's env.
    r = subprocess.run([str(rend_bin()), "keys", "create", "--scopes", "all", "--name", "verify",
                        "--data-dir", str(st.dir / "rend")],
                       env={**inherited_env(), **read_env(st.role_env("api"))}, capture_output=True, text=True,
                       timeout=30, cwd=str(REPO_ROOT))
    assert r.returncode == 0, r.stderr[-1000:]
    st.api_key = r.stdout.strip().splitlines()[-1].strip()
    yield st
    st.stack("down")
    shutil.rmtree(st.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def asset(stack, tmp_path_factory) -> str:
    """One hls_ready asset that stays (the failure cases play it)."""
    clip = tmp_path_factory.mktemp("verify-clip") / "clip.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi", "-i",
                    "testsrc2=s=320x180:r=15:d=2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                    str(clip)], check=True, timeout=60)
    auth = {"Authorization": f"Bearer {stack.api_key}"}
    api = stack.url("API")
    up = requests.post(f"{api}/v1/uploads", json={"visibility": "public"}, headers=auth, timeout=10).json()
    r = requests.put(up["upload_url"], data=clip.read_bytes(), headers=auth, timeout=60)
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 120
    while (status := requests.get(f"{api}/v1/assets/{up['asset_id']}", headers=auth, timeout=10).json()["status"]) \
            != "hls_ready":
        assert status not in ("failed", "deleted") and time.monotonic() < deadline, status
        time.sleep(0.2)
    return up["asset_id"]


def verify(stack: Stack, *extra: str, api_key: bool = False, edge_env: Path | None = None,
           internal: dict | None = None, env: dict | None = None) -> tuple[int, list[str], str]:
    args = [str(VERIFY), "--api-base", stack.url("API")]
    for e in EDGES:
        args += ["--edge-base", stack.edge_url(e), "--edge-internal-base", (internal or {}).get(e, stack.edge_url(e))]
    args += ["--api-env", str(stack.role_env("api")), "--edge-env", str(edge_env or stack.role_env("edge-us-east")),
             "--rewrite-playback-base", *extra]
    run_env = {**inherited_env(), **(env or {})}
    if api_key:
        run_env["REND_READINESS_API_KEY"] = stack.api_key
    r = subprocess.run(args, env=run_env, capture_output=True, text=True, timeout=120, cwd=str(REPO_ROOT))
    lines = r.stdout.splitlines()
    return r.returncode, lines, r.stdout + r.stderr


def checks(lines: list[str]) -> list[str]:
    return [ln for ln in lines if ln.startswith(("ok ", "FAIL "))]


def assert_no_secret(stack: Stack, out: str, *more: str) -> None:
    for name, value in [*stack.secrets().items(), ("api key", stack.api_key), *(("extra", m) for m in more)]:
        assert value not in out, f"the verifier printed {name}"
    assert "rend_playback=" not in out or "rend_playback=<redacted>" in out


# --- the stack's env files ------------------------------------------------------------

def test_stack_writes_each_roles_env_exactly_as_the_process_got_it(stack):
    caller = inherited_env()
    for role in ROLES:
        path = stack.role_env(role)
        assert path.exists(), f"no env file for {role}"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path} is not 0600: it holds secrets"
        file_env = read_env(path)
        proc = dict(kv.split("=", 1) for kv in
                    (Path(f"/proc/{stack.pid(role)}/environ").read_bytes().decode().split("\0")) if "=" in kv)
        # Every Rend setting the process has that the caller did not pass down.
        rend_vars = {k: v for k, v in proc.items()
                     if (k.startswith(REND_PREFIXES) or k == "DATABASE_URL") and k not in caller
                     and k not in ("REND_BIN", "REND_STACK_DIR") and not k.startswith("REND_STACK_")}
        assert file_env == rend_vars, f"{role}: env file and process differ: " \
            f"{sorted(set(file_env.items()) ^ set(rend_vars.items()))}"
    edge = read_env(stack.role_env("edge-london"))
    assert (edge["REND_EDGE_ID"], edge["REND_EDGE_REGION"]) == ("edge-london", "london")
    assert edge["REND_EDGE_BASE_URL"] == stack.edge_url("edge-london")
    assert read_env(stack.role_env("worker-media"))["REND_API_AUTO_MIGRATE"] == "false"


# --- the verifier ----------------------------------------------------------------------

def test_passes_on_the_two_edge_stack_uploading_and_deleting_its_own_clip(stack):
    rc, lines, out = verify(stack, "--telemetry-timeout", "20", api_key=True)
    fails = [ln for ln in lines if ln.startswith("FAIL")]
    assert rc == 0 and not fails, out
    got = checks(lines)
    for want in ["ok shared secrets", "ok api readyz", "ok player bootstrap", "ok playback analytics", "ok synthetic asset:",
                 "ok synthetic asset deleted"] + \
            [f"ok {c} {e}" for e in EDGES for c in ("edge readyz", "edge registered", "public deny surface",
                                                   "warmed HIT playback", "telemetry loss", "telemetry spool")]:
        assert any(ln.startswith(want) for ln in got), f"no '{want}' line:\n{out}"
    hit = [ln for ln in got if ln.startswith("ok warmed HIT playback")]
    assert all("seg_00000.ts 200 HIT" in ln for ln in hit), hit
    asset_id = re.search(r"uploaded (ast_\w+)", out)[1]
    r = requests.get(f"{stack.url('API')}/v1/assets/{asset_id}",
                     headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=10)
    assert r.status_code == 404 or r.json().get("status") == "deleted", r.text
    assert_no_secret(stack, out)


def test_passes_reading_postgres_and_clickhouse_without_an_api_key(stack, asset):
    api_env = read_env(stack.role_env("api"))
    rc, lines, out = verify(stack, "--asset-id", asset, "--database-url", api_env["DATABASE_URL"],
                            "--clickhouse-url", api_env["CLICKHOUSE_URL"], "--clickhouse-database", "rend",
                            "--clickhouse-user", "default", "--telemetry-timeout", "20")
    assert rc == 0, out
    assert any(ln.startswith("ok playback analytics") and "on every edge" in ln and "ClickHouse" in ln
               for ln in lines), out
    assert any(ln.startswith("ok edge registered edge-london") for ln in lines), out


def test_a_wrong_clickhouse_password_fails_analytics_without_printing_it(stack, asset):
    api_env = read_env(stack.role_env("api"))
    rc, lines, out = verify(stack, "--asset-id", asset, "--clickhouse-url", api_env["CLICKHOUSE_URL"],
                            "--clickhouse-password", "not-the-password-4711", "--telemetry-timeout", "2")
    assert rc == 1, out
    assert any(ln.startswith("FAIL playback analytics") for ln in lines), out
    assert_no_secret(stack, out, "not-the-password-4711")


def test_a_wrong_edge_internal_token_in_the_env_file_fails_naming_the_check(stack, asset):
    env = read_env(stack.role_env("edge-us-east"))
    env["REND_EDGE_INTERNAL_TOKEN"] = "wrong-" + os.urandom(16).hex()
    # In the stack dir (removed at the end), not pytest's: the file holds the stack's secrets.
    rc, lines, out = verify(stack, "--asset-id", asset, api_key=True,
                            edge_env=write_env(stack.dir / "wrong-token-edge.env", env))
    assert rc == 1, out
    fails = [ln for ln in lines if ln.startswith("FAIL")]
    # Nothing was played, so nothing can reach analytics either; everything else is ok.
    assert fails and all(ln.startswith(("FAIL warmed HIT playback", "FAIL playback analytics", "FAIL shared secrets"))
                         for ln in fails), out
    assert "FAIL shared secrets: REND_EDGE_INTERNAL_TOKEN differs between --api-env and --edge-env" in lines, out
    assert {e for e in EDGES if any(ln.startswith(f"FAIL warmed HIT playback {e}:") and "401" in ln and
                                    "REND_EDGE_INTERNAL_TOKEN" in ln for ln in fails)} == set(EDGES), out
    assert_no_secret(stack, out, env["REND_EDGE_INTERNAL_TOKEN"])


def test_an_expected_edge_that_never_registered_fails_naming_it(stack, asset):
    """REND_EXPECTED_EDGES of the API env is the list to check, not the edges given."""
    env = read_env(stack.role_env("api"))
    env["REND_EXPECTED_EDGES"] = ",".join([f"{e}={e.split('-', 1)[1]}={stack.edge_url(e)}" for e in EDGES] +
                                          ["edge-tokyo=tokyo=http://127.0.0.1:9"])
    api_env = write_env(stack.dir / "expected-api.env", env)
    args = [str(VERIFY), "--api-base", stack.url("API"), "--edge-base", stack.edge_url("edge-us-east"),
            "--api-env", str(api_env), "--edge-env", str(stack.role_env("edge-us-east")), "--asset-id", asset,
            "--rewrite-playback-base"]
    r = subprocess.run(args, env={**inherited_env(), "REND_READINESS_API_KEY": stack.api_key}, capture_output=True,
                       text=True, timeout=120, cwd=str(REPO_ROOT))
    lines = r.stdout.splitlines()
    assert r.returncode == 1, r.stdout + r.stderr
    assert [ln for ln in lines if ln.startswith("FAIL")] == ["FAIL edge registered edge-tokyo: not in the edge registry"], \
        r.stdout
    assert any(ln.startswith("ok edge registered edge-london") for ln in lines), r.stdout


def test_metrics_on_a_public_base_that_is_not_the_private_one_fails(stack, asset):
    # The same listener under another name: as a public base it serves /metrics,
    # which a production edge serves only on its private listener.
    port = stack.ports["EDGE_LONDON"]
    rc, lines, out = verify(stack, "--asset-id", asset, api_key=True,
                            internal={"edge-london": f"http://localhost:{port}"})
    assert rc == 1, out
    assert any(ln.startswith("FAIL public deny surface") and "/metrics is served on the public base" in ln
               for ln in lines), out
    assert not any(ln.startswith("FAIL public deny surface edge-us-east") for ln in lines), out


def test_one_listener_for_public_and_private_fails_for_a_production_edge(stack, asset):
    # The local stack's edges have no private listener: accepted for REND_ENV=local
    # (the deny-surface line says so), refused when the edge env says production.
    env = read_env(stack.role_env("edge-us-east"))
    assert env["REND_ENV"] == "local"
    rc, lines, out = verify(stack, "--asset-id", asset, api_key=True)
    assert rc == 0 and any(ln.startswith("ok public deny surface edge-us-east") and "one listener" in ln
                           for ln in lines), out
    env["REND_ENV"] = "production"
    rc, lines, out = verify(stack, "--asset-id", asset, api_key=True,
                            edge_env=write_env(stack.dir / "production-edge.env", env))
    assert rc == 1, out
    fails = [ln for ln in lines if ln.startswith("FAIL")]
    assert {ln.split(":")[0] for ln in fails} == {f"FAIL public deny surface {e}" for e in EDGES}, out
    assert all("REND_EDGE_INTERNAL_BIND_ADDR" in ln for ln in fails), out


def test_readiness_gate_gets_the_configured_target_and_its_env(stack, asset, tmp_path):
    # A stand-in `rend` that records how it was called: the wiring, independent of
    # whether this build has `rend readiness` yet.
    record = tmp_path / "call"
    fake = tmp_path / "rend"
    fake.write_text("#!/bin/sh\n{ echo \"$*\"; env | grep -E '^REND_(API_BASE_URL|READINESS_EDGES)='; "
                    "[ \"$REND_READINESS_API_KEY\" = \"$WANT_KEY\" ] && echo key-ok; "
                    "[ \"$REND_EDGE_INTERNAL_TOKEN\" = \"$WANT_TOKEN\" ] && echo token-ok; } > " + str(record) +
                    "\necho 'readiness: pass'\n")
    fake.chmod(0o755)
    token = read_env(stack.role_env("edge-us-east"))["REND_EDGE_INTERNAL_TOKEN"]
    rc, lines, out = verify(stack, "--asset-id", asset, "--run-readiness-gate", api_key=True,
                            env={"REND_BIN": str(fake), "WANT_KEY": stack.api_key, "WANT_TOKEN": token})
    assert rc == 0 and any(ln.startswith("ok readiness gate") for ln in lines), out
    call = record.read_text().splitlines()
    assert call[0] == "readiness --target configured --skip-local-stack", call
    assert f"REND_API_BASE_URL={stack.url('API')}" in call, call
    edges = next(ln for ln in call if ln.startswith("REND_READINESS_EDGES=")).split("=", 1)[1].split(",")
    assert sorted(edges) == sorted(f"{e}={e.split('-', 1)[1]}={stack.edge_url(e)}" for e in EDGES), edges
    assert "key-ok" in call and "token-ok" in call, call


def test_readiness_gate_of_this_build_passes_on_the_healthy_stack(stack, asset):
    """The real `rend readiness --target configured` against the two-edge stack."""
    rc, lines, out = verify(stack, "--asset-id", asset, "--run-readiness-gate", api_key=True,
                            env={"REND_BIN": str(rend_bin())})
    gate = [ln for ln in lines if "readiness gate" in ln and ln.startswith(("ok", "FAIL"))]
    assert len(gate) == 1, out
    assert gate[0].startswith("ok") and rc == 0, out


def test_telemetry_refused_by_the_api_fails_analytics_and_telemetry_loss(stack, asset):
    """edge-london restarted with a wrong REND_INTERNAL_TELEMETRY_TOKEN: the API refuses
    its batches (401, dropped for good as rejected)."""
    pid, port = stack.pid("edge-london"), stack.ports["EDGE_LONDON"]
    os.kill(pid, signal.SIGTERM)
    wait_gone(pid, port)
    env = read_env(stack.role_env("edge-london"))
    env["REND_INTERNAL_TELEMETRY_TOKEN"] = "wrong-" + os.urandom(16).hex()
    log = stack.dir / "edge-london" / "wrong-telemetry.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen([str(rend_bin()), "edge", "--data-dir", str(stack.dir / "rend")],
                                env={**inherited_env(), **env}, stdout=f, stderr=f, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        rc, lines, out = verify(stack, "--asset-id", asset, "--telemetry-timeout", "4", api_key=True)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        wait_gone(proc.pid, port)
        stack.stack("up", "--two-edge")  # edge-london back as the stack runs it
    assert rc == 1, out
    fails = [ln for ln in lines if ln.startswith("FAIL")]
    assert any(ln.startswith("FAIL playback analytics") for ln in fails), out
    assert any(ln.startswith("FAIL telemetry loss edge-london:") and "rejected_total +" in ln for ln in fails), out
    assert not any("edge-us-east" in ln for ln in fails), out
    assert_no_secret(stack, out, env["REND_INTERNAL_TELEMETRY_TOKEN"])


def test_a_stopped_edge_fails_naming_that_edge(stack, asset):
    pid = stack.pid("edge-london")
    os.kill(pid, signal.SIGTERM)
    wait_gone(pid, stack.ports["EDGE_LONDON"])
    try:
        rc, lines, out = verify(stack, "--asset-id", asset, "--telemetry-timeout", "2", api_key=True)
    finally:
        stack.stack("up", "--two-edge")
    assert rc == 1, out
    fails = [ln for ln in lines if ln.startswith("FAIL")]
    assert any(ln.startswith("FAIL edge readyz edge-london:") for ln in fails), out
    assert any(ln.startswith("FAIL warmed HIT playback edge-london:") for ln in fails), out
    assert not any("edge-us-east" in ln for ln in fails), out
    assert any(ln.startswith("ok warmed HIT playback edge-us-east") for ln in lines), out
