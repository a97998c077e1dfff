"""scripts/sync-deploy-env.sh (issue 14, "Env sync and docs"): copies the deploy-managed
allowlist from the environment into the API and worker env files, replacing their
lines and keeping every other line, refuses unless the Autumn key is visibly live, and
prints only variable names."""
from __future__ import annotations

import os
import stat
import subprocess

from checker_util import ROOT

SCRIPT = ROOT / "scripts" / "sync-deploy-env.sh"
LIVE = "am_sk_live_SyncKeyNeverPrinted42"
CH_PASSWORD = "ch pass#with 'no' quotes"  # spaces and '#': must be written quoted


def base_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CLICKHOUSE_", "AUTUMN_", "REND_"))}
    env.update({"AUTUMN_SECRET_KEY": LIVE, "CLICKHOUSE_URL": "https://ch.example.net:8443",
                "CLICKHOUSE_USER": "rend", "CLICKHOUSE_PASSWORD": "ch-password-never-printed-77",
                "REND_API_CORS_ALLOWED_ORIGINS": "https://app.example.net,https://www.example.net",
                "REND_BILLING_MODE": "autumn",
                # Not on the allowlist: never copied.
                "DATABASE_URL": "postgres://x:y@db/rend", "REND_EDGE_ID": "not-synced"})
    env.update(extra)
    return env


API = """# control plane API env
REND_ENV=production
CLICKHOUSE_URL=https://old.example.net:8443
export CLICKHOUSE_PASSWORD=old-password
DATABASE_URL=postgres://rend:keep@db.example.net/rend

AUTUMN_SECRET_KEY=am_sk_live_OldKey
AUTUMN_SECRET_KEY=am_sk_live_DuplicateOldKey
"""
WORKER = "REND_ENV=production\nREND_API_AUTO_MIGRATE=false"  # no final newline


def run(tmp_path, env, api=API, worker=WORKER):
    a, w = tmp_path / "api.env", tmp_path / "worker.env"
    a.write_text(api)
    w.write_text(worker)
    a.chmod(0o600)
    r = subprocess.run([str(SCRIPT), "--api-env", str(a), "--worker-env", str(w)], env=env,
                       capture_output=True, text=True, timeout=30)
    return r, a, w


def test_copies_the_allowlist_replacing_lines_and_keeping_the_rest(tmp_path):
    r, a, w = run(tmp_path, base_env())
    assert r.returncode == 0, r.stderr
    assert a.read_text().splitlines() == [
        "# control plane API env",
        "REND_ENV=production",
        "CLICKHOUSE_URL=https://ch.example.net:8443",
        "CLICKHOUSE_PASSWORD=ch-password-never-printed-77",
        "DATABASE_URL=postgres://rend:keep@db.example.net/rend",
        "",
        f"AUTUMN_SECRET_KEY={LIVE}",
        "CLICKHOUSE_USER=rend",
        "REND_API_CORS_ALLOWED_ORIGINS=https://app.example.net,https://www.example.net",
        "REND_BILLING_MODE=autumn",
    ]
    assert w.read_text().splitlines() == [
        "REND_ENV=production", "REND_API_AUTO_MIGRATE=false",
        f"AUTUMN_SECRET_KEY={LIVE}", "CLICKHOUSE_PASSWORD=ch-password-never-printed-77",
        "CLICKHOUSE_URL=https://ch.example.net:8443", "CLICKHOUSE_USER=rend",
        "REND_API_CORS_ALLOWED_ORIGINS=https://app.example.net,https://www.example.net", "REND_BILLING_MODE=autumn",
    ]
    assert stat.S_IMODE(a.stat().st_mode) == 0o600, "the env file's mode must be kept"
    assert "DATABASE_URL" not in r.stdout and "REND_EDGE_ID" not in w.read_text()
    # Names only in the log.
    out = r.stdout + r.stderr
    assert "CLICKHOUSE_PASSWORD" in out and "AUTUMN_SECRET_KEY" in out
    for value in ("SyncKeyNeverPrinted42", "ch-password-never-printed-77", "ch.example.net", "app.example.net"):
        assert value not in out, out


def test_a_value_with_spaces_or_hash_is_written_single_quoted(tmp_path):
    r, a, _ = run(tmp_path, base_env(CLICKHOUSE_PASSWORD=CH_PASSWORD.replace("'", "")))
    assert r.returncode == 0, r.stderr
    assert "CLICKHOUSE_PASSWORD='ch pass#with no quotes'" in a.read_text().splitlines()
    r, a, _ = run(tmp_path, base_env(CLICKHOUSE_PASSWORD=CH_PASSWORD))
    assert r.returncode == 1 and "CLICKHOUSE_PASSWORD" in r.stderr and "quotes" not in r.stderr
    assert a.read_text() == API


def test_refuses_unless_the_autumn_key_is_visibly_live(tmp_path):
    for key in ("am_sk_test_SandboxNeverPrinted", "", "live_am_sk_NeverPrinted", "am_sk_live_"):
        r, a, w = run(tmp_path, base_env(AUTUMN_SECRET_KEY=key))
        assert r.returncode == 1, (key, r.stdout, r.stderr)
        assert "AUTUMN_SECRET_KEY" in r.stderr and "nothing was changed" in r.stderr
        assert "NeverPrinted" not in r.stdout + r.stderr
        assert a.read_text() == API and w.read_text() == WORKER
    env = base_env()
    del env["AUTUMN_SECRET_KEY"]
    r, a, _ = run(tmp_path, env)
    assert r.returncode == 1 and a.read_text() == API


def test_refuses_without_the_clickhouse_credentials_or_the_files(tmp_path):
    env = base_env()
    del env["CLICKHOUSE_PASSWORD"], env["CLICKHOUSE_URL"]
    r, a, _ = run(tmp_path, env)
    assert r.returncode == 1 and "CLICKHOUSE_URL CLICKHOUSE_PASSWORD not set" in r.stderr, r.stderr
    assert a.read_text() == API
    r = subprocess.run([str(SCRIPT), "--api-env", str(tmp_path / "missing.env"), "--worker-env", str(tmp_path / "w")],
                       env=base_env(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "missing.env" in r.stderr
    r = subprocess.run([str(SCRIPT), "--api-env", "x"], env=base_env(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "usage" in r.stderr
