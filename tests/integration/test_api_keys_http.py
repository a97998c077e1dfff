"""API keys managed over the API (issue 16, "Keys over the API"): POST/GET/DELETE /v1/keys.

A key with the `keys` scope creates keys of its own account holding at most its own
scopes (the secret is shown once), lists them (never a secret or a hash) and revokes
them; a revoke is effective at once on every API process, and a revoked key's
assets stay with the account.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
import requests

from conftest import REPO_ROOT, backends, free_port, rend_bin, services_env
from edgeproc import RendProcess


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def create(rend, caller: str, body) -> requests.Response:
    return requests.post(f"{rend.api}/v1/keys", json=body, headers=bearer(caller), timeout=10)


def listed(rend, caller: str) -> list:
    r = requests.get(f"{rend.api}/v1/keys", headers=bearer(caller), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def error_code(r: requests.Response) -> str:
    return r.json()["error"]["code"]


def test_create_shows_the_secret_once_and_the_key_works(rend):
    r = create(rend, rend.api_key, {"name": "ci deploys", "scopes": ["upload", "read"]})
    assert r.status_code == 201, r.text
    j = r.json()
    assert j["id"].startswith("key_") and j["name"] == "ci deploys", j
    assert j["scopes"] == ["read", "upload"], j
    assert j["secret"].startswith("rend_sk_"), j
    assert isinstance(j["created_at"], str) and j["revoked_at"] is None, j
    # The new key acts for the same account: it reads and uploads, but has no delete.
    assert requests.get(f"{rend.api}/v1/assets", headers=bearer(j["secret"]), timeout=10).status_code == 200
    assert requests.post(f"{rend.api}/v1/uploads", json={}, headers=bearer(j["secret"]), timeout=10).status_code == 201
    r = requests.get(f"{rend.api}/v1/keys", headers=bearer(j["secret"]), timeout=10)
    assert r.status_code == 403 and error_code(r) == "insufficient_scope", r.text

    # Listed without the secret or its hash, ever.
    r = requests.get(f"{rend.api}/v1/keys", headers=bearer(rend.api_key), timeout=10)
    assert r.status_code == 200, r.text
    assert j["secret"] not in r.text
    mine = [k for k in r.json()["data"] if k["id"] == j["id"]]
    assert len(mine) == 1, r.text
    assert set(mine[0]) == {"id", "name", "scopes", "created_at", "revoked_at"}, mine[0]
    assert mine[0]["scopes"] == ["read", "upload"] and mine[0]["revoked_at"] is None, mine[0]


def test_a_key_grants_at_most_the_scopes_it_holds(rend):
    manager = create(rend, rend.api_key, {"name": "manager", "scopes": ["keys", "read"]}).json()["secret"]
    before = len(listed(rend, rend.api_key))
    for scopes in (["upload"], ["read", "delete"], ["operator"], ["keys", "analytics"]):
        r = create(rend, manager, {"name": "escalate", "scopes": scopes})
        assert r.status_code == 403 and error_code(r) == "scope_not_held", (scopes, r.text)
    r = create(rend, manager, {"name": "reader", "scopes": ["read"]})
    assert r.status_code == 201, r.text
    assert len(listed(rend, rend.api_key)) == before + 1, "a refused request created a key"
    # The rend dev key holds every scope, operator included, so it may grant it.
    assert create(rend, rend.api_key, {"name": "op", "scopes": ["operator"]}).status_code == 201


def test_without_the_keys_scope_nothing_is_managed(rend):
    reader = create(rend, rend.api_key, {"name": "reader", "scopes": ["read", "upload", "delete"]}).json()
    for method, path, body in (("POST", "/v1/keys", {"name": "x", "scopes": ["read"]}), ("GET", "/v1/keys", None),
                               ("DELETE", f"/v1/keys/{reader['id']}", None)):
        r = requests.request(method, rend.api + path, json=body, headers=bearer(reader["secret"]), timeout=10)
        assert r.status_code == 403 and error_code(r) == "insufficient_scope", (method, path, r.text)
    r = requests.get(f"{rend.api}/v1/keys", timeout=10)
    assert r.status_code == 401, r.text


@pytest.mark.parametrize("body, code", [
    ({"name": "x", "scopes": ["read", "admin"]}, "invalid_scope"),
    ({"name": "x", "scopes": ["all"]}, "invalid_scope"),
    ({"name": "x", "scopes": []}, "invalid_scope"),
    ({"name": "x", "scopes": "read"}, "invalid_scope"),
    ({"name": "x", "scopes": [1]}, "invalid_scope"),
    ({"name": "x"}, "invalid_scope"),
    ({"name": 7, "scopes": ["read"]}, "invalid_name"),
    ({"name": "x" * 201, "scopes": ["read"]}, "invalid_name"),
    ({"name": "line\nbreak", "scopes": ["read"]}, "invalid_name"),
    ([], "invalid_json"),
])
def test_bad_requests_are_refused_and_create_nothing(rend, body, code):
    before = len(listed(rend, rend.api_key))
    r = create(rend, rend.api_key, body)
    assert r.status_code == 400 and error_code(r) == code, r.text
    assert len(listed(rend, rend.api_key)) == before


def test_another_accounts_keys_are_invisible_and_untouchable(rend):
    stranger = rend.create_key("all", name="stranger")  # a key of a new account
    stranger_keys = listed(rend, stranger)
    assert [k["name"] for k in stranger_keys] == ["stranger"], stranger_keys
    mine = {k["id"] for k in listed(rend, rend.api_key)}
    assert stranger_keys[0]["id"] not in mine
    r = requests.delete(f"{rend.api}/v1/keys/{stranger_keys[0]['id']}", headers=bearer(rend.api_key), timeout=10)
    assert r.status_code == 404 and error_code(r) == "not_found", r.text
    assert requests.get(f"{rend.api}/v1/assets", headers=bearer(stranger), timeout=10).status_code == 200
    for bad in ("key_doesnotexist", "nonsense", "%2e%2e"):
        r = requests.delete(f"{rend.api}/v1/keys/{bad}", headers=bearer(rend.api_key), timeout=10)
        assert r.status_code == 404, (bad, r.text)


def test_revoke_is_immediate_and_the_keys_assets_stay_with_the_account(rend):
    k = create(rend, rend.api_key, {"name": "short-lived", "scopes": ["upload", "read"]}).json()
    up = requests.post(f"{rend.api}/v1/uploads", json={}, headers=bearer(k["secret"]), timeout=10)
    assert up.status_code == 201, up.text
    asset_id = up.json()["asset_id"]

    r = requests.delete(f"{rend.api}/v1/keys/{k['id']}", headers=bearer(rend.api_key), timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == k["id"] and isinstance(r.json()["revoked_at"], str), r.text
    assert "secret" not in r.json()
    revoked_at = r.json()["revoked_at"]
    r = requests.get(f"{rend.api}/v1/assets", headers=bearer(k["secret"]), timeout=10)
    assert r.status_code == 401, r.text
    # Revoking again is not an error: the key is revoked, as asked; the time stays.
    again = requests.delete(f"{rend.api}/v1/keys/{k['id']}", headers=bearer(rend.api_key), timeout=10)
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked_at, again.text
    listed_k = [x for x in listed(rend, rend.api_key) if x["id"] == k["id"]][0]
    assert listed_k["revoked_at"] is not None, listed_k

    # The asset it uploaded is the account's: another of its keys still reads it.
    r = requests.get(f"{rend.api}/v1/assets/{asset_id}", headers=bearer(rend.api_key), timeout=10)
    assert r.status_code == 200 and r.json()["id"] == asset_id, r.text


@pytest.mark.parametrize("backend", backends())
def test_revoke_on_one_api_process_is_refused_at_once_on_another(tmp_path, backend):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REND_", "S3_", "CLICKHOUSE_", "AUTUMN_")) and k != "DATABASE_URL"}
    if backend == "services":
        env.update(services_env())
    dd = ["--data-dir", str(tmp_path / "data")]
    manager = subprocess.run([str(rend_bin()), "keys", "create", "--scopes", "keys,read", "--name", "m", *dd],
                             env=env, capture_output=True, text=True, check=True, cwd=str(REPO_ROOT)).stdout.strip()
    apis = []
    try:
        for i in (1, 2):
            port = free_port()
            p = RendProcess(f"api{i}", ["api", *dd], tmp_path / f"api{i}.log")
            p.start({**env, "REND_API_BIND_ADDR": f"127.0.0.1:{port}"}, f"http://127.0.0.1:{port}/readyz")
            apis.append((p, f"http://127.0.0.1:{port}"))
        (_, a), (_, b) = apis
        k = requests.post(f"{a}/v1/keys", json={"name": "victim", "scopes": ["read"]}, headers=bearer(manager),
                          timeout=10).json()
        # Both processes have seen (and, were there a cache, cached) the key.
        for url in (a, b):
            assert requests.get(f"{url}/v1/assets", headers=bearer(k["secret"]), timeout=10).status_code == 200
        r = requests.delete(f"{a}/v1/keys/{k['id']}", headers=bearer(manager), timeout=10)
        assert r.status_code == 200, r.text
        t0 = time.monotonic()
        r = requests.get(f"{b}/v1/assets", headers=bearer(k["secret"]), timeout=10)
        assert r.status_code == 401, f"the other API process still accepts a revoked key: {r.status_code} {r.text}"
        assert time.monotonic() - t0 < 5
    finally:
        for p, _ in apis:
            p.stop()
