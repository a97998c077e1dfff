"""The operator scripts pass shellcheck (bootstrap --test installs it)."""
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ["release-images.sh", "preflight-control-plane-host.sh", "preflight-edge-host.sh",
           "deploy-control-plane-host.sh", "deploy-edge-host.sh", "lib/ops.sh"]


def test_operator_scripts_pass_shellcheck():
    r = subprocess.run(["shellcheck", "-x", *SCRIPTS], cwd=ROOT / "scripts", capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
