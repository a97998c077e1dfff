"""The API's telemetry journal (src/telemetry/ingest_buffer.h): with ClickHouse, a 200 from
POST /internal/telemetry means the batch is fdatasync'd in {data_dir}/telemetry-journal, and
the journaled events reach ClickHouse in large inserts. What the edge was told is stored must
be counted exactly once, through a ClickHouse outage and through a SIGKILL of the API.

The API talks to the test ClickHouse through a TCP proxy of this file, which can refuse
connections (ClickHouse "away") without stopping the ClickHouse other tests share.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

from conftest import REPO_ROOT, free_port, inherited_env, rend_bin, services_env
from test_telemetry import Proc
from test_telemetry_api import HOUR, T0, batch, event

TOKEN = "telemetry-journal-token-" + "j" * 24

pytestmark = pytest.mark.skipif(not os.environ.get("REND_TEST_CLICKHOUSE_URL"),
                                reason="needs ClickHouse (scripts/with-test-services)")


class Switch:
    """A TCP proxy to ClickHouse's HTTP port that can refuse every new connection."""

    def __init__(self, upstream: str):
        u = urllib.parse.urlsplit(upstream)
        self.upstream = (u.hostname, u.port)
        self.down = False
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if self.down:
                c.close()  # curl: "Empty reply" / reset: the insert fails
                continue
            try:
                u = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                c.close()
                continue
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.closed = True
        self.sock.close()


@pytest.fixture
def api(tmp_path: Path):
    env = inherited_env()
    env.update(services_env())
    switch = Switch(env["CLICKHOUSE_URL"])
    port = free_port()
    env.update({"CLICKHOUSE_URL": switch.url, "REND_INTERNAL_TELEMETRY_TOKEN": TOKEN,
                "REND_API_BIND_ADDR": f"127.0.0.1:{port}"})
    data = tmp_path / "data"
    key = subprocess.run([str(rend_bin()), "keys", "create", "--scopes", "all", "--data-dir", str(data)], env=env,
                         capture_output=True, text=True, check=True, cwd=str(REPO_ROOT)).stdout.strip()
    proc = Proc("api", ["api", "--data-dir", str(data)], env, tmp_path)
    url = f"http://127.0.0.1:{port}"
    proc.start(url + "/readyz")
    yield proc, url, key, switch, data
    if proc.proc and proc.proc.poll() is None:
        proc.stop()
    switch.close()


def post(url: str, events: list) -> requests.Response:
    return requests.post(url + "/internal/telemetry", json=batch(events),
                         headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)


def requests_counted(url: str, key: str, asset: str) -> int:
    r = requests.get(f"{url}/v1/analytics/assets/{asset}", params={"from": T0, "to": T0 + HOUR},
                     headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["requests"]


def new_asset(url: str, key: str) -> str:
    r = requests.post(url + "/v1/uploads", json={}, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert r.status_code in (200, 201), r.text
    return r.json()["asset_id"]


def refused_while_down(url: str, asset: str, start: int) -> list:
    """Posts single-event batches until one is refused (the journal's insert failed); returns
    the events answered 200 meanwhile (journaled: they must not be lost)."""
    acked = []
    deadline = time.monotonic() + 20
    i = start
    while time.monotonic() < deadline:
        ev = [event(asset, i)]
        i += 1
        r = post(url, ev)
        if r.status_code == 503:
            assert r.json()["error"]["code"] == "analytics_unavailable", r.text
            return acked
        assert r.status_code == 200, r.text
        acked += ev
        time.sleep(0.05)
    pytest.fail("ingest never refused a batch while ClickHouse was away")


def test_acknowledged_events_survive_a_clickhouse_outage(api):
    proc, url, key, switch, _ = api
    asset = new_asset(url, key)
    before = [event(asset, i) for i in range(200)]
    assert post(url, before).status_code == 200
    switch.down = True
    during = refused_while_down(url, asset, 1000)
    switch.down = False
    # Once ClickHouse is back, the journaled events are inserted and ingest accepts again.
    deadline = time.monotonic() + 30
    after = [event(asset, 2000 + i) for i in range(50)]
    while (r := post(url, after)).status_code != 200:
        assert r.status_code == 503 and time.monotonic() < deadline, r.text
        time.sleep(0.2)
    assert requests_counted(url, key, asset) == len(before) + len(during) + len(after)


def test_acknowledged_events_survive_an_api_sigkill(api):
    proc, url, key, switch, data = api
    asset = new_asset(url, key)
    switch.down = True
    # Answered while ClickHouse is away: on the API's disk only.
    acked = refused_while_down(url, asset, 0)
    assert acked, "no batch was answered before the insert failed"
    proc.kill()
    assert any((data / "telemetry-journal").glob("*.spool")), "the journal holds nothing"
    switch.down = False
    proc.start(url + "/readyz")  # replays the journal first
    deadline = time.monotonic() + 30
    while (n := requests_counted(url, key, asset)) < len(acked) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert n == len(acked)
    assert not any((data / "telemetry-journal").glob("*.spool")), "the journal was not drained"


def test_many_concurrent_batches_are_counted_exactly(api):
    proc, url, key, switch, _ = api
    asset = new_asset(url, key)
    batches = [[event(asset, b * 500 + i) for i in range(500)] for b in range(40)]
    errors = []

    def worker(mine):
        for evs in mine:
            for _ in range(50):
                r = post(url, evs)
                if r.status_code == 200:
                    break
                if r.status_code != 503:
                    errors.append(r.text)
                    return
                time.sleep(0.1)
            else:
                errors.append("gave up")

    threads = [threading.Thread(target=worker, args=(batches[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    # Read at once: the analytics route waits for the journaled events' insert.
    assert requests_counted(url, key, asset) == 20_000
