"""docs/openapi.yaml against the routes the code registers (`make check`, no build):
every `r.add(METHOD, PATTERN, ...)` / `r->add(...)` of the API (src/api) and the edge
(src/edge) is a documented operation, and every documented operation is registered.
tests/integration/test_openapi.py checks the same document against the running binary.

Router patterns: "{name}" is one segment, "{name*}" the rest of the path; the document
spells the latter as a parameter with `x-rend-rest-of-path: true`. Parameter names are
not compared (only their places)."""
import re

import yaml

from checker_util import ROOT

# HEAD and OPTIONS are usually the server's (HEAD falls back to GET, OPTIONS is CORS);
# a route that answers them itself (tus) registers them explicitly.
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
HTTP_METHOD = r'"(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS)"'
# A router registration with a literal method and pattern, on any receiver.
ADD_CALL = re.compile(r'(?:\.|->)add\(\s*' + HTTP_METHOD + r'\s*,\s*"([^"]+)"')
# Any add() on something named like a router (r, router, api_router, ...).
ANY_ADD = re.compile(r'\b(?:r|\w*router\w*)(?:\.|->)add\(', re.IGNORECASE)
ROLE_OF_FOLDER = {"api": "api", "edge": "edge"}


def registered(root=ROOT):
    """{(role, METHOD, normalized pattern)} from the sources (src/, tests excluded); fails
    on a registration it cannot read or one outside src/api and src/edge."""
    out = set()
    for f in sorted((root / "src").rglob("*.cpp")):
        rel = f.relative_to(root)
        if f.name.endswith("_test.cpp") or "testing" in rel.parts:
            continue
        text = f.read_text()
        found = ADD_CALL.findall(text)
        role = ROLE_OF_FOLDER.get(rel.parts[1])
        if role is None:
            assert not found, (f"{rel} registers routes {found}: routes belong in src/api or src/edge "
                               "(docs/architecture.md); if this is a new server, teach this check its role")
            continue
        calls = ANY_ADD.findall(text)
        assert len(found) == len(calls), (
            f"{rel}: {len(calls)} router add() calls but {len(found)} with a literal method and "
            "pattern; register routes as r.add(\"METHOD\", \"/pattern\", ...) so they can be checked")
        for method, pattern in found:
            assert method in METHODS, f"{rel}: unexpected method {method}"
            out.add((role, method, normalize_router(pattern)))
    return out


def normalize_router(pattern):
    return re.sub(r"\{[^}/]+\*\}", "{*}", re.sub(r"\{[^}/*]+\}", "{}", pattern))


def documented(doc):
    """{(role, METHOD, normalized template)} of docs/openapi.yaml; roles from x-rend-role (default api)."""
    out = set()
    for template, item in doc["paths"].items():
        rest = {p["name"] for p in item.get("parameters", []) if p.get("x-rend-rest-of-path")}
        for op_name, op in item.items():
            if op_name not in [m.lower() for m in METHODS]:
                continue
            rest |= {p["name"] for p in op.get("parameters", []) if p.get("x-rend-rest-of-path")}
            norm = re.sub(r"\{([^}/]+)\}", lambda m: "{*}" if m.group(1) in rest else "{}", template)
            for role in item.get("x-rend-role", ["api"]):
                if op_name == "head" and "get" in item:
                    continue  # HEAD is served wherever GET is (the router's fallback)
                out.add((role, op_name.upper(), norm))
    return out


def load_doc():
    return yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())


def test_every_registered_route_is_documented_and_every_documented_route_is_registered():
    reg, doc = registered(), documented(load_doc())
    assert len(reg) >= 25, f"found only {len(reg)} registrations: the pattern no longer matches the code?"
    assert not reg - doc, f"registered but not in docs/openapi.yaml: {sorted(reg - doc)}"
    assert not doc - reg, f"in docs/openapi.yaml but not registered: {sorted(doc - reg)}"


def test_a_new_registration_or_a_stale_document_is_caught(tmp_path):
    import shutil

    shutil.copytree(ROOT / "src", tmp_path / "src")
    f = tmp_path / "src/api/account.cpp"
    f.write_text(f.read_text().replace(
        '  r.add("GET", "/v1/account",',
        '  r.add("POST", "/v1/account/{id}/rename", [&d](http::Request& q) { return get_account(d, q); });\n'
        '  r.add("GET", "/v1/account",'))
    reg = registered(tmp_path)
    assert ("api", "POST", "/v1/account/{}/rename") in reg - documented(load_doc())
    doc = load_doc()
    del doc["paths"]["/v1/keys/{id}"]
    assert ("api", "DELETE", "/v1/keys/{}") in registered() - documented(doc)


def test_a_route_registered_outside_the_services_fails(tmp_path):
    import shutil

    import pytest

    shutil.copytree(ROOT / "src", tmp_path / "src")
    f = tmp_path / "src/billing/autumn_client.cpp"
    f.write_text(f.read_text() + '\nvoid planted(rend::http::Router& r) { r.add("GET", "/x", nullptr); }\n')
    with pytest.raises(AssertionError, match="routes belong in src/api or src/edge"):
        registered(tmp_path)


def test_a_registration_the_pattern_cannot_read_fails(tmp_path):
    import shutil

    import pytest

    shutil.copytree(ROOT / "src", tmp_path / "src")
    f = tmp_path / "src/api/account.cpp"
    f.write_text(f.read_text().replace('  r.add("GET", "/v1/account",', '  r.add(kMethod, "/v1/account",'))
    with pytest.raises(AssertionError, match="literal method and pattern"):
        registered(tmp_path)
