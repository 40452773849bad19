"""Devices (admin manages, viewers read) and deployments (operators start, viewers read)."""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import Parameter

from contracts.events import DeploymentRequested
from contracts.lifecycle import DEPLOYABLE, deployment_requested_id
from infra.docstore_devices import SETTLED, Device, NewDevice
from infra.docstore_devices_drift import rollup_points
from infra.errors import Conflict
from infra.web import ApiError, errors
from services.gateway.devices.schemas import (
    MAX_DEPLOYMENT_DEVICE_IDS,
    DeploymentAccepted,
    DeploymentCreate,
    DeploymentOut,
    DeviceCreate,
    DeviceCreated,
    DeviceOut,
    DevicePage,
    DeviceState,
    DeviceUpdate,
    DriftPoint,
    DriftSeries,
    DriftStats,
)
from services.gateway.devices.service import DeviceGateway
from services.gateway.devices.tokens import hash_token, new_token

API = "/api/v1"
Limit = Annotated[int, Parameter(ge=1, le=1000, description="Page size")]
Offset = Annotated[int, Parameter(ge=0, le=1_000_000)]
Group = Annotated[str | None, Parameter(description="Only devices of this group", max_length=64)]
MAX_LISTED_UNKNOWN = 100
"""Unknown device ids listed in a 422 body (``device_ids``); ``unknown_count`` has them all."""
MAX_LISTED_IN_DETAIL = 20
MAX_SERIES_S = 6 * 3600
"""Longest span of one drift series request (21,600 one-second points)."""
SinceS = Annotated[
    float | None, Parameter(ge=0, description="Start, Unix seconds (default: until_s - 600)")
]
UntilS = Annotated[float | None, Parameter(ge=0, description="End, Unix seconds (default: now)")]


def _out(device: Device, drift: dict | None = None) -> dict:
    return {
        "device_id": device.device_id,
        "name": device.name,
        "group": device.group,
        "latency_offset_ms": device.latency_offset_ms,
        "drift_threshold_ms": device.drift_threshold_ms,
        "connected": device.connected,
        "created_at": device.created_at,
        "updated_at": device.updated_at,
        "drift": DriftStats(**drift) if drift else None,
    }


async def _device(gw: DeviceGateway, device_id: str) -> Device:
    device = await gw.devices.devices.get(device_id) if len(device_id) <= 64 else None
    if device is None:
        raise ApiError(404, "not_found", f"no device {device_id[:64]}")
    return device


async def _check_targets(gw: DeviceGateway, data: DeploymentCreate) -> list[str]:
    """The request's device ids, each once; 422 for no target, too many ids, ids that are not
    registered (listed, capped) or a group without devices. One query for all the ids."""
    if len(data.device_ids) > MAX_DEPLOYMENT_DEVICE_IDS:
        raise ApiError(
            422,
            "too_many_devices",
            f"at most {MAX_DEPLOYMENT_DEVICE_IDS} device_ids per deployment, got "
            f"{len(data.device_ids)}; deploy to a group instead",
        )
    if not data.device_ids and not data.group:
        raise ApiError(422, "no_target", "give device_ids, a group, or both")
    ids = list(dict.fromkeys(data.device_ids))
    known = {d.device_id for d in await gw.devices.devices.get_many(ids)}
    unknown = [d for d in ids if d not in known]
    if unknown:
        raise ApiError(
            422,
            "unknown_devices",
            f"{len(unknown)} unknown devices: "
            f"{', '.join(unknown[:MAX_LISTED_IN_DETAIL])}"
            f"{', …' if len(unknown) > MAX_LISTED_IN_DETAIL else ''}",
            extra={"device_ids": unknown[:MAX_LISTED_UNKNOWN], "unknown_count": len(unknown)},
        )
    if data.group and not await gw.devices.devices.list(group=data.group, limit=1):
        raise ApiError(422, "unknown_group", f"no device is in group {data.group}")
    return ids


class DeviceController(Controller):
    path = f"{API}/devices"
    tags = ["devices"]

    @post(
        "",
        opt={"role": "admin"},
        status_code=201,
        responses=errors(400, 401, 403, 409),
        summary="Register a device; its token is returned once",
    )
    async def create(self, data: DeviceCreate, device_gateway: DeviceGateway) -> DeviceCreated:
        token = new_token()
        try:
            device = await device_gateway.devices.devices.create(
                NewDevice(
                    device_id=data.device_id or f"dev-{uuid.uuid4().hex[:12]}",
                    name=data.name,
                    group=data.group,
                    token_hash=hash_token(token),
                    latency_offset_ms=data.latency_offset_ms,
                    drift_threshold_ms=data.drift_threshold_ms,
                )
            )
        except Conflict:
            raise ApiError(409, "conflict", f"device {data.device_id} exists") from None
        return DeviceCreated(**_out(device), token=token)

    @get("", opt={"role": "viewer"}, summary="List devices", responses=errors(400, 401, 403))
    async def list_devices(
        self,
        device_gateway: DeviceGateway,
        group: Group = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> DevicePage:
        found = await device_gateway.devices.devices.list(group=group, limit=limit, offset=offset)
        return DevicePage(items=[DeviceOut(**_out(d)) for d in found], limit=limit, offset=offset)

    @get(
        "/{device_id:str}",
        opt={"role": "viewer"},
        summary="A device and its drift",
        responses=errors(400, 401, 403, 404),
    )
    async def get_device(self, device_id: str, device_gateway: DeviceGateway) -> DeviceOut:
        device = await _device(device_gateway, device_id)
        stats = await device_gateway.devices.telemetry.get_stats(f"device:{device_id}")
        return DeviceOut(**_out(device, stats))

    @get(
        "/{device_id:str}/drift",
        opt={"role": "viewer"},
        summary="A device's drift per second (P50/P95/max |drift|, frames) from the rollups",
        responses=errors(400, 401, 403, 404),
    )
    async def drift_series(
        self,
        device_id: str,
        device_gateway: DeviceGateway,
        since_s: SinceS = None,
        until_s: UntilS = None,
    ) -> DriftSeries:
        """Per-second rollups, written by the telemetry service once each 10 s chunk closes
        (a few seconds behind the live ``drift`` of the device); at most 6 hours per call."""
        await _device(device_gateway, device_id)
        until = time.time() if until_s is None else until_s
        since = until - 600 if since_s is None else since_s
        if not 0 <= until - since <= MAX_SERIES_S:
            raise ApiError(400, "bad_range", f"since_s..until_s must span 0..{MAX_SERIES_S} s")
        docs = await device_gateway.devices.telemetry.rollups(
            device_id, since_s=since, until_s=until
        )
        points = [DriftPoint(**p) for p in rollup_points(docs, since, until)]
        return DriftSeries(
            device_id=device_id, since_s=since, until_s=until, resolution_s=1, points=points
        )

    @patch(
        "/{device_id:str}",
        opt={"role": "admin"},
        responses=errors(400, 401, 403, 404),
        summary="Change a device's name, group, latency offset or drift threshold",
    )
    async def update(
        self, device_id: str, data: DeviceUpdate, device_gateway: DeviceGateway
    ) -> DeviceOut:
        await _device(device_gateway, device_id)
        device = await device_gateway.devices.devices.update(
            device_id, **data.model_dump(exclude_none=True)
        )
        if device is None:
            raise ApiError(404, "not_found", f"no device {device_id}")
        if (conn := device_gateway.hub.devices.get(device_id)) is not None:
            conn.threshold_ms = device.drift_threshold_ms
        return DeviceOut(**_out(device))

    @delete(
        "/{device_id:str}",
        opt={"role": "admin"},
        status_code=204,
        responses=errors(400, 401, 403, 404),
        summary="Remove a device (its socket is closed)",
    )
    async def remove(self, device_id: str, device_gateway: DeviceGateway) -> None:
        await _device(device_gateway, device_id)
        await device_gateway.devices.devices.delete(device_id)
        if (conn := device_gateway.hub.devices.get(device_id)) is not None:
            await conn.close(1008, "device removed")


class DeploymentController(Controller):
    path = f"{API}/deployments"
    tags = ["deployments"]

    @post(
        "",
        opt={"role": "operator"},
        status_code=202,
        responses=errors(400, 401, 403, 404, 409, 422),
        summary="Deploy a track's bundle to devices or a group",
    )
    async def create(
        self, data: DeploymentCreate, device_gateway: DeviceGateway
    ) -> Response[DeploymentAccepted]:
        gw = device_gateway
        track = await gw.docs.tracks.get_track(data.track_id)
        if track is None:
            raise ApiError(404, "not_found", f"no track {data.track_id}")
        if track.status not in DEPLOYABLE:
            raise ApiError(
                409,
                "not_ready",
                f"track {data.track_id} is {track.status}; only ready tracks can be deployed",
            )
        device_ids = await _check_targets(gw, data)
        deployment_id = uuid.uuid4().hex
        await gw.publisher.publish(
            DeploymentRequested(
                event_id=deployment_requested_id(deployment_id),
                deployment_id=deployment_id,
                track_id=data.track_id,
                device_ids=device_ids,
                group=data.group,
                timeout_s=data.timeout_s,
            )
        )
        gw.requested[deployment_id] = data.track_id
        if len(gw.requested) > 10_000:
            gw.requested.pop(next(iter(gw.requested)))
        url = f"{API}/deployments/{deployment_id}"
        return Response(
            DeploymentAccepted(deployment_id=deployment_id, status_url=url),
            status_code=202,
            headers={"Location": url},
        )

    @get(
        "/{deployment_id:str}",
        opt={"role": "viewer"},
        responses=errors(400, 401, 403, 404),
        summary="A deployment and the state of each device",
    )
    async def get_deployment(
        self, deployment_id: str, device_gateway: DeviceGateway
    ) -> DeploymentOut:
        gw = device_gateway
        deployment = await gw.devices.deployments.get(deployment_id)
        if deployment is None:
            if deployment_id in gw.requested:
                return DeploymentOut(
                    deployment_id=deployment_id,
                    track_id=gw.requested[deployment_id],
                    status="requested",
                )
            raise ApiError(404, "not_found", f"no deployment {deployment_id[:64]}")
        targets = await gw.devices.deployments.targets(deployment_id)
        counts: dict[str, int] = {}
        for t in targets:
            counts[t.state] = counts.get(t.state, 0) + 1
        stats = await gw.devices.telemetry.get_stats(f"deployment:{deployment_id}")
        done = all(t.state in SETTLED for t in targets)
        return DeploymentOut(
            deployment_id=deployment_id,
            track_id=deployment.track_id,
            status="complete" if done else "in_progress",
            bundle_key=deployment.bundle_key,
            crc32=deployment.crc32,
            size_bytes=deployment.size_bytes,
            counts=counts,
            devices=[
                DeviceState(
                    device_id=t.device_id, state=t.state, reason=t.reason, attempt=t.attempt
                )
                for t in targets
            ],
            drift=DriftStats(**stats) if stats else None,
        )
