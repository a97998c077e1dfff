"""deploy/compose.*.yml as Debian's docker-compose renders them: digest images only,
migration before the API, the worker after it without migrating, private ports, and
node-local edge volumes."""
import os
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "ab" * 32
ENV = {
    "REND_API_IMAGE": f"r.example.com/rend/rend-api@{DIGEST}",
    "REND_MEDIA_WORKER_IMAGE": f"r.example.com/rend/rend-media-worker@{DIGEST}",
    "REND_EDGE_IMAGE": f"r.example.com/rend/rend-edge@{DIGEST}",
    "REND_API_ENV_FILE": str(ROOT / ".env.docker.example"),
    "REND_WORKER_ENV_FILE": str(ROOT / ".env.docker.example"),
    "REND_EDGE_ENV_FILE": str(ROOT / ".env.docker.example"),
}


def render(name, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REND_")}
    env.update(ENV)
    env.update(extra)
    r = subprocess.run(["docker-compose", "-f", str(ROOT / "deploy" / name), "config"], env=env,
                       capture_output=True, text=True)
    return r, (yaml.safe_load(r.stdout) if r.returncode == 0 else None)


def host_ips(service):
    out = []
    for p in service.get("ports", []):
        out.append(p.get("host_ip") if isinstance(p, dict) else str(p).rsplit(":", 2)[0] if str(p).count(":") >= 2 else None)
    return out


def test_control_plane_migrates_then_serves_then_starts_the_worker():
    r, c = render("compose.control-plane.yml")
    assert r.returncode == 0, r.stderr
    s = c["services"]
    assert set(s) == {"rend-api-migrate", "rend-api", "rend-media-worker"}
    assert s["rend-api-migrate"]["image"] == ENV["REND_API_IMAGE"]
    assert s["rend-api-migrate"]["command"][:2] == ["rend", "migrate"]
    assert s["rend-api-migrate"]["environment"]["REND_API_AUTO_MIGRATE"] == "true"
    assert s["rend-api"]["depends_on"] == {"rend-api-migrate": {"condition": "service_completed_successfully"}}
    assert s["rend-api"]["image"] == ENV["REND_API_IMAGE"]
    assert s["rend-media-worker"]["image"] == ENV["REND_MEDIA_WORKER_IMAGE"]
    assert s["rend-media-worker"]["environment"]["REND_API_AUTO_MIGRATE"] == "false"
    assert s["rend-media-worker"]["depends_on"] == {"rend-api": {"condition": "service_healthy"}}
    assert host_ips(s["rend-api"]) == ["127.0.0.1"]
    assert "ports" not in s["rend-media-worker"] and "ports" not in s["rend-api-migrate"]


def test_edge_has_private_ports_and_node_local_cache_and_spool():
    r, c = render("compose.edge.yml", REND_EDGE_CACHE_HOST_DIR="/srv/c", REND_EDGE_SPOOL_HOST_DIR="/srv/s")
    assert r.returncode == 0, r.stderr
    e = c["services"]["rend-edge"]
    assert e["image"] == ENV["REND_EDGE_IMAGE"]
    assert host_ips(e) == ["127.0.0.1", "127.0.0.1"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in e["volumes"]} if isinstance(e["volumes"][0], str) else \
        {v["target"]: v["source"] for v in e["volumes"]}
    assert mounts == {"/var/cache/rend/edge": "/srv/c", "/var/lib/rend/telemetry-spool": "/srv/s"}
    assert e["environment"]["REND_EDGE_CACHE_DIR"] == "/var/cache/rend/edge"
    assert e["environment"]["REND_EDGE_TELEMETRY_SPOOL_DIR"] == "/var/lib/rend/telemetry-spool"
    assert e["environment"]["REND_EDGE_INTERNAL_BIND_ADDR"].endswith(":4190")
    r, c = render("compose.edge.yml", REND_EDGE_INTERNAL_PUBLISH_ADDR="10.0.10.12")
    assert host_ips(c["services"]["rend-edge"]) == ["127.0.0.1", "10.0.10.12"]


def test_no_image_is_a_literal_or_a_mutable_tag():
    for name in ("compose.control-plane.yml", "compose.edge.yml"):
        raw = yaml.safe_load((ROOT / "deploy" / name).read_text())
        for svc in raw["services"].values():
            assert svc["image"].startswith("${REND_") and ":?" in svc["image"], svc["image"]
        r, _ = render(name, REND_API_IMAGE="", REND_MEDIA_WORKER_IMAGE="", REND_EDGE_IMAGE="")
        assert r.returncode != 0 and "release manifest" in r.stderr
