"""A deployment must name a real target: no devices, an empty group, unknown ids or more ids
than the cap are refused with 422 before anything is published (issue 12, item 8)."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from contracts.events import DeploymentRequested
from services.gateway.devices.schemas import MAX_DEPLOYMENT_DEVICE_IDS
from tests.unit.gateway.conftest import seed_track
from tests.unit.gateway.test_devices import DevEnv, _register

URL = "/api/v1/deployments"


class CountingDevices:
    """The fake device registry, counting the reads a deployment request makes."""

    def __init__(self, repo) -> None:
        self._repo, self.calls = repo, {"get": 0, "get_many": 0}

    async def get(self, device_id):
        self.calls["get"] += 1
        return await self._repo.get(device_id)

    async def get_many(self, device_ids):
        self.calls["get_many"] += 1
        return await self._repo.get_many(device_ids)

    def __getattr__(self, name):
        return getattr(self._repo, name)


@pytest.fixture
async def env():
    denv = DevEnv()
    denv.track_id = await seed_track(denv.docs, status="ready")
    return denv


async def _deploy(client, env, **body):
    return await client.post(
        URL, headers=env.auth("operator"), json={"track_id": env.track_id, **body}
    )


async def test_no_target_or_an_empty_group_is_422_and_nothing_is_requested(env):
    async with AsyncTestClient(env.app) as client:
        await _register(client, env, "d1")  # group "stage"
        for body in ({}, {"device_ids": []}, {"device_ids": [], "group": None}):
            r = await _deploy(client, env, **body)
            assert (r.status_code, r.json()["error"]) == (422, "no_target"), body
        r = await _deploy(client, env, group="nobody-here")
        assert (r.status_code, r.json()["error"]) == (422, "unknown_group")
        assert "nobody-here" in r.json()["detail"]
        assert env.publisher.of(DeploymentRequested) == []
        assert (await _deploy(client, env, group="stage")).status_code == 202


async def test_unknown_ids_are_listed_capped_and_looked_up_in_one_query(env):
    async with AsyncTestClient(env.app) as client:
        await _register(client, env, "d1")
        counting = CountingDevices(env.gw.devices.devices)
        env.gw.devices.devices = counting
        ghosts = [f"ghost-{i:03d}" for i in range(150)]
        r = await _deploy(client, env, device_ids=["d1", *ghosts, "ghost-000"])
        body = r.json()
        assert (r.status_code, body["error"]) == (422, "unknown_devices")
        assert body["device_ids"] == ghosts[:100] and body["unknown_count"] == 150
        assert body["detail"].startswith("150 unknown devices: ghost-000, ghost-001")
        assert counting.calls == {"get": 0, "get_many": 1}
        assert env.publisher.of(DeploymentRequested) == []


async def test_more_ids_than_the_documented_cap_is_422(env):
    async with AsyncTestClient(env.app) as client:
        await _register(client, env, "d1")
        too_many = ["d1"] * (MAX_DEPLOYMENT_DEVICE_IDS + 1)
        r = await _deploy(client, env, device_ids=too_many)
        assert (r.status_code, r.json()["error"]) == (422, "too_many_devices")
        assert str(MAX_DEPLOYMENT_DEVICE_IDS) in r.json()["detail"]
        at_cap = await _deploy(client, env, device_ids=too_many[:MAX_DEPLOYMENT_DEVICE_IDS])
        assert at_cap.status_code == 202
        [cmd] = env.publisher.of(DeploymentRequested)
        assert cmd.device_ids == ["d1"]
        schema = (await client.get("/schema/openapi.json")).json()
        create = schema["components"]["schemas"]["DeploymentCreate"]["properties"]
        assert create["device_ids"]["maxItems"] == MAX_DEPLOYMENT_DEVICE_IDS
        assert f"at most {MAX_DEPLOYMENT_DEVICE_IDS}" in create["device_ids"]["description"]
