"""`rend env check` and the production start check of each role (issue 14, "Env
profiles and validation"), run on the real binary with env files on disk."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT, free_port, inherited_env, rend_bin

SECRET = "Sk9-real-looking-secret-value-never-printed-77"

# A complete production env for every role (nothing here is contacted).
PRODUCTION = {
    "REND_ENV": "production",
    "DATABASE_URL": f"postgres://rend:{SECRET}@db.internal.example.net:5432/rend",
    "REND_REDIS_URL": "redis://redis.internal.example.net:6379/0",
    "S3_ENDPOINT": "https://s3.eu-west-1.amazonaws.com",
    "S3_BUCKET": "rend-media",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE7Q",
    "AWS_SECRET_ACCESS_KEY": SECRET,
    "CLICKHOUSE_URL": "https://ch.example.net:8443",
    "CLICKHOUSE_USER": "rend",
    "CLICKHOUSE_PASSWORD": SECRET,
    "REND_PLAYBACK_SIGNING_KEY_ID": "k2026",
    "REND_PLAYBACK_SIGNING_SECRET": SECRET,
    "REND_EDGE_INTERNAL_TOKEN": SECRET + "-edge",
    "REND_INTERNAL_TELEMETRY_TOKEN": SECRET + "-telemetry",
    "REND_API_BIND_ADDR": "0.0.0.0:4000",
    "REND_API_PUBLIC_BASE_URL": "https://api.example.net",
    "REND_PLAYBACK_BASE_URL": "https://ash.edge.example.net",
    "REND_EXPECTED_EDGES": "ash-1=us-east=https://ash.edge.example.net,ams-1=eu-west=https://ams.edge.example.net",
    "REND_BILLING_MODE": "autumn",
    "AUTUMN_SECRET_KEY": "am_sk_live_LiveKeyNeverPrinted99",
    "REND_EDGE_BIND_ADDR": "0.0.0.0:4100",
    "REND_EDGE_INTERNAL_BIND_ADDR": "10.1.2.3:4101",
    "REND_EDGE_ID": "ash-1",
    "REND_EDGE_REGION": "us-east",
    "REND_EDGE_BASE_URL": "https://ash.edge.example.net",
    "REND_CONTROL_PLANE_URL": "https://api.example.net",
    "REND_EDGE_CACHE_DIR": "/var/cache/rend/edge",
    "REND_EDGE_TELEMETRY_SPOOL_DIR": "/var/lib/rend/telemetry-spool",
}


@pytest.fixture(autouse=True)
def _remove_input_env_files(tmp_path):
    """The env files these tests write are inputs holding made-up production
    credentials (URLs with passwords): removed after each test, so the run's secrets
    scan (test_secrets.py, which reads every file the run leaves) checks what Rend
    wrote, not what a test handed it."""
    yield
    for f in list(tmp_path.rglob("*.env")) + list(tmp_path.glob(".env*")):
        f.unlink(missing_ok=True)


def write_env(path: Path, values: dict, header: str = "# written by test_env_check.py\n") -> Path:
    path.write_text(header + "".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def env_check(*args: str, cwd=REPO_ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(rend_bin()), "env", "check", *args], cwd=str(cwd),
                          env=inherited_env() if env is None else env, capture_output=True, text=True, timeout=30)


def fail_lines(r: subprocess.CompletedProcess) -> list:
    return [line for line in r.stdout.splitlines() if line.startswith("FAIL ")]


def test_the_seeds_dry_run_of_the_docker_example_passes():
    r = env_check("--role", "all", "--allow-dev-defaults", "--api-env", ".env.docker.example",
                  "--worker-env", ".env.docker.example", "--edge-env", ".env.docker.example")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("ok: api, worker, edge"), r.stdout


def test_the_docker_example_is_no_production_file():
    r = env_check("--role", "all", "--env-file", ".env.docker.example")
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    for var in ("REND_ENV", "S3_ENDPOINT", "REND_EXPECTED_EDGES", "REND_EDGE_INTERNAL_BIND_ADDR", "AUTUMN_SECRET_KEY"):
        assert f".env.docker.example: {var}: " in out, out


def test_a_complete_production_file_passes_every_role(tmp_path):
    f = write_env(tmp_path / "prod.env", PRODUCTION)
    for role in ("api", "worker", "edge", "control-plane", "edge-host", "all"):
        r = env_check("--role", role, "--env-file", str(f))
        assert r.returncode == 0, f"{role}: {r.stdout}{r.stderr}"


def test_three_problems_are_three_lines_naming_variable_and_file_never_a_secret(tmp_path):
    bad_secret = "changeme-but-long-enough-to-pass-the-length-Pz8"
    f = write_env(tmp_path / "api.env", {**PRODUCTION, "REND_PLAYBACK_SIGNING_SECRET": bad_secret,
                                         "REND_REDIS_URL": "redis://localhost:6379/0",
                                         "REND_MAX_UPLOAD_BYTES": "0"})
    r = env_check("--role", "api", "--api-env", str(f))
    assert r.returncode == 1, r.stdout + r.stderr
    lines = fail_lines(r)
    assert len(lines) == 3, r.stdout
    for var, line in zip(["REND_REDIS_URL", "REND_PLAYBACK_SIGNING_SECRET", "REND_MAX_UPLOAD_BYTES"], lines):
        assert line.startswith(f"FAIL {f}: {var}: "), line
    everything = r.stdout + r.stderr
    for secret in ("Pz8", SECRET, "LiveKeyNeverPrinted99"):
        assert secret not in everything, everything


def test_one_file_for_two_roles_reports_its_problem_once(tmp_path):
    f = write_env(tmp_path / "cp.env", {**PRODUCTION, "REND_EDGE_INTERNAL_TOKEN": "<edge token>"})
    r = env_check("--role", "control-plane", "--env-file", str(f))
    assert r.returncode == 1
    assert fail_lines(r) == [f"FAIL {f}: REND_EDGE_INTERNAL_TOKEN: is a placeholder (<…>), not a real value "
                             "[api,worker]"], r.stdout


def test_per_role_files_go_to_their_roles(tmp_path):
    edge = write_env(tmp_path / "edge.env", {**PRODUCTION, "REND_EDGE_CACHE_DIR": "cache"})
    api = write_env(tmp_path / "api.env", {**PRODUCTION, "REND_API_PUBLIC_BASE_URL": "http://api.example.net"})
    r = env_check("--role", "all", "--api-env", str(api), "--worker-env", str(api), "--edge-env", str(edge))
    assert r.returncode == 1
    assert fail_lines(r) == [f"FAIL {api}: REND_API_PUBLIC_BASE_URL: must be an https:// URL in production [api]",
                             f"FAIL {edge}: REND_EDGE_CACHE_DIR: must be an absolute path in production [edge]"], r.stdout


def test_bad_usage_and_unreadable_files(tmp_path):
    assert env_check("--role", "edge-host", "--api-env", "x").returncode == 2
    assert env_check("--role", "nope").returncode == 2
    assert env_check("--env-file", "x").returncode == 2  # --role is required
    assert env_check("--role", "api", "--strict").returncode == 2
    r = env_check("--role", "api", "--env-file", str(tmp_path / "missing.env"))
    assert r.returncode == 1
    assert fail_lines(r) == [f"FAIL {tmp_path / 'missing.env'}: cannot be read [api]"], r.stdout


def test_without_files_the_production_profile_is_read_and_never_env_local(tmp_path):
    """.env.production, then .env.production.local over it, then the process environment
    over both; .env.local is never read."""
    write_env(tmp_path / ".env.production", {**PRODUCTION, "REND_EDGE_INTERNAL_TOKEN": "changeme",
                                             "REND_EDGE_CACHE_DIR": "relative/cache"})
    write_env(tmp_path / ".env.production.local", {"REND_EDGE_INTERNAL_TOKEN": SECRET + "-local"})
    write_env(tmp_path / ".env.local", {"REND_EDGE_ID": "xxx", "REND_ENV": "local", "S3_ENDPOINT": "http://minio:9000"})
    env = {**inherited_env(), "REND_EDGE_REGION": "<region>"}
    r = env_check("--role", "edge", cwd=tmp_path, env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert fail_lines(r) == [
        "FAIL environment: REND_EDGE_REGION: is a placeholder (<…>), not a real value [edge]",
        "FAIL .env.production: REND_EDGE_CACHE_DIR: must be an absolute path in production [edge]",
    ], r.stdout

    # The process environment alone, when neither file exists.
    for name in (".env.production", ".env.production.local"):
        (tmp_path / name).unlink()
    r = env_check("--role", "edge", cwd=tmp_path, env={**inherited_env(), **PRODUCTION})
    assert r.returncode == 0, r.stdout + r.stderr


def connectable(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("cmd,bind_var", [(["api"], "REND_API_BIND_ADDR"), (["worker", "media"], None),
                                          (["edge"], "REND_EDGE_BIND_ADDR")], ids=["api", "worker", "edge"])
def test_a_production_role_with_a_placeholder_secret_stops_before_it_serves(tmp_path, cmd, bind_var):
    port = free_port()
    placeholder = "changeme-changeme-changeme-changeme-Qv4"
    env = {**inherited_env(), **PRODUCTION, "REND_PLAYBACK_SIGNING_SECRET": placeholder,
           "REND_EDGE_INTERNAL_BIND_ADDR": f"127.0.0.1:{free_port()}", "REND_ALLOW_DEV_DEFAULTS": "true"}
    if bind_var:
        env[bind_var] = f"127.0.0.1:{port}"
    data = tmp_path / "data"
    r = subprocess.run([str(rend_bin()), *cmd, "--data-dir", str(data)], env=env, capture_output=True, text=True,
                       timeout=30, cwd=str(REPO_ROOT))
    assert r.returncode == 2, f"exit {r.returncode}\n{r.stderr[-2000:]}"
    assert "environment: REND_PLAYBACK_SIGNING_SECRET: is a placeholder" in r.stderr, r.stderr[-2000:]
    assert "Qv4" not in r.stdout + r.stderr and SECRET not in r.stdout + r.stderr
    assert not connectable(port) and not data.exists()


def test_a_production_role_reports_every_problem_at_start(tmp_path):
    env = {**inherited_env(), **PRODUCTION, "REND_EDGE_BASE_URL": "http://rend-edge:4100",
           "REND_EDGE_CACHE_DIR": "cache", "AWS_SECRET_ACCESS_KEY": "TODO"}
    r = subprocess.run([str(rend_bin()), "edge", "--data-dir", str(tmp_path / "data")], env=env,
                       capture_output=True, text=True, timeout=30, cwd=str(REPO_ROOT))
    assert r.returncode == 2, r.stderr[-2000:]
    for var in ("REND_EDGE_BASE_URL", "REND_EDGE_CACHE_DIR", "AWS_SECRET_ACCESS_KEY"):
        assert f"environment: {var}: " in r.stderr, r.stderr[-2000:]
    # Dev defaults (here rend-edge) are allowed on request; the rest still stops it.
    r = subprocess.run([str(rend_bin()), "edge", "--data-dir", str(tmp_path / "data")],
                       env={**env, "REND_ALLOW_DEV_DEFAULTS": "true"}, capture_output=True, text=True, timeout=30,
                       cwd=str(REPO_ROOT))
    assert r.returncode == 2 and "REND_EDGE_BASE_URL: points at a local" not in r.stderr, r.stderr[-2000:]
    assert "REND_EDGE_CACHE_DIR" in r.stderr


def test_the_production_example_passes_once_its_placeholders_are_filled_in(tmp_path):
    """Every <…> of .env.production.example is refused as it stands; filled in, the
    example's other values are valid production values for every role."""
    example = (REPO_ROOT / ".env.production.example").read_text()
    r = env_check("--role", "all", "--env-file", ".env.production.example")
    assert r.returncode == 1
    placeholders = [line.split("=", 1)[0] for line in example.splitlines() if "=" in line and "<" in line
                    and not line.startswith("#")]
    assert len(placeholders) >= 15, placeholders
    for var in placeholders:
        assert f".env.production.example: {var}: is a placeholder" in r.stdout, (var, r.stdout)

    filled = {**PRODUCTION, "REND_EDGE_CORS_ALLOWED_ORIGINS": "https://api.example.net"}
    lines = [f"{line.split('=', 1)[0]}={filled[line.split('=', 1)[0]]}" if "<" in line and not line.startswith("#")
             else line for line in example.splitlines()]
    f = tmp_path / "filled.env"
    f.write_text("\n".join(lines) + "\n")
    r = env_check("--role", "all", "--env-file", str(f))
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_local_example_passes_with_dev_defaults_allowed():
    r = env_check("--role", "all", "--allow-dev-defaults", "--env-file", ".env.local.example")
    assert r.returncode == 0, r.stdout + r.stderr


def wrapper(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO_ROOT / "scripts" / "validate-production-env.sh"), *args], cwd=str(REPO_ROOT),
                          env={**inherited_env(), "REND_BIN": str(rend_bin())} if env is None else env,
                          capture_output=True, text=True, timeout=30)


def test_the_wrapper_runs_the_seeds_dry_run_exactly():
    r = wrapper("--role", "all", "--allow-dev-defaults", "--api-env", ".env.docker.example",
                "--worker-env", ".env.docker.example", "--edge-env", ".env.docker.example")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("ok: api, worker, edge"), r.stdout


def test_the_wrapper_passes_problems_and_exit_codes_through(tmp_path):
    f = write_env(tmp_path / "edge.env", {**PRODUCTION, "REND_EDGE_ID": "TODO"})
    r = wrapper("--role", "edge-host", "--edge-env", str(f))
    assert r.returncode == 1 and fail_lines(r) == [
        f"FAIL {f}: REND_EDGE_ID: is a placeholder (TODO), not a real value [edge]"], r.stdout
    assert wrapper("--role", "control-plane", "--edge-env", str(f)).returncode == 2
    r = wrapper("--role", "all", env={**inherited_env(), "REND_BIN": str(tmp_path / "no-such-rend")})
    assert r.returncode == 2 and "no rend binary" in r.stderr, r.stderr


def test_all_roles_share_their_secrets_and_the_edge_is_an_expected_one(tmp_path):
    api = write_env(tmp_path / "api.env", PRODUCTION)
    edge = write_env(tmp_path / "edge.env", {**PRODUCTION, "REND_EDGE_ID": "fra-1",
                                             "REND_PLAYBACK_SIGNING_SECRET": SECRET + "-other"})
    r = wrapper("--role", "all", "--api-env", str(api), "--worker-env", str(api), "--edge-env", str(edge))
    assert r.returncode == 1
    assert fail_lines(r) == [
        f"FAIL {edge}: REND_PLAYBACK_SIGNING_SECRET: differs from the api's ({api}); every role needs the same value "
        "[edge]",
        f"FAIL {edge}: REND_EDGE_ID: 'fra-1' is not listed in REND_EXPECTED_EDGES ({api}) [edge]",
    ], r.stdout
    assert SECRET not in r.stdout + r.stderr


def test_layered_files_name_the_file_each_value_came_from(tmp_path):
    base = write_env(tmp_path / "base.env", {**PRODUCTION, "REND_EDGE_CACHE_MAX_BYTES": "10GB",
                                             "REND_EDGE_ID": "xxx"})
    override = write_env(tmp_path / "override.env", {"REND_EDGE_ID": "ash-1", "REND_EDGE_TELEMETRY_ENABLED": "maybe"})
    r = env_check("--role", "edge", "--env-file", str(base), "--env-file", str(override))
    assert r.returncode == 1
    assert fail_lines(r) == [
        f"FAIL {base}: REND_EDGE_CACHE_MAX_BYTES: must be a non-negative integer [edge]",
        f"FAIL {override}: REND_EDGE_TELEMETRY_ENABLED: must be true or false [edge]",
    ], r.stdout
