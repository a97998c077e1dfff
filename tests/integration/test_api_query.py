"""Query parameters are parsed strictly: the whole value, range-checked, given once;
anything else is a 400 that names the parameter and changes nothing."""

from __future__ import annotations

import pytest
import requests


@pytest.fixture(scope="module")
def srv(server_factory):
    s = server_factory("api-query")
    s.operator_key = s.create_key("all,operator", name="query-tests")
    return s


def get(srv, path, query):
    # Sent verbatim (no re-encoding) so that repeats and odd characters reach the API as written.
    return requests.get(f"{srv.api}{path}?{query}", headers=srv.auth(srv.operator_key), timeout=10)


@pytest.mark.parametrize("value", ["5abc", "5.0", "+5", "-5", " 5", "5%20", "0x10", "1e1", "",
                                   "99999999999999999999999", "0", "101"])
def test_list_limit_must_be_a_whole_integer_in_range(srv, value):
    r = get(srv, "/v1/assets", f"limit={value}")
    assert r.status_code == 400, (value, r.text)
    assert r.json()["error"]["code"] == "invalid_limit"
    assert "limit" in r.json()["error"]["message"]


def test_list_limit_accepts_a_plain_integer(srv):
    for value in ("1", "100", "020"):
        r = get(srv, "/v1/assets", f"limit={value}")
        assert r.status_code == 200, (value, r.text)


@pytest.mark.parametrize("path,name", [("/v1/assets", "limit"), ("/v1/assets", "cursor"),
                                       ("/v1/analytics/edges", "from"), ("/v1/analytics/edges", "to")])
def test_a_parameter_given_twice_is_refused(srv, path, name):
    value = {"limit": "5", "cursor": "", "from": "1000", "to": "2000"}[name]
    r = get(srv, path, f"{name}={value}&{name}={value}")
    assert r.status_code == 400, r.text
    assert name in r.json()["error"]["message"], r.text


@pytest.mark.parametrize("query,name", [("from=1000abc", "from"), ("to=2000abc", "to"), ("from=1e3", "from"),
                                        ("to=2027-01-15T08:00:00Zjunk", "to"), ("from=-1", "from"),
                                        ("from=9999999999999999", "from")])
def test_time_parameters_are_strict_and_named(srv, query, name):
    r = get(srv, "/v1/analytics/edges", query)
    assert r.status_code == 400, (query, r.text)
    assert r.json()["error"]["message"].startswith(name), r.text
