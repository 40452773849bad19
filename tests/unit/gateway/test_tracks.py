"""Listing, reading and deleting tracks."""

from __future__ import annotations

from infra.docstore_devices import BundleRecord
from tests.unit.gateway.conftest import seed_track


async def test_list_pages_newest_first_with_total(env):
    for n in range(5):
        await seed_track(env.docs, n=n, status="ready" if n % 2 else "failed")
    r = await env.client.get("/api/v1/tracks?limit=2&offset=1", headers=env.auth("viewer"))
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 5 and body["limit"] == 2 and body["offset"] == 1
    assert len(body["items"]) == 2
    assert {"track_id", "status", "stage", "progress_pct", "filename"} <= body["items"][0].keys()


async def test_list_filters_by_status(env):
    for n in range(4):
        await seed_track(env.docs, n=n, status="ready" if n < 3 else "failed")
    r = await env.client.get("/api/v1/tracks?status=failed", headers=env.auth("viewer"))
    assert r.status_code == 200
    assert r.json()["total"] == 1 and r.json()["items"][0]["error_reason"] == "no audio frames"


async def test_list_refuses_out_of_bounds_query_params(env):
    for query in ("limit=0", "limit=101", "offset=-1", "status=bogus", "limit=abc"):
        r = await env.client.get(f"/api/v1/tracks?{query}", headers=env.auth("viewer"))
        assert r.status_code == 400, query
        assert r.json()["error"] == "bad_request"


async def test_get_track_with_latest_analysis_summary(env):
    tid = await seed_track(env.docs, objects=env.objects)
    r = await env.client.get(f"/api/v1/tracks/{tid}", headers=env.auth("viewer"))
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready" and body["task_id"] == f"{tid}.v1"
    analysis = body["analysis"]
    assert analysis["bpm"] == 128.0 and analysis["outcome"] == "ready"
    assert analysis["preset"] == "edm_high_energy" and analysis["warnings"] == []
    assert analysis["picture_url"] == f"/api/v1/tracks/{tid}/picture.png?version=1"
    assert analysis["map_url"] == f"/api/v1/tracks/{tid}/genesis-map?version=1"


async def test_unknown_or_impossible_track_id_is_404(env):
    for tid in ("nope", "..%2Fetc", "x" * 65):
        r = await env.client.get(f"/api/v1/tracks/{tid}", headers=env.auth("viewer"))
        assert r.status_code == 404, tid
        assert r.json()["error"] == "not_found"


async def test_admin_deletes_track_objects_bundles_and_documents(env):
    tid = await seed_track(env.docs, objects=env.objects)
    keep = await seed_track(env.docs, n=2, objects=env.objects)
    audio_key = (await env.docs.tracks.get_track(tid)).audio_key
    for track in (tid, keep):
        key = f"bundles/{track}/v1/bundle.k1b"
        await env.objects.put_bytes(key, b"K1B", content_type="application/octet-stream")
        await env.bundles.put(BundleRecord(track, 1, key, 1, 3, "b" * 64))
    r = await env.client.delete(f"/api/v1/tracks/{tid}", headers=env.auth("admin"))
    assert r.status_code == 204
    assert await env.docs.tracks.get_track(tid) is None
    assert await env.docs.analyses.list_for_track(tid) == ()
    assert not await env.objects.exists(audio_key)
    track_keep = await env.docs.tracks.get_track(keep)
    for key in (
        f"maps/{tid}/v1/map.json",
        f"maps/{tid}/v1/map.png",
        f"analyses/{tid}/v1/analysis.json",
        f"bundles/{tid}/v1/bundle.k1b",
    ):
        assert not await env.objects.exists(key), key
    assert await env.bundles.latest(tid) is None and await env.bundles.latest(keep)
    assert await env.objects.exists(f"bundles/{keep}/v1/bundle.k1b")
    assert await env.objects.exists(track_keep.audio_key)
    assert await env.objects.exists(f"maps/{keep}/v1/map.json")
    assert await env.docs.tracks.get_track(keep) is not None
    again = await env.client.delete(f"/api/v1/tracks/{tid}", headers=env.auth("admin"))
    assert again.status_code == 404


async def test_a_track_still_in_the_chain_is_not_deleted_under_its_workers(env):
    for n, status in enumerate(("uploaded", "analyzing", "mapped")):
        tid = await seed_track(env.docs, n=n, status=status, objects=env.objects)
        r = await env.client.delete(f"/api/v1/tracks/{tid}", headers=env.auth("admin"))
        assert r.status_code == 409 and r.json()["error"] == "busy", status
        assert f"is {status}" in r.text
        assert await env.docs.tracks.get_track(tid) is not None


async def test_operator_may_not_delete(env):
    tid = await seed_track(env.docs)
    r = await env.client.delete(f"/api/v1/tracks/{tid}", headers=env.auth("operator"))
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert await env.docs.tracks.get_track(tid) is not None
