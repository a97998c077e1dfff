"""Accounts own API keys and assets (issue 12): any unrevoked key of an account sees
and manages all of the account's assets, revoking the key that uploaded an asset
loses nothing, and another account's asset is 404. The CLI creates accounts and
keys, lists keys without secrets, and revokes them. Runs the real `rend` binary on
SQLite and, when available, on the Postgres service."""

from __future__ import annotations

import hashlib
import re
import subprocess

import pytest
import requests

from conftest import REPO_ROOT, backends, rend_bin, services_env

ACCOUNT_ID = re.compile(r"^acc_[a-z2-7]{26}$")


@pytest.fixture(scope="module", params=backends())
def srv(request, server_factory):
    services = request.param == "services"
    s = server_factory(f"accounts-{request.param}", extra_env=services_env() if services else None, start=False)
    s.backend = request.param
    return s.start()


def cli(srv, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(rend_bin()), *args, "--data-dir", str(srv.data_dir)], env=srv.env(),
                          capture_output=True, text=True, timeout=30, cwd=str(REPO_ROOT))


def create_account(srv, name: str) -> str:
    r = cli(srv, "accounts", "create", "--name", name)
    assert r.returncode == 0, r.stderr
    assert ACCOUNT_ID.match(r.stdout.strip()), r.stdout
    return r.stdout.strip()


def create_key(srv, account: str, scopes: str = "all", name: str = "k") -> str:
    r = cli(srv, "keys", "create", "--account", account, "--scopes", scopes, "--name", name)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def list_keys(srv, *extra: str) -> list[dict]:
    r = cli(srv, "keys", "list", *extra)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split("\t") == ["ID", "ACCOUNT", "NAME", "SCOPES", "CREATED", "REVOKED"], r.stdout
    return [dict(zip(["id", "account", "name", "scopes", "created", "revoked"], line.split("\t"))) for line in lines[1:]]


def account_of(srv, key: str) -> dict:
    r = requests.get(f"{srv.api}/v1/account", headers=srv.auth(key), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def key_id_of(srv, key: str, account: str) -> str:
    """The id of the key just created in `account` (the newest one)."""
    return list_keys(srv, "--account", account)[-1]["id"]


def new_asset(srv, key: str, visibility: str = "private") -> str:
    r = requests.post(f"{srv.api}/v1/uploads", json={"visibility": visibility}, headers=srv.auth(key), timeout=10)
    assert r.status_code == 201, r.text
    return r.json()["asset_id"]


def listed(srv, key: str) -> list[str]:
    r = requests.get(f"{srv.api}/v1/assets", params={"limit": 100}, headers=srv.auth(key), timeout=10)
    assert r.status_code == 200, r.text
    return [a["id"] for a in r.json()["data"]]


# --- API ---------------------------------------------------------------------------

def test_get_account_names_the_keys_account_and_its_billing_customer(srv):
    acc = create_account(srv, "Acme Video")
    key = create_key(srv, acc, scopes="read")
    body = account_of(srv, key)
    assert body["id"] == acc
    assert body["name"] == "Acme Video"
    assert body["created_at"].endswith("Z")
    assert body["billing"] == {"mode": "local", "customer_id": acc}
    r = requests.get(f"{srv.api}/v1/account", timeout=10)
    assert r.status_code == 401, r.text


def test_two_keys_of_one_account_see_and_manage_each_others_assets(srv, clips):
    acc = create_account(srv, "two keys")
    first, second = create_key(srv, acc, name="first"), create_key(srv, acc, name="second")
    # A real clip from the first key, so playback works too.
    srv_key = srv.api_key
    srv.api_key = first
    try:
        played = srv.upload(clips["h264_640x360"], visibility="private")
        srv.wait_status(played, {"playable", "hls_ready"})
    finally:
        srv.api_key = srv_key
    by_second = new_asset(srv, second)

    for key in (first, second):
        assert set(listed(srv, key)) == {played, by_second}
        for asset in (played, by_second):
            r = requests.get(f"{srv.api}/v1/assets/{asset}", headers=srv.auth(key), timeout=10)
            assert r.status_code == 200, r.text
    r = requests.post(f"{srv.api}/v1/assets/{played}/playback", headers=srv.auth(second), timeout=10)
    assert r.status_code == 200, r.text
    r = requests.get(f"{srv.api}/api/player/{played}", headers=srv.auth(second), timeout=10)
    assert r.status_code == 200 and r.json()["playable"], r.text
    r = requests.get(f"{srv.api}/v1/analytics/assets/{played}", headers=srv.auth(second), timeout=10)
    assert r.status_code == 200 and r.json()["asset_id"] == played, r.text
    r = requests.delete(f"{srv.api}/v1/assets/{by_second}", headers=srv.auth(first), timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "deleted", r.text
    assert listed(srv, second) == [played]


def test_revoking_the_uploader_key_loses_nothing(srv):
    acc = create_account(srv, "rotating")
    uploader = create_key(srv, acc, name="old")
    uploader_id = key_id_of(srv, uploader, acc)
    asset = new_asset(srv, uploader)
    replacement = create_key(srv, acc, name="new")

    r = cli(srv, "keys", "revoke", uploader_id)
    assert r.returncode == 0, r.stderr
    r = requests.get(f"{srv.api}/v1/assets", headers=srv.auth(uploader), timeout=10)
    assert r.status_code == 401, r.text
    assert listed(srv, replacement) == [asset]
    r = requests.get(f"{srv.api}/v1/assets/{asset}", headers=srv.auth(replacement), timeout=10)
    assert r.status_code == 200, r.text


def test_a_key_of_another_account_gets_404(srv):
    mine = create_key(srv, create_account(srv, "mine"))
    theirs = create_key(srv, create_account(srv, "theirs"))
    asset = new_asset(srv, mine)
    assert asset not in listed(srv, theirs)
    h = srv.auth(theirs)
    assert requests.get(f"{srv.api}/v1/assets/{asset}", headers=h, timeout=10).status_code == 404
    assert requests.post(f"{srv.api}/v1/assets/{asset}/playback", headers=h, timeout=10).status_code == 404
    assert requests.get(f"{srv.api}/v1/analytics/assets/{asset}", headers=h, timeout=10).status_code == 404
    assert requests.get(f"{srv.api}/api/player/{asset}", headers=h, timeout=10).status_code == 403
    assert requests.delete(f"{srv.api}/v1/assets/{asset}", headers=h, timeout=10).status_code == 404
    r = requests.get(f"{srv.api}/v1/assets/{asset}", headers=srv.auth(mine), timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "waiting_upload", r.text


# --- CLI ---------------------------------------------------------------------------

def test_accounts_create_prints_only_the_id_and_needs_a_name(srv):
    r = cli(srv, "accounts", "create", "--name", "printed")
    assert r.returncode == 0, r.stderr
    assert ACCOUNT_ID.match(r.stdout.strip()) and len(r.stdout.splitlines()) == 1, r.stdout
    created = r.stdout.strip()
    r = cli(srv, "accounts", "list")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].split("\t") == ["ID", "NAME", "CREATED"], r.stdout
    assert any(line.split("\t")[:2] == [created, "printed"] for line in r.stdout.splitlines()), r.stdout
    for bad in (["accounts", "create"], ["accounts", "create", "--name", ""], ["accounts", "create", "--nam", "x"],
                ["accounts", "create", "--name", "two\nlines"], ["accounts", "create", "--name", "a\tb"],
                ["accounts", "create", "--name", "x", "--scopes", "all"]):
        before = cli(srv, "accounts", "list").stdout
        r = cli(srv, *bad)
        assert r.returncode == 2, (bad, r.stdout, r.stderr)
        assert r.stdout == "", (bad, r.stdout)
        assert cli(srv, "accounts", "list").stdout == before, f"{bad} created an account"


def test_keys_list_shows_every_field_but_never_the_secret_or_its_hash(srv):
    acc = create_account(srv, "listed")
    secret = create_key(srv, acc, scopes="read,upload", name="ci deploy")
    rows = list_keys(srv, "--account", acc)
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["id"].startswith("key_") and row["account"] == acc and row["name"] == "ci deploy", row
    assert row["scopes"] == "read,upload" and row["created"].endswith("Z") and row["revoked"] == "-", row
    everything = cli(srv, "keys", "list").stdout
    assert row["id"] in everything
    for listing in (everything, cli(srv, "keys", "list", "--account", acc).stdout):
        assert secret not in listing
        assert hashlib.sha256(secret.encode()).hexdigest() not in listing

    r = cli(srv, "keys", "revoke", row["id"])
    assert r.returncode == 0, r.stderr
    assert list_keys(srv, "--account", acc)[0]["revoked"].endswith("Z")
    r = cli(srv, "keys", "revoke", row["id"])
    assert r.returncode == 0 and "already revoked" in r.stdout, (r.stdout, r.stderr)


def test_keys_create_without_account_makes_an_account_of_its_own(srv):
    before = {row["account"] for row in list_keys(srv)}
    secret = srv.create_key("read", name="solo")  # conftest: no --account, as before accounts
    acc = account_of(srv, secret)
    assert acc["id"] not in before and acc["name"] == "solo", acc
    assert [row["name"] for row in list_keys(srv, "--account", acc["id"])] == ["solo"]
    r = subprocess.run([str(rend_bin()), "--help"], capture_output=True, text=True, timeout=30)
    assert "without --account" in r.stdout, r.stdout


def test_unknown_account_or_key_is_exit_2_and_creates_nothing(srv):
    keys_before = cli(srv, "keys", "list").stdout
    accounts_before = cli(srv, "accounts", "list").stdout
    missing = "acc_" + "a" * 26
    for args in (["keys", "create", "--account", missing, "--scopes", "read"],
                 ["keys", "create", "--account", "not an id", "--scopes", "read"],
                 ["keys", "list", "--account", missing]):
        r = cli(srv, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stdout == "", (args, r.stdout)
        assert "no account" in r.stderr, (args, r.stderr)
    for args in (["keys", "create", "--acount", missing], ["keys", "create", "--account"],
                 ["keys", "create", "--name", "tab\there"],
                 ["keys", "revoke"], ["keys", "revoke", "--data-dir"], ["keys", "rotate"]):
        r = cli(srv, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
    r = cli(srv, "keys", "revoke", "key_" + "b" * 26)
    assert r.returncode == 2 and "no API key" in r.stderr, (r.stdout, r.stderr)
    assert cli(srv, "keys", "list").stdout == keys_before
    assert cli(srv, "accounts", "list").stdout == accounts_before


def test_get_account_reports_the_billing_mode_the_api_runs_in(server_factory):
    """REND_BILLING_MODE reaches GET /v1/account (the Autumn customer is the account)."""
    from autumn_double import AutumnDouble
    double = AutumnDouble(keys=["am_sk_test_rend_account_mode"]).start()
    try:
        s = server_factory("accounts-billing-mode", extra_env={
            "REND_BILLING_MODE": "autumn", "AUTUMN_SECRET_KEY": "am_sk_test_rend_account_mode",
            "AUTUMN_API_URL": double.url})
        acc = create_account(s, "Billed Co")
        key = create_key(s, acc, scopes="read")
        assert account_of(s, key)["billing"] == {"mode": "autumn", "customer_id": acc}
    finally:
        double.stop()
