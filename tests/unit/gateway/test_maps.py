"""Genesis Map download (ETag / 304), external map upload, and the picture."""

from __future__ import annotations

import copy
import hashlib
import json

from contracts.canonical import compute_map_sha256
from contracts.events import MapGenerated
from contracts.genesis_map import SEED_EXAMPLE_MAP
from tests.unit.gateway.conftest import seed_track

MAP = json.dumps(SEED_EXAMPLE_MAP).encode()


def _json(env, role="operator"):
    return {**env.auth(role), "Content-Type": "application/json"}


async def test_map_download_with_etag_and_conditional_get(env):
    tid = await seed_track(env.docs, objects=env.objects, map_bytes=MAP)
    r = await env.client.get(f"/api/v1/tracks/{tid}/genesis-map", headers=env.auth("viewer"))
    assert r.status_code == 200 and r.json() == SEED_EXAMPLE_MAP
    assert r.headers["etag"] == f'"{compute_map_sha256(SEED_EXAMPLE_MAP)}"'
    assert r.headers["content-type"].startswith("application/json")
    again = await env.client.get(
        f"/api/v1/tracks/{tid}/genesis-map",
        headers={**env.auth("viewer"), "If-None-Match": r.headers["etag"]},
    )
    assert again.status_code == 304 and again.content == b""
    other = await env.client.get(
        f"/api/v1/tracks/{tid}/genesis-map",
        headers={**env.auth("viewer"), "If-None-Match": '"other"'},
    )
    assert other.status_code == 200


async def test_map_404s(env):
    waiting = await seed_track(env.docs, n=1, status="analyzing")
    for path in (
        "/api/v1/tracks/nope/genesis-map",
        f"/api/v1/tracks/{waiting}/genesis-map",
        f"/api/v1/tracks/{waiting}/genesis-map?version=7",
        f"/api/v1/tracks/{waiting}/picture.png",
        "/api/v1/tracks/nope/picture.png",
    ):
        r = await env.client.get(path, headers=env.auth("viewer"))
        assert r.status_code == 404, path


async def test_picture_is_png(env):
    tid = await seed_track(env.docs, objects=env.objects)
    r = await env.client.get(f"/api/v1/tracks/{tid}/picture.png", headers=env.auth("viewer"))
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content.startswith(b"\x89PNG")


async def test_external_map_is_stored_as_a_new_version_and_sent_to_validation(env):
    tid = await seed_track(env.docs, objects=env.objects)
    r = await env.client.post(f"/api/v1/tracks/{tid}/genesis-map", content=MAP, headers=_json(env))
    assert r.status_code == 202, r.text
    assert r.json()["task_id"] == f"{tid}.v2"
    assert await env.objects.get_bytes(f"maps/{tid}/v2/map.json") == MAP
    track = await env.docs.tracks.get_track(tid)
    assert (track.status, track.analysis_version, track.candidate_version) == ("ready", 1, 2)
    [event] = env.publisher.of(MapGenerated)
    assert event.map_key == f"maps/{tid}/v2/map.json" and event.analysis_version == 2
    assert event.candidate and event.preset == "external"
    assert event.object_sha256 == hashlib.sha256(MAP).hexdigest()
    assert event.map_sha256 == "b" * 64 and event.map_size_bytes == len(MAP)


async def test_malformed_json_map_is_400(env):
    tid = await seed_track(env.docs)
    r = await env.client.post(
        f"/api/v1/tracks/{tid}/genesis-map", content=b'{"metadata": ', headers=_json(env)
    )
    assert r.status_code == 400 and r.json()["error"] == "malformed_json"
    assert "line 1" in r.json()["detail"]


async def test_schema_invalid_map_is_422_with_every_field_error(env):
    tid = await seed_track(env.docs)
    bad = copy.deepcopy(SEED_EXAMPLE_MAP)
    bad["global_metrics"]["bpm"] = 999
    bad["layers"]["rhythm"]["beat_grid_ms"][1] = "soon"
    bad["layers"]["frequency"]["bass"][0]["intensity"] = 2
    del bad["metadata"]["filename"]
    r = await env.client.post(
        f"/api/v1/tracks/{tid}/genesis-map", json=bad, headers=env.auth("operator")
    )
    assert r.status_code == 422 and r.json()["error"] == "invalid_map"
    fields = {f["field"] for f in r.json()["fields"]}
    assert {
        "global_metrics.bpm",
        "layers.rhythm.beat_grid_ms.1",
        "layers.frequency.bass.0.intensity",
        "metadata.filename",
    } <= fields, fields
    assert (await env.docs.tracks.get_track(tid)).analysis_version == 1


async def test_map_with_a_non_hex_hash_is_422(env):
    tid = await seed_track(env.docs)
    bad = copy.deepcopy(SEED_EXAMPLE_MAP)
    bad["metadata"]["hashes"]["map_sha256"] = "not-a-hash"
    r = await env.client.post(
        f"/api/v1/tracks/{tid}/genesis-map", json=bad, headers=env.auth("operator")
    )
    assert r.status_code == 422
    assert r.json()["fields"][0]["field"] == "metadata.hashes.map_sha256"


async def test_map_upload_errors(env):
    tid = await seed_track(env.docs)
    busy = await seed_track(env.docs, n=2, status="analyzing")
    wrong_type = await env.client.post(
        f"/api/v1/tracks/{tid}/genesis-map",
        content=MAP,
        headers={**env.auth("operator"), "Content-Type": "text/plain"},
    )
    assert wrong_type.status_code == 415
    huge = await env.client.post(
        f"/api/v1/tracks/{tid}/genesis-map", content=b" " * (5 * 1024 * 1024), headers=_json(env)
    )
    assert huge.status_code == 413
    unknown = await env.client.post(
        "/api/v1/tracks/nope/genesis-map", content=MAP, headers=_json(env)
    )
    assert unknown.status_code == 404
    conflict = await env.client.post(
        f"/api/v1/tracks/{busy}/genesis-map", content=MAP, headers=_json(env)
    )
    assert conflict.status_code == 409
    viewer = await env.client.post(
        f"/api/v1/tracks/{tid}/genesis-map", content=MAP, headers=_json(env, "viewer")
    )
    assert viewer.status_code == 403
    assert env.publisher.sent == []
