"""The deployer's routing and composition root: one durable queue per reaction."""

from __future__ import annotations

from contracts.events import (
    DeploymentRequested,
    DeviceBundleAck,
    DeviceConnected,
    DeviceDelivered,
    MapValidated,
)
from contracts.topology import subscription
from infra.broker import subscribe
from infra.docstore_devices import DeviceDocStore
from infra.runtime import Infra
from services.deployer.config import DeployerSettings
from services.deployer.ports import DeployerPorts
from services.deployer.timeouts import start_sweeper
from services.deployer.when_deployment_requested_offer import when_deployment_requested
from services.deployer.when_device_answers_settle import when_bundle_acked, when_device_delivered
from services.deployer.when_device_connected_reoffer import when_device_connected
from services.deployer.when_map_validated_build_bundle import when_map_validated


def register(broker, ports: DeployerPorts) -> None:
    @subscribe(broker, subscription("deployer", "map.validated"), MapValidated)
    async def on_map_validated(msg: MapValidated) -> None:
        await when_map_validated(msg, ports)

    @subscribe(broker, subscription("deployer", "cmd.deployment.request"), DeploymentRequested)
    async def on_deployment_requested(msg: DeploymentRequested) -> None:
        await when_deployment_requested(msg, ports)

    @subscribe(
        broker,
        subscription("deployer", "device.delivered"),
        DeviceDelivered,
        prefetch=32,
        quiet=True,
    )
    async def on_device_delivered(msg: DeviceDelivered) -> None:
        await when_device_delivered(msg, ports)

    @subscribe(broker, subscription("deployer", "device.bundle.ack"), DeviceBundleAck, prefetch=32)
    async def on_bundle_ack(msg: DeviceBundleAck) -> None:
        await when_bundle_acked(msg, ports)

    @subscribe(
        broker,
        subscription("deployer", "device.connected"),
        DeviceConnected,
        prefetch=32,
        quiet=True,
    )
    async def on_device_connected(msg: DeviceConnected) -> None:
        await when_device_connected(msg, ports)


async def setup(infra: Infra):
    devices = DeviceDocStore(infra.docs)
    await devices.ensure_indexes()
    ports = DeployerPorts(
        docs=infra.docs,
        devices=devices,
        objects=infra.objects,
        publisher=infra.publisher,
        settings=DeployerSettings(),
    )
    register(infra.broker, ports)
    return start_sweeper(ports)
