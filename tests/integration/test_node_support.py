"""Rend's npm packages must run on the Node.js that Debian 12 installs.

The README promises `make dev` and `make test` on a fresh Debian 12 machine, whose
`nodejs` is 18.20.4. Build machines often carry a newer Node, which hides a package
that dropped Node 18 (playwright-core 1.62+ refuses to start below Node 20). This
check reads every package's `engines.node` from package-lock.json, so a dependency
bump that leaves Node 18 behind fails here, on any machine.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEBIAN_12_NODE = (18, 20, 4)


def _version(text: str) -> tuple[tuple[int, ...], int]:
    """'18.2' -> ((18, 2, 0), 2): the version padded to three parts, and how many were given.
    'x' / '*' parts end the version (an x-range)."""
    parts: list[int] = []
    for p in text.lstrip("v=").split("."):
        if p in ("x", "X", "*", ""):
            break
        parts.append(int(re.match(r"\d+", p).group(0)))
    given = len(parts)
    return tuple(parts + [0] * (3 - len(parts)))[:3], given


def _comparator_ok(comp: str, v: tuple[int, ...]) -> bool:
    if comp in ("*", "x", ""):
        return True
    m = re.fullmatch(r"(>=|<=|>|<|\^|~|=)?\s*(\S+)", comp)
    assert m, f"unreadable engines comparator {comp!r}"
    op, ver = m.group(1) or "=", m.group(2)
    base, given = _version(ver)
    if op == ">=":
        return v >= base
    if op == ">":
        return v > base
    if op == "<=":
        return v <= base
    if op == "<":
        return v < base
    if op == "^":  # same left-most non-zero part
        first = next((i for i, x in enumerate(base) if x != 0), 2)
        upper = list(base[: first + 1])
        upper[-1] += 1
        return base <= v < tuple(upper + [0] * (3 - len(upper)))
    if op == "~":
        upper = list(base[: max(1, min(given, 2))])
        upper[-1] += 1
        return base <= v < tuple(upper + [0] * (3 - len(upper)))
    # "=" or a bare (possibly partial / x-range) version: every given part must match.
    return v[:given] == base[:given]


def satisfies(version: tuple[int, ...], spec: str) -> bool:
    """npm semver range check, enough for engines fields: `||` alternatives of
    space-separated comparators (`>= 8` with a space is normalised)."""
    for alt in spec.split("||"):
        alt = re.sub(r"(>=|<=|>|<|\^|~|=)\s+", r"\1", alt.strip())
        if all(_comparator_ok(c, version) for c in alt.split()):
            return True
    return False


def test_range_reader_reads_the_shapes_npm_uses():
    v = DEBIAN_12_NODE
    assert satisfies(v, ">=18") and satisfies(v, ">= 0.8") and satisfies(v, "*")
    assert not satisfies(v, ">=20") and not satisfies(v, ">= 20.0.0")
    assert satisfies(v, "^4.8.4 || ^6.10.1 || ^7.10.1 || >= 8.1.4")
    assert satisfies(v, ">=6 <7 || >=8") and not satisfies(v, ">=6 <7")
    assert satisfies(v, "^18.0.0") and not satisfies(v, "^20.9.0") and not satisfies(v, "~18.19")
    assert satisfies(v, "0.6.x || 18.x") and not satisfies(v, "16.x")


def test_every_locked_npm_package_supports_debian_12_node():
    lock = json.loads((REPO_ROOT / "package-lock.json").read_text())
    refused = []
    for name, pkg in lock.get("packages", {}).items():
        engines = pkg.get("engines")
        if isinstance(engines, dict) and "node" in engines:
            if not satisfies(DEBIAN_12_NODE, engines["node"]):
                refused.append(f"{name or '<root>'}: engines.node {engines['node']!r}")
    assert not refused, "packages that refuse Debian 12's Node 18.20.4:\n" + "\n".join(refused)


@pytest.mark.parametrize("field", ["dependencies", "devDependencies"])
def test_direct_dependencies_are_pinned(field):
    # Exact pins: `npm ci` on a fresh machine must install what this check read.
    pkg = json.loads((REPO_ROOT / "package.json").read_text())
    for name, spec in pkg.get(field, {}).items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", spec), f"{name} is not pinned to one version: {spec!r}"
