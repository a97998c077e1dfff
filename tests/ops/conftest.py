"""Fixtures of the operator-script tests: a throwaway git repository holding a copy of
the scripts, compose files and Dockerfile (so the scripts run exactly as in a checkout),
the stand-in `docker` (tests/ops/bin/docker) first on PATH, and its log."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STUB_BIN = Path(__file__).resolve().parent / "bin"
# What a release build and a deploy read from the tree.
COPIED = ["Dockerfile", ".gitignore", "scripts", "deploy"]


def git(repo, *args, check=True):
    return subprocess.run(["git", "-C", str(repo), *args], check=check, capture_output=True, text=True)


class Repo:
    def __init__(self, path, tmp):
        self.path = path
        self.log = tmp / "docker.log"
        self.state = tmp / "docker-state"
        self.env = dict(os.environ)
        self.env.update({
            # /usr/bin before version-manager shims: the scripts start python3 often.
            "PATH": f"{STUB_BIN}:/usr/bin:{os.environ['PATH']}",
            "DOCKER_STUB_LOG": str(self.log),
            "DOCKER_STUB_STATE": str(self.state),
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
        })
        # scripts/validate-production-env.sh finds rend through REND_BIN (the copy has no build/).
        if not self.env.get("REND_BIN") and (ROOT / "build" / "rend").exists():
            self.env["REND_BIN"] = str(ROOT / "build" / "rend")
        for k in [k for k in self.env if k.startswith("DOCKER_STUB_") and k not in ("DOCKER_STUB_LOG", "DOCKER_STUB_STATE")]:
            del self.env[k]

    def run(self, script, *args, env=None, timeout=60):
        e = dict(self.env)
        e.update(env or {})
        return subprocess.run([str(self.path / "scripts" / script), *args], cwd=self.path, env=e,
                              capture_output=True, text=True, timeout=timeout)

    def docker_calls(self):
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def git(self, *args, check=True):
        return git(self.path, *args, check=check)

    def files(self):
        """Every file under the repository (ignored ones too), but .git."""
        return sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*")
                      if ".git" not in p.relative_to(self.path).parts)


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "rend"
    path.mkdir()
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, path / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, path / name)
    r = Repo(path, tmp_path)
    r.git("init", "-q", "-b", "main")
    r.git("add", "-A")
    subprocess.run(["git", "-C", str(path), "commit", "-q", "-m", "release candidate"], env=r.env, check=True)
    return r


@pytest.fixture
def remote(repo, tmp_path):
    """A local bare repository as the repo's `origin` (nothing pushed yet)."""
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo.git("remote", "add", "origin", str(bare))
    return bare


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rend_bin():
    p = Path(os.environ.get("REND_BIN") or ROOT / "build" / "rend")
    if not p.is_absolute():
        p = ROOT / p
    if not p.exists():
        pytest.skip(f"{p} missing: build it (ninja -C build rend) or set REND_BIN")
    return p


EDGE_TOKEN = "edge-internal-token-for-ops-tests-0123456789"
TELEMETRY_TOKEN = "telemetry-token-for-ops-tests-0123456789abcd"


@pytest.fixture
def control_plane(tmp_path):
    """A real `rend api` on a free loopback port (embedded stores), with the edge and
    telemetry tokens set: what an edge host's preflight must reach."""
    import time
    import urllib.request
    port = free_port()
    data = tmp_path / "api-data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REND_", "DATABASE_URL", "S3_", "CLICKHOUSE_"))}
    env.update({"REND_API_BIND_ADDR": f"127.0.0.1:{port}", "REND_EDGE_INTERNAL_TOKEN": EDGE_TOKEN,
                "REND_INTERNAL_TELEMETRY_TOKEN": TELEMETRY_TOKEN})
    log = open(tmp_path / "api.log", "w")
    p = subprocess.Popen([str(rend_bin()), "api", "--data-dir", str(data)], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if p.poll() is not None or time.monotonic() > deadline:
            p.kill()
            raise RuntimeError("rend api did not become ready: " + (tmp_path / "api.log").read_text()[-2000:])
        time.sleep(0.05)
    yield base
    p.terminate()
    p.wait(10)
    log.close()


def release(repo, platform="linux/amd64", tag="production-001"):
    """A pushed release through the real script: the stand-in registry then serves it."""
    if not repo.git("remote", check=False).stdout.strip():
        bare = repo.path.parent / "origin.git"
        subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
        repo.git("remote", "add", "origin", str(bare))
    repo.git("push", "-q", "origin", "main")
    r = repo.run("release-images.sh", "--tag", tag, "--registry", "registry.example.com/rend",
                 "--platform", platform, "--push")
    assert r.returncode == 0, r.stderr
    return repo.path / ".rend" / "releases" / f"{tag}.json"
