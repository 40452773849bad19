"""A map altered in the object store is refused, not served under its old ETag."""

from __future__ import annotations

import copy
import json

from contracts.canonical import seal_map
from contracts.genesis_map import SEED_EXAMPLE_MAP
from tests.unit.gateway.conftest import seed_track

MAP = json.dumps(seal_map(SEED_EXAMPLE_MAP)).encode()


def _altered() -> bytes:
    """The map with its beats moved, resealed so its own claimed hash matches its content."""
    evil = copy.deepcopy(json.loads(MAP))
    evil["layers"]["rhythm"]["beat_grid_ms"] = [0, 1, 2]
    return json.dumps(seal_map(evil)).encode()


async def test_a_tampered_map_object_is_an_error_not_the_altered_map(env):
    tid = await seed_track(env.docs, objects=env.objects, map_bytes=MAP)
    url = f"/api/v1/tracks/{tid}/genesis-map"
    good = await env.client.get(url, headers=env.auth("viewer"))
    assert good.status_code == 200 and good.content == MAP
    for tampered in (_altered(), MAP.replace(b"{", b"[", 1), b""):
        await env.objects.put_bytes(
            f"maps/{tid}/v1/map.json", tampered, content_type="application/json"
        )
        r = await env.client.get(url, headers=env.auth("viewer"))
        assert r.status_code == 502 and r.json()["error"] == "map_corrupt", r.text
        assert good.headers["etag"] not in r.headers.get("etag", "")
    await env.objects.put_bytes(
        f"maps/{tid}/v1/map.json",
        b" " + MAP,  # same map, re-spaced
        content_type="application/json",
    )
    again = await env.client.get(url, headers=env.auth("viewer"))
    assert again.status_code == 200 and again.headers["etag"] == good.headers["etag"]
