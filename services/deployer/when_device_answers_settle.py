"""device.delivered / device.bundle.ack → move that device's state (guarded), and announce
``bundle.deployed`` when the whole deployment is settled."""

from __future__ import annotations

import logging

from contracts.events import DeviceBundleAck, DeviceDelivered
from infra.docstore_devices import TargetState
from services.deployer.domain import ACK_FROM
from services.deployer.offers import complete_if_settled
from services.deployer.ports import DeployerPorts

log = logging.getLogger("k1.deployer")


async def when_device_delivered(event: DeviceDelivered, ports: DeployerPorts) -> None:
    await ports.devices.deployments.move(
        event.deployment_id, event.device_id, to="delivered", from_states=["pending"]
    )


async def when_bundle_acked(event: DeviceBundleAck, ports: DeployerPorts) -> None:
    to: TargetState = "acked" if event.ok else "failed"
    moved = await ports.devices.deployments.move(
        event.deployment_id,
        event.device_id,
        to=to,
        from_states=ACK_FROM,
        reason="" if event.ok else (event.reason or "the device refused the bundle"),
    )
    if moved is not None:
        log.info(
            "device %s %s deployment %s%s",
            event.device_id,
            to,
            event.deployment_id,
            f": {event.reason}" if event.reason else "",
        )
    await complete_if_settled(ports, event.deployment_id)
