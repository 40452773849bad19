"""device.telemetry (a batch of an older gateway, devices of any partition) → the same frames
republished per partition (``device.telemetry.pNN``), so that only a partition's owner counts
them. Event ids are derived (``<id>.pNN``): a redelivered batch republishes the same ids, which
the partitions' owners skip as already counted."""

from __future__ import annotations

from contracts.events import DeviceTelemetry
from contracts.lifecycle import telemetry_part_id
from contracts.topology import telemetry_partition
from infra.publishing import Publisher


def split(batch: DeviceTelemetry) -> list[DeviceTelemetry]:
    by_partition: dict[int, list] = {}
    for frame in batch.frames:
        by_partition.setdefault(telemetry_partition(frame.device_id), []).append(frame)
    return [
        DeviceTelemetry(
            event_id=telemetry_part_id(batch.event_id, p),
            occurred_at=batch.occurred_at,
            trace=batch.trace,
            gateway_id=batch.gateway_id,
            frames=frames,
            partition=p,
        )
        for p, frames in sorted(by_partition.items())
    ]


async def when_unpartitioned_batch_split(batch: DeviceTelemetry, publisher: Publisher) -> None:
    if batch.partition is not None:  # already routed: just pass it on to its partition
        await publisher.publish(batch)
        return
    for part in split(batch):
        await publisher.publish(part)
