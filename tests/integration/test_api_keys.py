"""The `rend dev` key has every scope, operator included, even in a data dir whose
key was made before the operator scope existed, in the old key's account."""

from __future__ import annotations

import requests


def test_rend_dev_replaces_a_key_that_lacks_a_scope(server_factory):
    srv = server_factory("api-keys-old-dev-key", start=False)
    srv.data_dir.mkdir(parents=True, exist_ok=True)
    old = srv.create_key("all", name="rend dev")  # every customer scope, no operator
    (srv.data_dir / "api-key").write_text(old + "\n")
    srv.start()
    new = (srv.data_dir / "api-key").read_text().strip()
    assert new and new != old, "the old dev key was kept"
    r = requests.get(f"{srv.api}/v1/analytics/edges", headers=srv.auth(new), timeout=10)
    assert r.status_code == 200, r.text
    r = requests.get(f"{srv.api}/v1/analytics/edges", headers=srv.auth(old), timeout=10)
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope", r.text
    # The replacement joins the old key's account: what the old key uploaded stays visible.
    r = requests.post(f"{srv.api}/v1/uploads", json={}, headers=srv.auth(old), timeout=10)
    assert r.status_code == 201, r.text
    r = requests.get(f"{srv.api}/v1/assets/{r.json()['asset_id']}", headers=srv.auth(new), timeout=10)
    assert r.status_code == 200, r.text
