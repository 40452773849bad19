"""Re-analysis with a preset (task ids, 409 while busy) and task status."""

from __future__ import annotations

from contracts.events import AnalysisRequested
from tests.unit.gateway.conftest import seed_track


async def test_reanalysis_opens_version_2_and_queues_the_command(env):
    tid = await seed_track(env.docs)
    r = await env.client.post(
        f"/api/v1/tracks/{tid}/analysis", json={"preset": "chill"}, headers=env.auth("operator")
    )
    assert r.status_code == 202, r.text
    assert r.json() == {
        "task_id": f"{tid}.v2",
        "track_id": tid,
        "analysis_version": 2,
        "status_url": f"/api/v1/tasks/{tid}.v2",
    }
    track = await env.docs.tracks.get_track(tid)
    assert (track.status, track.analysis_version, track.preset) == ("analyzing", 2, "chill")
    assert (await env.docs.analyses.get(tid, 2)).preset == "chill"
    [cmd] = env.publisher.of(AnalysisRequested)
    assert (cmd.track_id, cmd.analysis_version, cmd.preset, cmd.task_id) == (
        tid,
        2,
        "chill",
        f"{tid}.v2",
    )
    assert cmd.audio_key == track.audio_key


async def test_reanalysis_without_body_uses_the_default_preset(env):
    tid = await seed_track(env.docs, status="failed")
    r = await env.client.post(f"/api/v1/tracks/{tid}/analysis", headers=env.auth("operator"))
    assert r.status_code == 202, r.text
    assert env.publisher.of(AnalysisRequested)[0].preset == "edm_high_energy"


async def test_reanalysis_while_analysing_is_409(env):
    tid = await seed_track(env.docs, status="analyzing")
    r = await env.client.post(
        f"/api/v1/tracks/{tid}/analysis", json={"preset": "rock"}, headers=env.auth("operator")
    )
    assert r.status_code == 409 and r.json()["error"] == "busy"
    assert env.publisher.sent == []


async def test_reanalysis_errors(env):
    tid = await seed_track(env.docs)
    unknown = await env.client.post(
        "/api/v1/tracks/nope/analysis", json={}, headers=env.auth("operator")
    )
    assert unknown.status_code == 404
    bad = await env.client.post(
        f"/api/v1/tracks/{tid}/analysis", json={"preset": "disco"}, headers=env.auth("operator")
    )
    assert bad.status_code == 422 and "chill" in bad.json()["detail"]
    pattern = await env.client.post(
        f"/api/v1/tracks/{tid}/analysis", json={"preset": "../../etc"}, headers=env.auth("operator")
    )
    assert pattern.status_code == 400 and pattern.json()["fields"]
    malformed = await env.client.post(
        f"/api/v1/tracks/{tid}/analysis",
        content=b"{",
        headers={**env.auth("operator"), "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
    viewer = await env.client.post(
        f"/api/v1/tracks/{tid}/analysis", json={}, headers=env.auth("viewer")
    )
    assert viewer.status_code == 403


async def test_broker_down_fails_the_version_with_a_reason_and_says_503(env):
    tid = await seed_track(env.docs)
    env.publisher.fail_with = ConnectionError("amqp://guest:guest@host down")
    r = await env.client.post(
        f"/api/v1/tracks/{tid}/analysis", json={}, headers=env.auth("operator")
    )
    assert r.status_code == 503 and "guest" not in r.text
    track = await env.docs.tracks.get_track(tid)
    assert track.status == "failed" and "could not be queued" in track.error_reason


async def test_task_status_follows_the_track(env):
    tid = await seed_track(env.docs)
    done = (await env.client.get(f"/api/v1/tasks/{tid}.v1", headers=env.auth("viewer"))).json()
    assert done["state"] == "succeeded" and done["percent"] == 100
    assert done["result"]["bpm"] == 128.0 and done["result"]["outcome"] == "ready"
    assert done["result"]["map_url"].endswith(f"/tracks/{tid}/genesis-map?version=1")
    await env.client.post(f"/api/v1/tracks/{tid}/analysis", json={}, headers=env.auth("operator"))
    running = (await env.client.get(f"/api/v1/tasks/{tid}.v2", headers=env.auth("viewer"))).json()
    assert running["state"] == "running" and running["result"] is None
    old = (await env.client.get(f"/api/v1/tasks/{tid}.v1", headers=env.auth("viewer"))).json()
    assert old["state"] == "succeeded"


async def test_failed_and_queued_tasks(env):
    failed = await seed_track(env.docs, n=1, status="failed")
    queued = await seed_track(env.docs, n=2, status="uploaded")
    f = (await env.client.get(f"/api/v1/tasks/{failed}.v1", headers=env.auth("viewer"))).json()
    assert f["state"] == "failed" and f["error"] == "no audio frames"
    q = (await env.client.get(f"/api/v1/tasks/{queued}.v1", headers=env.auth("viewer"))).json()
    assert q["state"] == "queued" and q["percent"] == 0


async def test_unknown_tasks_are_404(env):
    tid = await seed_track(env.docs)
    for task in ("nonsense", f"{tid}.v9", f"{tid}.vx", "nope.v1", f"{tid}.v0"):
        r = await env.client.get(f"/api/v1/tasks/{task}", headers=env.auth("viewer"))
        assert r.status_code == 404, task
