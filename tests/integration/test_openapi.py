"""The API's description and the numbers in its JSON (issue 16, "OpenAPI").

JSON numbers: a double is written the way people and clients read it (`12`, `10.5`,
`1`), never Boost's exponent form (`1.2E1`, `1E0`).
"""

from __future__ import annotations

import re

import requests

from conftest import REPO_ROOT

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
