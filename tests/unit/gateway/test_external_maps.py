"""An uploaded map waits beside the current version and, rejected, fails on its own: the track
keeps its status, its map and its task; the rejection is visible (issue 12, item 4)."""

from __future__ import annotations

import json

from contracts.events import MapGenerated, MapRejected, ValidationIssue
from contracts.genesis_map import SEED_EXAMPLE_MAP
from services.gateway.feed import update_of
from tests.unit.gateway.conftest import seed_track

MAP = json.dumps(SEED_EXAMPLE_MAP).encode()
V1_MAP = json.dumps(SEED_EXAMPLE_MAP, indent=1).encode()  # the track's own map, other bytes


async def _upload(env, tid):
    return await env.client.post(
        f"/api/v1/tracks/{tid}/genesis-map",
        content=MAP,
        headers={**env.auth("operator"), "Content-Type": "application/json"},
    )


async def _get(env, path):
    return await env.client.get(path, headers=env.auth("viewer"))


async def test_while_an_uploaded_map_is_validated_the_current_version_is_untouched(env):
    tid = await seed_track(env.docs, objects=env.objects, map_bytes=V1_MAP)
    assert (await _upload(env, tid)).status_code == 202
    track = (await _get(env, f"/api/v1/tracks/{tid}")).json()
    assert (track["status"], track["analysis_version"], track["task_id"]) == (
        "ready",
        1,
        f"{tid}.v1",
    )
    assert track["analysis"]["version"] == 1 and track["analysis"]["outcome"] == "ready"
    assert (track["candidate"]["version"], track["candidate"]["outcome"]) == (2, "pending")
    served = await _get(env, f"/api/v1/tracks/{tid}/genesis-map")
    assert served.status_code == 200 and served.content == V1_MAP
    assert served.headers["x-k1-analysis-version"] == "1"
    task = (await _get(env, f"/api/v1/tasks/{tid}.v2")).json()
    assert (task["state"], task["stage"]) == ("running", "validating")
    assert (await _get(env, f"/api/v1/tasks/{tid}.v1")).json()["state"] == "succeeded"
    again = await _upload(env, tid)
    assert again.status_code == 409 and "being validated" in again.json()["detail"]
    reanalyse = await env.client.post(
        f"/api/v1/tracks/{tid}/analysis", json={}, headers=env.auth("operator")
    )
    assert reanalyse.status_code == 409
    delete = await env.client.delete(f"/api/v1/tracks/{tid}", headers=env.auth("admin"))
    assert delete.status_code == 409


async def test_a_rejected_upload_is_reported_on_its_version_and_the_track_is_unchanged(env):
    tid = await seed_track(env.docs, objects=env.objects, map_bytes=V1_MAP)
    await _upload(env, tid)
    # what the validator does with a rejected candidate
    await env.docs.analyses.update(
        tid,
        2,
        outcome="failed",
        error_reason="the map failed validation: metadata.hashes.audio_sha256: not this audio",
    )
    await env.docs.tracks.drop_candidate(tid, version=2)
    task = (await _get(env, f"/api/v1/tasks/{tid}.v2")).json()
    assert task["state"] == "failed" and "audio_sha256" in task["error"]
    track = (await _get(env, f"/api/v1/tracks/{tid}")).json()
    assert (track["status"], track["analysis_version"], track["error_reason"]) == ("ready", 1, None)
    assert track["candidate"]["outcome"] == "failed"
    assert "audio_sha256" in track["candidate"]["error_reason"]
    served = await _get(env, f"/api/v1/tracks/{tid}/genesis-map")
    assert served.content == V1_MAP and served.headers["x-k1-analysis-version"] == "1"
    assert (await _get(env, f"/api/v1/tasks/{tid}.v3")).status_code == 404
    assert (await _upload(env, tid)).json()["task_id"] == f"{tid}.v3"


async def test_a_broker_outage_drops_the_upload_and_keeps_the_track_ready(env):
    tid = await seed_track(env.docs, objects=env.objects)
    env.publisher.fail_with = ConnectionError("broker down")
    assert (await _upload(env, tid)).status_code == 503
    track = await env.docs.tracks.get_track(tid)
    assert (track.status, track.analysis_version, track.candidate_version) == ("ready", 1, None)
    assert (await env.docs.analyses.get(tid, 2)).outcome == "failed"


def test_live_updates_keep_the_track_status_for_an_uploaded_map():
    generated = MapGenerated(
        track_id="t1",
        analysis_version=2,
        map_key="maps/t1/v2/map.json",
        map_sha256="a" * 64,
        object_sha256="b" * 64,
        map_size_bytes=9,
        preset="external",
        candidate=True,
    )
    assert update_of(generated) is None
    rejected = update_of(
        MapRejected(
            track_id="t1",
            analysis_version=2,
            map_key="k",
            kept_status="warning",
            reasons=[ValidationIssue(field="f", message="bad")],
        )
    )
    assert (rejected["status"], rejected["version"]) == ("warning", 2)
    assert "uploaded map v2 rejected: f: bad" in rejected["error"]
