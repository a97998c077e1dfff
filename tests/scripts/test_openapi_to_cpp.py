"""cmake/openapi_to_cpp.py (the build's YAML -> embedded JSON step): the real document
converts to a C++ literal that holds exactly its JSON, and a document whose JSON would
not say what its YAML says (a key repeated in one mapping, which PyYAML would
silently resolve to the last) fails the build with the line."""
import json
import re
import subprocess
import sys

import yaml

from checker_util import ROOT

TOOL = ROOT / "cmake" / "openapi_to_cpp.py"


def convert(src, out):
    r = subprocess.run([sys.executable, str(TOOL), str(src), str(out)], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def test_the_document_converts_to_its_json(tmp_path):
    out = tmp_path / "doc.cpp"
    rc, msg = convert(ROOT / "docs" / "openapi.yaml", out)
    assert rc == 0, msg
    cpp = out.read_text()
    assert cpp.isascii(), "the generated source must be ASCII (pieces never split a UTF-8 sequence)"
    text = "".join(re.findall(r'R"rend_openapi\((.*?)\)rend_openapi"', cpp, re.S))
    assert json.loads(text) == yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())


def test_a_repeated_key_fails_with_its_line(tmp_path):
    src = tmp_path / "dup.yaml"
    src.write_text("openapi: 3.1.0\ninfo:\n  title: a\n  title: b\npaths: {}\n")
    rc, msg = convert(src, tmp_path / "dup.cpp")
    assert rc != 0 and "repeated" in msg and "line 4" in msg, msg
    assert not (tmp_path / "dup.cpp").exists()


def test_a_value_json_cannot_carry_fails(tmp_path):
    src = tmp_path / "date.yaml"
    src.write_text("openapi: 3.1.0\ninfo:\n  version: 2026-12-06\n")  # an unquoted date: not a string
    rc, msg = convert(src, tmp_path / "date.cpp")
    assert rc != 0 and "JSON cannot carry" in msg, msg
