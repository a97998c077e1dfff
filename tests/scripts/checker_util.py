"""Shared by the tests of the static checkers in scripts/: run a checker over a tree,
a scratch copy of src/ to plant a fault in, and the planting itself."""
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run(script, root):
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / script), str(root)],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


@pytest.fixture
def tree(tmp_path):
    shutil.copytree(ROOT / "src", tmp_path / "src")
    return tmp_path


def plant(path, after_line_starting, text):
    """Inserts `text` after the first line starting with the given prefix; returns the
    1-based line number of the inserted text."""
    lines = path.read_text().splitlines(keepends=True)
    i = next(n for n, l in enumerate(lines) if l.startswith(after_line_starting))
    lines.insert(i + 1, text + "\n")
    path.write_text("".join(lines))
    return i + 2
