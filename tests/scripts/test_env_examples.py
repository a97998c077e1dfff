"""The env example files against the sources (issue 14, run by `make check`): every
variable a role reads is listed in .env.local.example, .env.docker.example and
.env.production.example, nothing they list is read by nobody, the production
example comments every variable, and `rend env check`'s table knows exactly the
variables the sources read. Each rule is also run on a planted copy, so a scan that
silently matches nothing is caught here."""
from __future__ import annotations

import pathlib
import re
import shutil

import pytest

from checker_util import ROOT

NAME = r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+"
EXAMPLES = (".env.local.example", ".env.docker.example", ".env.production.example")
# Read by the service containers of compose.yml (postgres, minio, clickhouse), not by Rend.
CONTAINER_VARS = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD",
                  "CLICKHOUSE_DB", "CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT"}
# Read by `rend readiness`, an operator command run from a workstation or CI against a
# deployment (docs/launch-gate-v1.md), and by scripts/stack's reader in it: not by any
# role, so not in the roles' env files or `rend env check`.
OPERATOR_TOOL_VARS = {"REND_API_BASE_URL", "REND_READINESS_API_KEY", "REND_READINESS_EDGES",
                      "REND_READINESS_OUTPUT", "REND_READINESS_LATEST_OUTPUT", "REND_STACK_DIR"}
# The checker's own table (one "NAME" literal per row) is not a read.
CHECKER = "src/roles/env_check.cpp"


def is_test_source(p: pathlib.Path) -> bool:
    return p.name.endswith("_test.cpp") or "test_util" in p.name or "test_support" in p.name


def names_read(root: pathlib.Path) -> set:
    """Every env name the non-test C++ sources read: their NAME_LIKE_THIS string
    literals (settings name their variables as literals, some through a constant),
    the billing feature ids built from a prefix, and in the checker only its env.get*
    calls."""
    names = set()
    for p in sorted((root / "src").rglob("*")):
        if p.suffix not in (".cpp", ".h") or is_test_source(p):
            continue
        text = p.read_text(errors="replace")
        if p.relative_to(root).as_posix() == CHECKER:
            names.update(re.findall(r'\.get\w*\(\s*"(' + NAME + ')"', text))
            continue
        names.update(re.findall(r'"(' + NAME + ')"', text))
        # "REND_BILLING_FEATURE_" + upper(kind) + "_" + upper(tier) for the kinds it is
        # called with and the tiers of kTiers.
        if '"REND_BILLING_FEATURE_"' in text:
            kinds = re.findall(r'feature\("(\w+)", i\)', text)
            tiers_h = (p.parent / "settings.h").read_text()
            tiers = re.findall(r'"(\w+)"', re.search(r"kTiers = \{([^}]*)\}", tiers_h).group(1))
            assert kinds and tiers, f"{p}: the billing feature id pattern changed; update {__file__}"
            names.update(f"REND_BILLING_FEATURE_{k.upper()}_{t.upper()}" for k in kinds for t in tiers)
    return names - OPERATOR_TOOL_VARS


def listed(path: pathlib.Path) -> list:
    """(name, line number, the line above) of each active NAME=value line."""
    out, prev = [], ""
    for n, line in enumerate(path.read_text().splitlines(), 1):
        m = re.match(r"(" + NAME + ")=", line)
        if m:
            out.append((m.group(1), n, prev))
        prev = line
    return out


def checker_table(root: pathlib.Path) -> set:
    text = (root / CHECKER).read_text()
    table = text[text.index("const Var kVars[]"):]
    table = table[:table.index("};")]
    return set(re.findall(r'^\s*\{"(' + NAME + ')"', table, re.M))


def problems(root: pathlib.Path) -> list:
    read = names_read(root)
    dev_only = {n for n in read if n.startswith("REND_DEV_")}
    out = []
    for example in EXAMPLES:
        path = root / example
        rows = listed(path)
        names = [r[0] for r in rows]
        want = read if example == ".env.local.example" else read - dev_only
        for n in sorted(want - set(names)):
            out.append(f"{example}: {n} is read by the sources but not listed")
        extra = set(names) - read - (CONTAINER_VARS if example == ".env.docker.example" else set())
        for n in sorted(extra):
            out.append(f"{example}: {n} is listed but nothing reads it")
        for n in sorted({n for n in names if names.count(n) > 1}):
            out.append(f"{example}: {n} is listed twice")
        if example == ".env.production.example":
            for n, line, above in rows:
                if not above.startswith("# "):
                    out.append(f"{example}:{line}: {n} has no comment line above it")
    table = checker_table(root)
    for n in sorted(read - table):
        out.append(f"{CHECKER}: {n} is read by the sources but `rend env check` does not know it")
    for n in sorted(table - read):
        out.append(f"{CHECKER}: {n} is in the checker's table but nothing reads it")
    return out


def test_the_examples_and_the_checker_list_exactly_what_the_sources_read():
    read = names_read(ROOT)
    assert {"DATABASE_URL", "S3_ENDPOINT", "REND_PLAYER_EDGE_BASE_URLS", "REND_BILLING_FEATURE_STORAGE_4K",
            "REND_ENV", "REND_ALLOW_DEV_DEFAULTS", "REND_DEV_EDGE_LONDON_BIND_ADDR"} <= read, "the scan finds too little"
    assert "REND_TEST_POSTGRES_URL" not in read and "REND_REQUIRE_SERVICES" not in read
    assert problems(ROOT) == []


@pytest.fixture
def tree(tmp_path):
    shutil.copytree(ROOT / "src", tmp_path / "src")
    for example in EXAMPLES:
        shutil.copy(ROOT / example, tmp_path / example)
    return tmp_path


def test_a_new_variable_missing_from_the_examples_and_the_checker_fails(tree):
    f = tree / "src/edge/settings.cpp"
    f.write_text(f.read_text().replace('env.get_or("REND_EDGE_ID"', 'env.get_or("REND_EDGE_PLANTED", "");\n'
                                       '  c.edge_id = env.get_or("REND_EDGE_ID"', 1))
    out = problems(tree)
    assert out == [f"{e}: REND_EDGE_PLANTED is read by the sources but not listed" for e in EXAMPLES] + [
        f"{CHECKER}: REND_EDGE_PLANTED is read by the sources but `rend env check` does not know it"], out


def test_a_variable_nothing_reads_or_an_uncommented_one_fails(tree):
    p = tree / ".env.production.example"
    p.write_text(p.read_text() + "REND_NOBODY_READS_THIS=1\n")
    d = tree / ".env.docker.example"
    d.write_text(d.read_text().replace("REND_EDGE_ID=", "REND_EDGE_IDENTITY=", 1))
    out = problems(tree)
    assert out == [
        ".env.docker.example: REND_EDGE_ID is read by the sources but not listed",
        ".env.docker.example: REND_EDGE_IDENTITY is listed but nothing reads it",
        ".env.production.example: REND_NOBODY_READS_THIS is listed but nothing reads it",
        f".env.production.example:{len(listed(p))and listed(p)[-1][1]}: REND_NOBODY_READS_THIS has no comment "
        "line above it",
    ], out
