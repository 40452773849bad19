"""cmd.deployment.request → resolve the devices, find (or build) the track's bundle, record a
``pending`` state per device, offer the bundle to each; devices that cannot take it fail now."""

from __future__ import annotations

import logging

from contracts.events import DeploymentRequested
from contracts.lifecycle import DEPLOYABLE, NO_BUNDLE_KEY
from infra.docstore_devices import BundleRecord, Device, NewDeployment
from services.deployer.offers import complete_if_settled, offer
from services.deployer.ports import DeployerPorts
from services.deployer.when_map_validated_build_bundle import build_track_bundle

log = logging.getLogger("k1.deployer")


async def when_deployment_requested(cmd: DeploymentRequested, ports: DeployerPorts) -> None:
    device_ids, known = await _targets(cmd, ports)
    bundle = await _bundle_of(cmd.track_id, ports)
    timeout_s = cmd.timeout_s or ports.settings.timeout_s
    new = NewDeployment(
        deployment_id=cmd.deployment_id,
        track_id=cmd.track_id,
        bundle_key=bundle.bundle_key if bundle else NO_BUNDLE_KEY,
        crc32=bundle.crc32 if bundle else 0,
        size_bytes=bundle.size_bytes if bundle else 1,
        device_ids=tuple(device_ids),
        timeout_s=timeout_s,
    )
    deployment, created = await ports.devices.deployments.create(
        new, deadline_s=ports.clock() + timeout_s
    )
    if created:
        log.info(
            "deployment %s: track %s to %d devices",
            deployment.deployment_id,
            deployment.track_id,
            len(device_ids),
            extra={"track_id": cmd.track_id},
        )
    for device_id in device_ids:
        reason = (
            "no validated map/bundle for this track"
            if bundle is None
            else "unknown device"
            if device_id not in known
            else None
        )
        if reason:
            await ports.devices.deployments.move(
                deployment.deployment_id,
                device_id,
                to="failed",
                from_states=["pending"],
                reason=reason,
            )
    targets = await ports.devices.deployments.targets(deployment.deployment_id)
    await offer(ports, deployment, [t for t in targets if t.state == "pending"], devices=known)
    await complete_if_settled(ports, deployment.deployment_id)


async def _targets(
    cmd: DeploymentRequested, ports: DeployerPorts
) -> tuple[list[str], dict[str, Device]]:
    """The device ids to deploy to (named ones first, then the group's), and those of them
    that are registered: each device read once."""
    ids = list(dict.fromkeys(cmd.device_ids))
    known = {d.device_id: d for d in await ports.devices.devices.get_many(ids)}
    if cmd.group:
        named = set(ids)
        for device in await ports.devices.devices.in_group(cmd.group):
            if device.device_id not in named:
                ids.append(device.device_id)
            known[device.device_id] = device
    return ids, known


async def _bundle_of(track_id: str, ports: DeployerPorts) -> BundleRecord | None:
    """The track's current bundle; built now when ``map.validated`` has not reached us yet."""
    track = await ports.docs.tracks.get_track(track_id)
    if track is None or track.status not in DEPLOYABLE:
        return None
    bundle = await ports.devices.bundles.latest(track_id)
    if bundle is not None and bundle.version == track.analysis_version:
        return bundle
    record = await ports.docs.analyses.get(track_id, track.analysis_version)
    if record is None or not record.map_key:
        return bundle
    return await build_track_bundle(
        ports,
        track_id=track_id,
        version=track.analysis_version,
        map_key=record.map_key,
        map_sha256=record.map_sha256 or "",
    )
