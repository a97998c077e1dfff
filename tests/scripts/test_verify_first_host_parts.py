"""The pure parts of scripts/lib/verify_first_host.py (run by `make check`): env file
parsing, redaction of every secret it read, metric parsing, and usage errors. The
checks themselves run against real processes in
tests/integration/test_verify_first_host.py."""
import importlib.util
import subprocess
import sys

import pytest

from checker_util import ROOT

VERIFY = ROOT / "scripts" / "verify-first-host-deploy.sh"


@pytest.fixture
def vf():
    spec = importlib.util.spec_from_file_location("verify_first_host", ROOT / "scripts/lib/verify_first_host.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["verify_first_host"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_env_files_read_like_a_production_env_file_and_their_secrets_are_redacted(vf, tmp_path):
    f = tmp_path / "api.env"
    f.write_text("# comment\n\nREND_ENV=production\nexport CLICKHOUSE_PASSWORD='pw-with-quotes-1'\n"
                 "REND_EDGE_INTERNAL_TOKEN=tok-abcdef-123456\nREND_PLAYBACK_SIGNING_SECRET=\"sig-secret-xyz\"\n"
                 "REND_API_PUBLIC_BASE_URL=https://api.example.com/a=b\n")
    env = vf.read_env_file(str(f))
    assert env == {"REND_ENV": "production", "CLICKHOUSE_PASSWORD": "pw-with-quotes-1",
                   "REND_EDGE_INTERNAL_TOKEN": "tok-abcdef-123456", "REND_PLAYBACK_SIGNING_SECRET": "sig-secret-xyz",
                   "REND_API_PUBLIC_BASE_URL": "https://api.example.com/a=b"}
    line = vf.R.redact("answered 401 for tok-abcdef-123456 with pw-with-quotes-1 and sig-secret-xyz on "
                       "https://api.example.com/a=b")
    for secret in ("tok-abcdef-123456", "pw-with-quotes-1", "sig-secret-xyz"):
        assert secret not in line
    assert "https://api.example.com/a=b" in line  # not a secret: kept


@pytest.mark.parametrize("text", [
    "GET /v/ast_x/master.m3u8?token=v2.k.123.ast_x.sig",
    "Authorization: Bearer rend_sk_abcdefABCDEF0123456789",
    "Set-Cookie: rend_playback=v2.k.1.ast_x.s; Path=/v/ast_x/",
    "https://user:hunter2222@host/?password=hunter2222",
])
def test_token_shapes_are_redacted_even_when_unknown(vf, text):
    out = vf.R.redact(text)
    for leaked in ("v2.k.123.ast_x.sig", "rend_sk_abcdefABCDEF0123456789", "v2.k.1.ast_x.s", "hunter2222"):
        assert leaked not in out, out


def test_a_bad_env_line_is_refused_naming_file_and_line(vf, tmp_path):
    f = tmp_path / "edge.env"
    f.write_text("REND_EDGE_ID=edge-1\nthis is not an assignment\n")
    with pytest.raises(SystemExit) as e:
        vf.read_env_file(str(f))
    assert f"{f}:2" in str(e.value)


def test_metrics_text_is_parsed(vf):
    text = ("# HELP rend_edge_telemetry_dropped_total x\n# TYPE rend_edge_telemetry_dropped_total counter\n"
            "rend_edge_telemetry_dropped_total 3\nrend_edge_telemetry_spool_bytes 0\n"
            'rend_edge_responses_total{status="200"} 9\n')
    m = vf.metric_values(text)
    assert m["rend_edge_telemetry_dropped_total"] == 3 and m["rend_edge_telemetry_spool_bytes"] == 0


@pytest.mark.parametrize("args, message", [
    (["--api-base", "ftp://x", "--edge-base", "http://e", "--api-env", "a", "--edge-env", "e"], "not an http(s)"),
    (["--api-base", "http://a", "--edge-base", "http://e", "--api-env", "a", "--edge-env", "e",
      "--asset-id", "../../x"], "--asset-id"),
    (["--api-base", "http://a", "--edge-base", "http://e", "--edge-base", "http://f",
      "--edge-internal-base", "http://i", "--api-env", "/dev/null", "--edge-env", "/dev/null"],
     "one --edge-internal-base per --edge-base"),
    (["--api-base", "http://a", "--edge-base", "http://e", "--api-env", "/nonexistent.env", "--edge-env", "e"],
     "cannot read env file /nonexistent.env"),
])
def test_bad_usage_exits_2_or_names_the_problem_before_any_request(args, message):
    r = subprocess.run([str(VERIFY), *args], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and message in r.stderr, (r.returncode, r.stdout, r.stderr)
    assert not r.stdout.strip(), r.stdout  # no check ran
