"""device.connected → re-offer every deployment the device has not answered yet (pending,
delivered to a socket that closed, or timed out while it was away)."""

from __future__ import annotations

import logging

from contracts.events import DeviceConnected
from services.deployer.domain import REOFFER_FROM
from services.deployer.offers import offer
from services.deployer.ports import DeployerPorts

log = logging.getLogger("k1.deployer")


async def when_device_connected(event: DeviceConnected, ports: DeployerPorts) -> None:
    repo = ports.devices.deployments
    for target in await repo.for_device(event.device_id, REOFFER_FROM):
        deployment = await repo.get(target.deployment_id)
        if deployment is None:
            continue
        again = await repo.move(
            target.deployment_id,
            target.device_id,
            to="pending",
            from_states=[target.state],
            reason="",
            deadline_s=ports.clock() + deployment.timeout_s,
            next_attempt=True,
        )
        if again is None:  # answered or re-offered meanwhile
            continue
        log.info(
            "re-offering deployment %s to %s (attempt %d)",
            deployment.deployment_id,
            target.device_id,
            again.attempt,
        )
        await offer(ports, deployment, [again])
