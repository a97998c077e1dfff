"""Rotating the playback signing key while a player streams (README, "Rotating the
playback signing key"): edges first accept the new key, then the API signs with it,
then, once every old token has expired, the old key is retired. A player holding a
token of the old key plays through the whole rotation until the retirement; after
it, the old token is a 401 and a new one plays."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from edgeproc import Edge

SECRET_A = "rotation-secret-a-" + "a" * 32
SECRET_B = "rotation-secret-b-" + "b" * 32


class Player:
    """Fetches the asset's media over and over from whatever URL the edge has now, with
    the cookie it was given once; records every answer. Transport errors (the edge is
    restarting) are retried and counted apart."""

    def __init__(self, edge: Edge, asset_id: str, paths: list, token: str):
        self.edge, self.asset_id, self.paths, self.token = edge, asset_id, paths, token
        self.statuses: list = []
        self.transport_errors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        i = 0
        while not self.stop.is_set():
            path = self.paths[i % len(self.paths)]
            i += 1
            try:
                r = requests.get(f"{self.edge.url}/v/{self.asset_id}/{path}",
                                 cookies={"rend_playback": self.token}, timeout=10)
                self.statuses.append((path, r.status_code))
            except requests.RequestException:
                self.transport_errors += 1
                time.sleep(0.05)

    def served_since(self, mark: int) -> int:
        return sum(1 for _, s in self.statuses[mark:] if s == 200)

    def wait_served(self, n: int = 3, timeout: float = 20) -> None:
        mark = len(self.statuses)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.served_since(mark) < n:
            time.sleep(0.05)
        assert self.served_since(mark) >= n, f"player stalled: {self.statuses[mark:][-5:]}"


def keys_env(current: str, secret: str, previous: str = "") -> dict:
    return {"REND_PLAYBACK_SIGNING_KEY_ID": current, "REND_PLAYBACK_SIGNING_SECRET": secret,
            "REND_PLAYBACK_PREVIOUS_SIGNING_KEYS": previous}


def test_rotation_keeps_a_streaming_player_playing_and_retires_the_old_key(server_factory, clips, tmp_path):
    srv = server_factory("key-rotation", extra_env=keys_env("ka", SECRET_A), start=False).start()
    asset_id = srv.upload(clips["h264_640x360"])
    srv.wait_status(asset_id, "hls_ready", timeout=120)
    token_a = srv.playback(asset_id)["token"]
    assert token_a.split(".")[1] == "ka", "the API signs with the current key id"

    rungs = [k.split("/", 2)[2] for k in srv.object_keys(f"assets/{asset_id}/") 
             if k.endswith(".ts") and not k.split("/")[2] == "src"]
    assert rungs, "no segments published"
    paths = ["master.m3u8", *sorted(rungs)]

    # A separate edge in front of the same object store, restarted on its own as in production.
    edge = Edge(tmp_path / "edge", {"REND_OBJECT_STORE_DIR": str(srv.objects_dir)})
    edge.start(**keys_env("ka", SECRET_A))
    player = Player(edge, asset_id, paths, token_a)
    player.thread.start()
    try:
        player.wait_served()

        # 1. Edges accept the new key (current kb, previous ka): old tokens keep playing.
        edge.stop()
        edge.start(**keys_env("kb", SECRET_B, f"ka={SECRET_A}"))
        player.wait_served()

        # 2. The API signs with the new key; edges accept both.
        srv.stop()
        srv.extra_env.update(keys_env("kb", SECRET_B, f"ka={SECRET_A}"))
        srv.start()
        token_b = srv.playback(asset_id)["token"]
        assert token_b.split(".")[1] == "kb", token_b
        r = requests.get(f"{edge.url}/v/{asset_id}/master.m3u8", cookies={"rend_playback": token_b}, timeout=10)
        assert r.status_code == 200, r.text
        player.wait_served()

        refused = [(p, s) for p, s in player.statuses if s != 200]
        assert not refused, f"the player was refused during the rotation: {refused[:5]}"

        # 3. Every token of ka has expired (the TTL): retire ka. Its tokens are now 401.
        edge.stop()
        edge.start(**keys_env("kb", SECRET_B))
        mark = len(player.statuses)  # from here on every answer is the new edge's
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not player.statuses[mark:]:
            time.sleep(0.05)
    finally:
        player.stop.set()
        player.thread.join(timeout=15)
    after = player.statuses[mark:]
    assert after and all(s == 401 for _, s in after), f"a retired key's token must be refused: {after[:5]}"
    r = requests.get(f"{edge.url}/v/{asset_id}/master.m3u8", cookies={"rend_playback": token_a}, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token", r.text
    for path in paths[:3]:
        r = requests.get(f"{edge.url}/v/{asset_id}/{path}", cookies={"rend_playback": token_b}, timeout=10)
        assert r.status_code == 200, (path, r.status_code)
    # The API's own edge (rend dev) is still configured with ka as previous: retire it there too.
    srv.stop()
    srv.extra_env.update(keys_env("kb", SECRET_B))
    srv.start()
    r = requests.get(f"{srv.edge}/v/{asset_id}/master.m3u8", cookies={"rend_playback": token_a}, timeout=10)
    assert r.status_code == 401, r.text
    r = requests.get(f"{srv.edge}/v/{asset_id}/master.m3u8", cookies={"rend_playback": token_b}, timeout=10)
    assert r.status_code == 200, r.text
    edge.stop()
