"""The deployer's reactions over fakes: bundles built from validated maps, deployments offered,
devices acking, failing, timing out and getting their deployment again when they reconnect."""

from __future__ import annotations

import json

import pytest

from contracts.bundle import decode_bundle
from contracts.events import (
    BundleBuilt,
    BundleDeployed,
    DeploymentRequested,
    DeviceBundleAck,
    DeviceConnected,
    DeviceDelivered,
    DeviceOffer,
    MapValidated,
)
from contracts.genesis_map import SEED_EXAMPLE_MAP
from infra.docstore_devices_fake import FakeDeviceDocStore
from infra.docstore_fake import FakeDocStore
from infra.objectstore_fake import FakeObjectStore
from infra.publishing import RecordingPublisher
from services.deployer.config import DeployerSettings
from services.deployer.ports import DeployerPorts
from services.deployer.timeouts import sweep_once
from services.deployer.when_deployment_requested_offer import when_deployment_requested
from services.deployer.when_device_answers_settle import when_bundle_acked, when_device_delivered
from services.deployer.when_device_connected_reoffer import when_device_connected
from services.deployer.when_map_validated_build_bundle import when_map_validated
from tests.contract_docstore import new_track, to_mapped
from tests.contract_docstore_devices import new_device

MAP_KEY = "maps/t1/v1/map.json"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def ports():
    docs, objects = FakeDocStore(), FakeObjectStore()
    await docs.tracks.create_track(new_track("t1"))
    await docs.analyses.add("t1", 1, preset="edm_high_energy")
    await to_mapped(docs, "t1")
    await docs.tracks.transition("t1", version=1, to="ready")
    await docs.analyses.update("t1", 1, map_key=MAP_KEY, map_sha256="a" * 64, outcome="ready")
    await objects.put_bytes(MAP_KEY, json.dumps(SEED_EXAMPLE_MAP).encode())
    devices = FakeDeviceDocStore()
    for i, offset in ((1, -20), (2, 0), (3, 15)):
        await devices.devices.create(
            new_device(f"d{i}", group="stage" if i < 3 else "bar", latency_offset_ms=offset)
        )
    return DeployerPorts(
        docs=docs,
        devices=devices,
        objects=objects,
        publisher=RecordingPublisher(),
        settings=DeployerSettings(timeout_s=30),
        clock=Clock(),
    )


def _validated() -> MapValidated:
    return MapValidated(
        track_id="t1", analysis_version=1, map_key=MAP_KEY, map_sha256="a" * 64, outcome="ready"
    )


def _request(**kw) -> DeploymentRequested:
    return DeploymentRequested(**{"deployment_id": "dep1", "track_id": "t1", **kw})


def _states(ports, deployment_id="dep1"):
    return {
        t["device_id"]: t["state"]
        for t in ports.devices.deployments.targets_by_id.values()
        if t["deployment_id"] == deployment_id
    }


async def test_a_validated_map_becomes_a_stored_bundle_devices_can_verify(ports):
    await when_map_validated(_validated(), ports)
    await when_map_validated(_validated(), ports)  # redelivered: same object, same record
    record = await ports.devices.bundles.latest("t1")
    assert record.bundle_key == "bundles/t1/v1/bundle.k1b"
    data = await ports.objects.get_bytes(record.bundle_key)
    bundle = decode_bundle(data)
    assert bundle.track_id == "t1" and bundle.latency_offset_ms == 0
    assert (record.size_bytes, record.crc32) == (len(data), int.from_bytes(data[-4:], "little"))
    built = ports.publisher.of(BundleBuilt)
    assert len({m.event_id for m in built}) == 1 and built[0].crc32 == record.crc32


async def test_a_deployment_to_a_group_offers_each_device_its_offset(ports):
    await when_map_validated(_validated(), ports)
    await when_deployment_requested(_request(group="stage"), ports)
    offers = ports.publisher.of(DeviceOffer)
    assert {(o.device_id, o.latency_offset_ms, o.attempt) for o in offers} == {
        ("d1", -20, 1),
        ("d2", 0, 1),
    }
    assert all(o.bundle_key == "bundles/t1/v1/bundle.k1b" for o in offers)
    assert _states(ports) == {"d1": "pending", "d2": "pending"}


async def test_the_bundle_is_built_on_demand_when_map_validated_is_late(ports):
    await when_deployment_requested(_request(device_ids=["d1"]), ports)
    assert (await ports.devices.bundles.latest("t1")) is not None
    assert len(ports.publisher.of(DeviceOffer)) == 1


async def test_every_device_acking_completes_the_deployment_once(ports):
    await when_deployment_requested(_request(device_ids=["d1", "d2"]), ports)
    for device in ("d1", "d2"):
        await when_device_delivered(
            DeviceDelivered(deployment_id="dep1", device_id=device, gateway_id="g"), ports
        )
    assert _states(ports) == {"d1": "delivered", "d2": "delivered"}
    await when_bundle_acked(DeviceBundleAck(deployment_id="dep1", device_id="d1", ok=True), ports)
    assert not ports.publisher.of(BundleDeployed)
    ack = DeviceBundleAck(deployment_id="dep1", device_id="d2", ok=False, reason="CRC mismatch")
    await when_bundle_acked(ack, ports)
    await when_bundle_acked(ack, ports)  # duplicate: nothing more
    [done] = ports.publisher.of(BundleDeployed)
    assert {(o.device_id, o.state, o.reason) for o in done.outcomes} == {
        ("d1", "acked", ""),
        ("d2", "failed", "CRC mismatch"),
    }


async def test_a_redelivered_request_creates_nothing_twice(ports):
    await when_deployment_requested(_request(device_ids=["d1"]), ports)
    await when_deployment_requested(_request(device_ids=["d1"]), ports)
    assert len(ports.devices.deployments.deployments) == 1
    assert len({o.event_id for o in ports.publisher.of(DeviceOffer)}) == 1


async def test_unknown_devices_and_tracks_without_a_map_fail_at_once(ports):
    await when_deployment_requested(_request(device_ids=["d1", "ghost"]), ports)
    assert _states(ports) == {"d1": "pending", "ghost": "failed"}
    await when_deployment_requested(
        _request(deployment_id="dep2", track_id="t404", device_ids=["d1"]), ports
    )
    [done] = ports.publisher.of(BundleDeployed)
    assert done.deployment_id == "dep2" and done.outcomes[0].state == "failed"
    assert "no validated map" in done.outcomes[0].reason


async def test_a_deployment_reads_its_devices_in_one_query_not_one_per_id(ports):
    repo, calls = ports.devices.devices, []

    class Counting:
        def __getattr__(self, name):
            calls.append(name)
            return getattr(repo, name)

    ports.devices.devices = Counting()
    await when_deployment_requested(
        _request(device_ids=["d1", "ghost", "d3"], group="stage"), ports
    )
    assert _states(ports) == {"d1": "pending", "ghost": "failed", "d3": "pending", "d2": "pending"}
    assert {o.device_id: o.latency_offset_ms for o in ports.publisher.of(DeviceOffer)} == {
        "d1": -20,
        "d2": 0,
        "d3": 15,
    }
    assert "get" not in calls and calls.count("get_many") <= 2, calls


async def test_a_silent_device_times_out_and_gets_it_again_when_it_reconnects(ports):
    await when_deployment_requested(_request(device_ids=["d1", "d2"], timeout_s=5), ports)
    await when_bundle_acked(DeviceBundleAck(deployment_id="dep1", device_id="d1", ok=True), ports)
    ports.clock.now += 4
    assert await sweep_once(ports) == 0
    ports.clock.now += 2
    assert await sweep_once(ports) == 1
    [first] = ports.publisher.of(BundleDeployed)
    assert {o.device_id: o.state for o in first.outcomes} == {"d1": "acked", "d2": "timed_out"}

    await when_device_connected(DeviceConnected(device_id="d2", gateway_id="g"), ports)
    again = [o for o in ports.publisher.of(DeviceOffer) if o.device_id == "d2"]
    assert [o.attempt for o in again] == [1, 2] and _states(ports)["d2"] == "pending"
    await when_device_connected(DeviceConnected(device_id="d1", gateway_id="g"), ports)
    assert len(ports.publisher.of(DeviceOffer)) == 3  # d1 had acked: nothing re-offered
    await when_bundle_acked(DeviceBundleAck(deployment_id="dep1", device_id="d2", ok=True), ports)
    final = ports.publisher.of(BundleDeployed)[-1]
    assert {o.state for o in final.outcomes} == {"acked"} and final.event_id != first.event_id


async def test_a_late_ack_after_a_timeout_still_counts(ports):
    await when_deployment_requested(_request(device_ids=["d1"], timeout_s=1), ports)
    ports.clock.now += 2
    await sweep_once(ports)
    await when_bundle_acked(DeviceBundleAck(deployment_id="dep1", device_id="d1", ok=True), ports)
    assert [d.outcomes[0].state for d in ports.publisher.of(BundleDeployed)] == [
        "timed_out",
        "acked",
    ]
