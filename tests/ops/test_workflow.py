""".github/workflows/release-deploy.yml: Debian 12 has no actionlint, so the workflow is
parsed as YAML and its job graph and step order checked against the runbook."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WF = ROOT / ".github" / "workflows" / "release-deploy.yml"
# Written by other parts of the tree (issue 14); referenced here by their agreed paths.
OTHER_HELPERS = {"scripts/sync-deploy-env.sh", "scripts/validate-production-env.sh",
                 "scripts/verify-first-host-deploy.sh"}


def load():
    wf = yaml.safe_load(WF.read_text())
    # YAML 1.1 reads the key `on` as true.
    wf["on"] = wf.pop(True, wf.get("on"))
    return wf


def runs(job):
    return [s.get("run", "") for s in job["steps"] if "run" in s]


def first(runs_, needle):
    return next(i for i, r in enumerate(runs_) if needle in r)


def test_jobs_run_in_dependency_order():
    jobs = load()["jobs"]
    assert set(jobs) == {"release", "control-plane", "edge", "worker", "verify"}
    need = {k: v.get("needs") for k, v in jobs.items()}
    assert need == {"release": None, "control-plane": "release", "edge": "control-plane", "worker": "edge",
                    "verify": "worker"}
    assert jobs["edge"]["strategy"]["matrix"]["region"] == ["us-east", "london"]
    assert jobs["edge"]["strategy"]["max-parallel"] == 1
    assert load()["on"]["workflow_dispatch"]["inputs"]["tag"]["required"] is True


def test_each_host_syncs_validates_preflights_dry_runs_then_deploys():
    jobs = load()["jobs"]
    cp = runs(jobs["control-plane"])
    order = [first(cp, n) for n in ("sync-deploy-env.sh", "validate-production-env.sh --role control-plane",
                                     "preflight-control-plane-host.sh", "deploy-control-plane-host.sh")]
    assert order == sorted(order)
    dry = [i for i, r in enumerate(cp) if "deploy-control-plane-host.sh" in r]
    assert len(dry) == 2 and "--dry-run" in cp[dry[0]] and "--dry-run" not in cp[dry[1]]
    assert all("--services api" in cp[i] for i in dry)
    worker = runs(jobs["worker"])
    assert len(worker) == 2 and all("deploy-control-plane-host.sh" in r and "--services worker" in r for r in worker)
    assert "--dry-run" in worker[0] and "--dry-run" not in worker[1]
    edge = runs(jobs["edge"])
    order = [first(edge, n) for n in ("validate-production-env.sh --role edge-host", "preflight-edge-host.sh",
                                       "deploy-edge-host.sh")]
    assert order == sorted(order)
    dry = [i for i, r in enumerate(edge) if "deploy-edge-host.sh" in r]
    assert len(dry) == 2 and "--dry-run" in edge[dry[0]] and "--dry-run" not in edge[dry[1]]
    rel = runs(jobs["release"])
    assert any("release-images.sh" in r and "--push" in r for r in rel)
    verify = " ".join(runs(jobs["verify"]))
    assert verify.count("--edge-base") == 2 and verify.count("--edge-internal-base") == 2


def test_scripts_exist_and_no_expression_is_spliced_into_a_shell():
    wf = load()
    for job in wf["jobs"].values():
        for step in job["steps"]:
            run = step.get("run", "")
            assert "${{" not in run, f"expression inside run: {run!r} (pass it through env)"
            for script in re.findall(r"scripts/[\w./-]+\.sh", run):
                assert (ROOT / script).exists() or script in OTHER_HELPERS, script
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]
    # Secrets only in steps' env, never in a job-wide env.
    assert "secrets." not in yaml.safe_dump(wf.get("env", {}))
