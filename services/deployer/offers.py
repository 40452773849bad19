"""Offering bundles to devices and announcing finished deployments (shared by the handlers)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping

from contracts.events import BundleDeployed, DeviceOffer
from contracts.lifecycle import deployed_id, offer_id
from infra.docstore_devices import Deployment, Device, Target
from services.deployer.domain import outcomes, outcomes_digest, settled
from services.deployer.ports import DeployerPorts

log = logging.getLogger("k1.deployer")


async def offer(
    ports: DeployerPorts,
    deployment: Deployment,
    targets: Iterable[Target],
    *,
    devices: Mapping[str, Device] | None = None,
) -> None:
    """Publish a ``device.offer`` per target (any gateway holding the device's socket acts).
    ``devices``: the targets' devices when the caller has read them already; else they are
    read here, in one query."""
    targets = list(targets)
    limit = asyncio.Semaphore(ports.settings.offer_concurrency)
    if devices is None:
        found = await ports.devices.devices.get_many([t.device_id for t in targets])
        devices = {d.device_id: d for d in found}
    offsets = {k: d.latency_offset_ms for k, d in devices.items()}

    async def one(target: Target) -> None:
        async with limit:
            await ports.publisher.publish(
                DeviceOffer(
                    event_id=offer_id(deployment.deployment_id, target.device_id, target.attempt),
                    deployment_id=deployment.deployment_id,
                    device_id=target.device_id,
                    track_id=deployment.track_id,
                    bundle_key=deployment.bundle_key,
                    crc32=deployment.crc32,
                    size_bytes=deployment.size_bytes,
                    latency_offset_ms=offsets.get(target.device_id, 0),
                    attempt=target.attempt,
                )
            )

    await asyncio.gather(*(one(t) for t in targets))


async def complete_if_settled(ports: DeployerPorts, deployment_id: str) -> bool:
    """Announce ``bundle.deployed`` once every device is acked, failed or timed out — again
    only if the outcomes changed since (a timed-out device that acks later)."""
    deployment = await ports.devices.deployments.get(deployment_id)
    if deployment is None:
        return False
    targets = await ports.devices.deployments.targets(deployment_id)
    if not settled(targets):
        return False
    items = outcomes(targets)
    digest = outcomes_digest(items)
    if deployment.completed_digest == digest:
        return False
    await ports.publisher.publish(
        BundleDeployed(
            event_id=deployed_id(deployment_id, digest),
            deployment_id=deployment_id,
            track_id=deployment.track_id,
            bundle_key=deployment.bundle_key,
            outcomes=items,
        )
    )
    await ports.devices.deployments.mark_completed(deployment_id, digest)
    counts = {s: sum(1 for o in items if o.state == s) for s in ("acked", "failed", "timed_out")}
    log.info("deployment %s complete: %s", deployment_id, counts)
    return True
