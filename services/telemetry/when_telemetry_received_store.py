"""device.telemetry.pNN → count the frames in the partition's drift windows and rollups, raise
``telemetry.alert`` for drift beyond the device's threshold, store the raw batch, then ack.

Exactly once, through redeliveries, crashes and partitions moving between processes: the raw
batch is stored under its batch id before the ack, and everything counted is derived from the
stored raw batches (``services.telemetry.partition``) — a batch already counted is skipped, and
a process that takes a partition over rebuilds it from storage. Alerts go out before the raw
batch is stored, with deterministic ids: a batch redelivered after a crash raises the same
alert again, which the gateways drop as a duplicate (so every dashboard sees it once).
"""

from __future__ import annotations

import asyncio
import logging
import time

from prometheus_client import Histogram

from contracts.events import DeviceTelemetry, TelemetryAlert
from contracts.lifecycle import alert_id, telemetry_part_id
from contracts.topology import telemetry_partition
from infra.docstore_devices_drift import ROLLUP_CHUNK_S
from infra.metrics import TELEMETRY_FRAMES
from services.telemetry.partition import PartitionState, chunk_start, rollups_from_frames
from services.telemetry.ports import TelemetryPorts
from services.telemetry.raw import Frame, frames_of, frames_of_doc, raw_doc

log = logging.getLogger("k1.telemetry")
CONSUMER = "telemetry"
LAG_SECONDS = Histogram(
    "k1_telemetry_lag_seconds",
    "Frame received at the gateway → counted in its partition's drift statistics",
    buckets=(0.01, 0.02, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30),
)


class TelemetryState:
    """The partitions this process holds, each rebuilt from storage when first needed."""

    def __init__(self, ports: TelemetryPorts) -> None:
        self.ports = ports
        self.partitions: dict[int, PartitionState] = {}
        self.locks: dict[int, asyncio.Lock] = {}
        self._thresholds: dict[str, tuple[float, float]] = {}

    def lock(self, partition: int) -> asyncio.Lock:
        return self.locks.setdefault(partition, asyncio.Lock())

    async def partition(self, p: int) -> PartitionState:
        state = self.partitions.get(p)
        if state is None:
            state = self.partitions[p] = await rebuild(self.ports, p)
        return state

    def drop(self, p: int) -> None:
        """Forget a partition (after a failure mid-batch): it is rebuilt from storage."""
        self.partitions.pop(p, None)

    async def thresholds(self, device_ids: set[str]) -> dict[str, float]:
        now, s = self.ports.clock(), self.ports.settings
        stale = [
            d
            for d in device_ids
            if (c := self._thresholds.get(d)) is None or now - c[1] >= s.threshold_cache_s
        ]
        if stale:
            found = {d.device_id: d for d in await self.ports.devices.devices.get_many(stale)}
            for device_id in stale:
                device = found.get(device_id)
                value = device.drift_threshold_ms if device else s.default_threshold_ms
                self._thresholds[device_id] = (value, now)
        return {d: self._thresholds[d][0] for d in device_ids}

    # kept for callers of the single-device form
    async def threshold_ms(self, device_id: str) -> float:
        return (await self.thresholds({device_id}))[device_id]


async def rebuild(ports: TelemetryPorts, p: int) -> PartitionState:
    """Partition ``p`` as its stored raw batches say: from the older of the window's start and
    the rollup watermark (the chunks that may not have been written yet)."""
    s, now = ports.settings, ports.clock()
    mark = await ports.devices.telemetry.get_stats(watermark_key(p))
    since = now - s.window_s - ROLLUP_CHUNK_S - s.close_delay_s
    if mark is not None:
        since = min(since, float(mark["watermark_s"]))
    since = max(since, now - s.raw_keep_s)
    state = PartitionState(p, s, horizon=float(chunk_start(since)))
    for doc in await ports.devices.telemetry.batches(p, t_from=state.horizon):
        state.apply(frames_of_doc(doc), now_s=now)
        state.seen[doc["_id"]] = float(doc["t_max"])
    log.info("partition %d rebuilt from %d frames", p, state.counted)
    return state


def watermark_key(p: int) -> str:
    return f"rollups@p{p:02d}"


async def when_telemetry_received(batch: DeviceTelemetry, state: TelemetryState) -> None:
    """Count a batch; an unpartitioned one (older gateways, tests) is counted per partition."""
    if batch.partition is not None:
        await _count(batch, batch.partition, batch.event_id, frames_of(batch), state)
        return
    for p in sorted({telemetry_partition(f.device_id) for f in batch.frames}):
        await _count(batch, p, telemetry_part_id(batch.event_id, p), frames_of(batch, p), state)


async def _count(
    batch: DeviceTelemetry, p: int, batch_id: str, frames: list[Frame], state: TelemetryState
) -> None:
    ports = state.ports
    async with state.lock(p):
        part = await state.partition(p)
        if batch_id in part.seen:
            return
        try:
            now = ports.clock()
            thresholds = await state.thresholds({f.device_id for f in frames})
            alerting = part.apply(frames, now_s=now, thresholds=thresholds)
            _sample_lag(state, frames)
            for f in alerting:
                await ports.publisher.publish(_alert(f, thresholds[f.device_id], batch.gateway_id))
            doc = raw_doc(batch_id, p, batch.gateway_id, frames, stored_s=now)
            await ports.devices.telemetry.add_batch(doc)
            part.seen[batch_id] = doc["t_max"]
        except BaseException:
            state.drop(p)  # counted in memory but not stored: rebuild from what is stored
            raise
        TELEMETRY_FRAMES.inc(len(frames))
        if alerting:
            log.info("%d drift alerts from %d frames", len(alerting), len(frames))
        await _flush_if_due(state, part, now)


def _sample_lag(state: TelemetryState, frames: list[Frame]) -> None:
    now = time.time()
    for f in frames[:: max(1, len(frames) // 8)]:  # a sample: observing costs ~1 µs each
        LAG_SECONDS.observe(now - f.t_s)


async def _flush_if_due(state: TelemetryState, part: PartitionState, now: float) -> None:
    if now - part.last_stats_s >= state.ports.settings.stats_interval_s:
        await flush(state, part, now)


async def flush(
    state: TelemetryState, part: PartitionState, now: float, *, final: bool = False
) -> None:
    """Write the partition's closed rollup chunks (every chunk when ``final``: the process is
    stopping), recomputed ones, the watermark, and the window statistics of what changed.
    Every write replaces whole documents, so writing a chunk again is harmless."""
    repo = state.ports.devices.telemetry
    docs = part.closed_chunks(float("inf") if final else part.event_now(now))
    if part.recompute:
        keys, part.recompute = part.recompute, set()
        docs += await _recomputed(state, part.partition, keys)
    await repo.put_rollups(docs)
    mark = part.watermark(part.event_now(now))
    await repo.put_stats(watermark_key(part.partition), {"watermark_s": mark})
    await repo.put_stats_many(part.stats_items())
    part.last_stats_s = now
    part.forget_seen(now - 2 * state.ports.settings.raw_keep_s)


async def _recomputed(state: TelemetryState, p: int, keys: set[tuple[str, int]]) -> list[dict]:
    t_from = float(min(k[1] for k in keys))
    t_to = float(max(k[1] for k in keys)) + ROLLUP_CHUNK_S
    frames: list[Frame] = []
    for doc in await state.ports.devices.telemetry.batches(p, t_from=t_from, t_to=t_to):
        frames.extend(frames_of_doc(doc))
    return rollups_from_frames(keys, frames, p)


async def flush_all(state: TelemetryState, *, final: bool = False) -> None:
    """Flush every partition held (the periodic tick: chunks close without new frames)."""
    for p in list(state.partitions):
        async with state.lock(p):
            part = state.partitions.get(p)
            if part is not None:
                await flush(state, part, state.ports.clock(), final=final)


def _alert(frame: Frame, threshold_ms: float, gateway_id: str) -> TelemetryAlert:
    from datetime import UTC, datetime

    stamp = round(frame.t_s * 1000)
    return TelemetryAlert(
        event_id=alert_id(frame.device_id, stamp),
        device_id=frame.device_id,
        drift_ms=frame.drift_ms,
        threshold_ms=threshold_ms,
        track_id=frame.track_id,
        frame_received_at=datetime.fromtimestamp(frame.t_s, UTC),
        deployment_id=frame.deployment_id,
        seq=frame.seq,
        gateway_id=gateway_id,
    )
