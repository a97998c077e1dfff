"""The API's description and the numbers in its JSON (issue 16, "OpenAPI").

- docs/openapi.yaml is valid OpenAPI 3.1 (an npm validator,
  @seriousme/openapi-schema-validator, pinned in package.json) and the API serves it
  as JSON at /v1/openapi.json;
- every documented operation exists in the running binary (the router does not
  answer "no such route" or 405); that every registration in the code is documented
  is tests/scripts/test_openapi_routes.py (`make check`);
- every JSON answer the integration tests received from Rend (recorded by conftest.py)
  matches its documented schema: test_recorded_responses_match_the_document runs
  after every other test;
- JSON numbers: a double is written the way people and clients read it (`12`,
  `10.5`, `1`), never Boost's exponent form (`1.2E1`, `1E0`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from urllib.parse import urlsplit

import pytest
import requests

import conftest
from conftest import REPO_ROOT

VALIDATOR = REPO_ROOT / "node_modules" / "@seriousme" / "openapi-schema-validator" / "bin" / "validate-api-cli.js"
METHODS = ("get", "put", "post", "delete", "patch", "head")

# A JSON number with an exponent, as a value of any key.
EXPONENT_NUMBER = re.compile(r':\s*-?\d+(?:\.\d+)?[eE][-+]?\d+')


def test_asset_numbers_read_as_plain_numbers(rend, clips):
    asset_id = rend.upload(clips["h264_640x360"])
    rend.wait_status(asset_id, "hls_ready")
    for url in (f"{rend.api}/v1/assets/{asset_id}", f"{rend.api}/api/player/{asset_id}"):
        r = requests.get(url, headers=rend.auth(), timeout=10)
        assert r.status_code == 200, r.text
        raw = r.text
        assert not EXPONENT_NUMBER.search(raw), f"{url}: a number in exponent form: {raw}"
        # The finished asset's progress is exactly 1, written as the integer.
        assert re.search(r'"progress":1[,}]', raw), f"{url}: progress is not written as 1: {raw}"
        m = re.search(r'"duration_s":(-?[0-9.]+)[,}]', raw)
        assert m, f"{url}: duration_s is not a plain decimal number: {raw}"
        assert 9.5 <= float(m.group(1)) <= 10.5, raw


def load_document() -> dict:
    import yaml

    return yaml.safe_load((REPO_ROOT / "docs" / "openapi.yaml").read_text())


def test_the_api_serves_the_document_as_json(rend):
    r = requests.get(f"{rend.api}/v1/openapi.json", timeout=10)  # no key: the description is public
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    assert r.json() == load_document(), "the served document differs from docs/openapi.yaml (rebuild?)"


# --- the document itself ----------------------------------------------------------------------

def validate_with_npm(path) -> tuple:
    node = shutil.which("node")
    assert node, "node is not installed (scripts/bootstrap.sh installs it)"
    assert VALIDATOR.exists(), f"{VALIDATOR} is missing: run `npm ci` (scripts/bootstrap.sh does)"
    r = subprocess.run([node, str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def test_the_document_is_valid_openapi_3_1(tmp_path):
    doc = load_document()
    assert doc["openapi"].startswith("3.1."), doc["openapi"]
    rc, out = validate_with_npm(REPO_ROOT / "docs" / "openapi.yaml")
    assert rc == 0 and json.loads(out).get("valid") is True, out
    # The validator does catch a broken document (here: a response without its
    # required description).
    broken = dict(doc, paths=dict(doc["paths"], **{"/v1/account": {"get": {"responses": {"200": {"content": {}}}}}}))
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    rc, out = validate_with_npm(tmp_path / "broken.json")
    assert rc != 0 and json.loads(out).get("valid") is False, out


def operations(doc):
    """(template, method, roles, rest-of-path parameter names) of every documented operation."""
    for template, item in doc["paths"].items():
        roles = item.get("x-rend-role", ["api"])
        for method in METHODS:
            if method not in item:
                continue
            params = item.get("parameters", []) + item[method].get("parameters", [])
            rest = {p["name"] for p in params if p.get("x-rend-rest-of-path")}
            yield template, method, roles, rest


def test_every_documented_operation_exists_in_the_binary(rend):
    """Each documented (method, path) reaches a handler: the router's own answers for an
    unknown path (404 "no such route") or method (405) never come back."""
    doc = load_document()
    samples = {"artifact": "master.m3u8", "path": "master.m3u8"}
    probed = 0
    for template, method, roles, rest in operations(doc):
        path = re.sub(r"\{([^}]+)\}", lambda m: samples.get(m.group(1), "ast_0000000000000000000000000a"), template)
        for role in roles:
            base = rend.api if role == "api" else rend.edge
            r = requests.request(method.upper(), base + path, timeout=10, allow_redirects=False)
            probed += 1
            assert r.status_code != 405, f"{method.upper()} {template} ({role}): 405, the route has no such method"
            if r.status_code == 404 and method != "head":
                assert r.json()["error"]["message"] != "no such route", (
                    f"{method.upper()} {template} ({role}) is documented but the {role} has no such route")
    assert probed >= 28, probed


# --- recorded responses against their schemas -----------------------------------------------

def template_matcher(doc):
    """[(regex, template)], literal segments first, so /v1/assets/{id} never takes /v1/assets."""
    out = []
    for template, item in doc["paths"].items():
        rest = set()
        for _, _, _, r in (o for o in operations({"paths": {template: item}})):
            rest |= r
        rx = "^" + re.sub(r"\\\{([^}]+)\\\}", lambda m: "(.+)" if m.group(1) in rest else "([^/]+)",
                          re.escape(template)) + "$"
        out.append((re.compile(rx), template))
    out.sort(key=lambda t: t[1].count("{"))
    return out


def test_recorded_responses_match_the_document():
    from jsonschema import Draft202012Validator

    doc = load_document()
    matchers = template_matcher(doc)
    records = conftest.RECORDED_RESPONSES
    assert records, "no Rend JSON responses were recorded (conftest.py's hook)"
    errors, checked, per_key = [], 0, {}
    validators = {}
    for rec in records:
        path = urlsplit(rec["url"]).path
        template = next((t for rx, t in matchers if rx.match(path)), None)
        if template is None:
            continue  # a path no operation has (the router's 404): nothing documented to hold it to
        item = doc["paths"][template]
        op = item.get(rec["method"].lower())
        if op is None or rec["server"] not in item.get("x-rend-role", ["api"]):
            if rec["status"] in (404, 405):
                continue  # the router's answer for a method or server the path does not have
            errors.append(f"{rec['method']} {path} ({rec['server']}) -> {rec['status']}: not a documented operation")
            continue
        key = (rec["method"], template, rec["status"])
        per_key[key] = per_key.get(key, 0) + 1
        if per_key[key] > 30:
            continue  # enough of one kind
        resp = op["responses"].get(str(rec["status"])) or op["responses"].get("default")
        if resp is None:
            errors.append(f"{rec['method']} {template} -> {rec['status']}: status not documented")
            continue
        if "$ref" in resp:
            resp = doc["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
        schema = resp.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            errors.append(f"{rec['method']} {template} -> {rec['status']}: JSON body, none documented")
            continue
        vkey = json.dumps(schema, sort_keys=True)
        if vkey not in validators:
            validators[vkey] = Draft202012Validator({**schema, "components": doc["components"]})
        body = json.loads(rec["body"])
        for e in validators[vkey].iter_errors(body):
            path_in_body = "/".join(str(p) for p in e.absolute_path)
            errors.append(f"{rec['method']} {template} -> {rec['status']}: at /{path_in_body}: {e.message[:300]}")
        checked += 1
    assert not errors, f"{len(errors)} responses differ from docs/openapi.yaml:\n" + "\n".join(sorted(set(errors))[:60])
    assert checked >= 10, f"only {checked} recorded responses matched a documented operation"
