"""Issue 12, items 4 and 8, end to end (every service its own process, real RabbitMQ,
nx-27017, moto S3): a rejected uploaded map fails on its own and leaves the track ready,
served and deployable; deployments to nothing, to unknown devices or to too many are 422."""

from __future__ import annotations

import httpx
import pytest

from k1.cmd_devices import register_devices
from tests.e2e.songs import click_song
from tests.e2e.waiting import until

pytestmark = pytest.mark.e2e


def _call(stack, method: str, path: str, role: str = "viewer", **kw) -> httpx.Response:
    return httpx.request(
        method,
        stack.gateway_url + path,
        timeout=30,
        headers={"Authorization": f"Bearer {stack.token(role)}", **kw.pop("headers", {})},
        **kw,
    )


def _ready_track(stack, seed: int) -> str:
    response = httpx.post(
        f"{stack.ingest_url}/uploads",
        params={"filename": f"s{seed}.wav"},
        content=click_song(bpm=120 + seed, seed=seed),
        timeout=60,
        headers={"Authorization": f"Bearer {stack.token('operator')}", "Content-Type": "audio/wav"},
    )
    assert response.status_code == 201, response.text
    track_id = response.json()["track_id"]
    until(
        lambda: (
            _call(stack, "GET", f"/api/v1/tracks/{track_id}").json()["status"]
            in ("ready", "warning")
        ),
        timeout_s=90,
        what=f"track {track_id} to be ready",
    )
    return track_id


@pytest.fixture(scope="module")
def tracks(e2e_stack) -> tuple[str, str]:
    stack, _ = e2e_stack
    return _ready_track(stack, 31), _ready_track(stack, 32)


@pytest.fixture(scope="module")
def device(e2e_stack) -> str:
    stack, _ = e2e_stack
    [registered] = register_devices(
        stack.gateway_url, stack.token("admin"), count=1, group="maps-sec"
    )
    return registered["device_id"]


def _upload_map(stack, track_id: str, body: bytes) -> httpx.Response:
    return _call(
        stack,
        "POST",
        f"/api/v1/tracks/{track_id}/genesis-map",
        "operator",
        content=body,
        headers={"Content-Type": "application/json"},
    )


def _deploy(stack, **body) -> httpx.Response:
    return _call(stack, "POST", "/api/v1/deployments", "operator", json=body)


def _settled_task(stack, task_id: str) -> dict:
    return until(
        lambda: (
            (t := _call(stack, "GET", f"/api/v1/tasks/{task_id}").json())["state"]
            in ("succeeded", "failed")
            and t
        ),
        timeout_s=30,
        what=f"task {task_id}",
    )


def test_another_tracks_map_is_rejected_on_its_own_and_the_track_stays_deployable(
    e2e_stack, tracks, device
):
    stack, _ = e2e_stack
    mine, other = tracks
    before = _call(stack, "GET", f"/api/v1/tracks/{mine}").json()
    my_map = _call(stack, "GET", f"/api/v1/tracks/{mine}/genesis-map")
    other_map = _call(stack, "GET", f"/api/v1/tracks/{other}/genesis-map")
    assert my_map.status_code == other_map.status_code == 200

    accepted = _upload_map(stack, mine, other_map.content)
    assert accepted.status_code == 202, accepted.text
    task_id = accepted.json()["task_id"]
    assert task_id == f"{mine}.v2"
    task = _settled_task(stack, task_id)
    assert task["state"] == "failed" and "audio_sha256" in task["error"], task

    after = _call(stack, "GET", f"/api/v1/tracks/{mine}").json()
    assert (after["status"], after["analysis_version"], after["error_reason"]) == (
        before["status"],
        1,
        None,
    )
    assert after["candidate"]["version"] == 2 and after["candidate"]["outcome"] == "failed"
    assert "audio_sha256" in after["candidate"]["error_reason"]
    assert _call(stack, "GET", f"/api/v1/tasks/{mine}.v1").json()["state"] == "succeeded"
    served = _call(stack, "GET", f"/api/v1/tracks/{mine}/genesis-map")
    assert served.status_code == 200 and served.content == my_map.content
    assert served.headers["x-k1-analysis-version"] == "1"
    deployed = _deploy(stack, track_id=mine, device_ids=[device], timeout_s=1)
    assert deployed.status_code == 202, deployed.text

    # the track's own map, uploaded, is a valid new version and becomes the current one
    again = _upload_map(stack, mine, my_map.content)
    assert again.status_code == 202 and again.json()["task_id"] == f"{mine}.v3"
    assert _settled_task(stack, f"{mine}.v3")["state"] == "succeeded"
    current = _call(stack, "GET", f"/api/v1/tracks/{mine}").json()
    assert (current["analysis_version"], current["preset"], current["candidate"]) == (
        3,
        "external",
        None,
    )
    assert current["status"] in ("ready", "warning")
    assert (
        _call(stack, "GET", f"/api/v1/tracks/{mine}/genesis-map").headers["x-k1-analysis-version"]
        == "3"
    )


def test_deployments_to_nothing_unknown_or_too_many_devices_are_422(e2e_stack, tracks, device):
    stack, _ = e2e_stack
    track_id = tracks[1]
    no_target = _deploy(stack, track_id=track_id)
    assert (no_target.status_code, no_target.json()["error"]) == (422, "no_target")
    empty_group = _deploy(stack, track_id=track_id, group="no-such-group")
    assert (empty_group.status_code, empty_group.json()["error"]) == (422, "unknown_group")

    schema = _call(stack, "GET", "/schema/openapi.json").json()
    cap = schema["components"]["schemas"]["DeploymentCreate"]["properties"]["device_ids"][
        "maxItems"
    ]
    ghosts = [f"ghost-{i:04d}" for i in range(cap)]
    unknown = _deploy(stack, track_id=track_id, device_ids=[device, *ghosts])
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["error"] == "too_many_devices"
    unknown = _deploy(stack, track_id=track_id, device_ids=[device, *ghosts[: cap - 1]])
    body = unknown.json()
    assert (unknown.status_code, body["error"], body["unknown_count"]) == (
        422,
        "unknown_devices",
        cap - 1,
    )
    assert body["device_ids"] == ghosts[:100]

    fine = _deploy(stack, track_id=track_id, group="maps-sec", device_ids=[device], timeout_s=1)
    assert fine.status_code == 202, fine.text
