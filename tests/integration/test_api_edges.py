"""The edge registry over HTTP: a live edge's id cannot be taken by another URL or
region, a stale one can, and the registry is bounded (SPEC §6)."""

from __future__ import annotations

import time

import pytest
import requests


@pytest.fixture(scope="module")
def reg(server_factory):
    # Window 2 s, the dev edge beats every second; room for three edge ids.
    return server_factory("api-edges", extra_env={"REND_EDGE_ACTIVE_HEARTBEAT_WINDOW_SECS": "2",
                                                  "REND_EDGE_HEARTBEAT_INTERVAL_SECS": "1",
                                                  "REND_EDGE_REGISTRY_MAX_EDGES": "3"})


def beat(srv, edge_id, url, region="eu"):
    return requests.post(f"{srv.api}/internal/edges/heartbeat", timeout=10,
                         headers={"Authorization": f"Bearer {srv.internal_token}"},
                         json={"edge_id": edge_id, "region": region, "base_url": url, "version": "t"})


def edges(srv) -> dict:
    r = requests.get(f"{srv.api}/internal/edges", headers={"Authorization": f"Bearer {srv.internal_token}"},
                     timeout=10)
    assert r.status_code == 200, r.text
    return {e["edge_id"]: e for e in r.json()["data"]}


def error_code(r) -> str:
    return r.json()["error"]["code"]


def test_a_live_edge_id_is_not_overwritten_and_a_stale_one_is_taken_over(reg):
    assert beat(reg, "edge-x", "http://127.0.0.1:9/x").status_code == 200
    r = beat(reg, "edge-x", "https://rogue.example")
    assert r.status_code == 409 and error_code(r) == "edge_id_conflict", r.text
    r = beat(reg, "edge-x", "http://127.0.0.1:9/x", region="us")
    assert r.status_code == 409 and error_code(r) == "edge_id_conflict", r.text
    assert edges(reg)["edge-x"]["base_url"] == "http://127.0.0.1:9/x" and edges(reg)["edge-x"]["region"] == "eu"
    assert beat(reg, "edge-x", "http://127.0.0.1:9/x").status_code == 200, "the real edge keeps beating"

    # edge-x stops beating; once its record is stale (2 s) the id may move.
    deadline = time.monotonic() + 8
    while (r := beat(reg, "edge-x", "http://127.0.0.1:9/moved")).status_code == 409:
        assert time.monotonic() < deadline, r.text
        time.sleep(0.2)
    assert r.status_code == 200, r.text
    assert edges(reg)["edge-x"]["base_url"] == "http://127.0.0.1:9/moved"
    assert "edge_id_taken_over" in reg.stderr_path.read_text(errors="replace")


def test_the_registry_refuses_new_ids_beyond_its_bound_but_known_ones_keep_beating(reg):
    # edge-local (the dev edge) beats on its own; two more fill the three slots.
    deadline = time.monotonic() + 10
    while "edge-local" not in edges(reg):
        assert time.monotonic() < deadline, "the dev edge did not register"
        time.sleep(0.2)
    assert beat(reg, "edge-y", "http://127.0.0.1:9/y").status_code == 200
    assert beat(reg, "edge-x", "http://127.0.0.1:9/moved").status_code == 200
    r = beat(reg, "edge-z", "http://127.0.0.1:9/z")
    assert r.status_code == 507 and error_code(r) == "edge_registry_full", r.text
    assert "REND_EDGE_REGISTRY_MAX_EDGES" in r.json()["error"]["message"]
    assert "edge-z" not in edges(reg)
    assert beat(reg, "edge-y", "http://127.0.0.1:9/y").status_code == 200
    assert beat(reg, "edge-x", "http://127.0.0.1:9/moved").status_code == 200
