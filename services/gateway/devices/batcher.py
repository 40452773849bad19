"""Forwards acknowledged telemetry to RabbitMQ in batches, one per telemetry partition
(``device.telemetry.pNN``, see ``contracts.topology``): every ``interval_s`` or as soon as
``max_frames`` are waiting. The partitions' batches go out concurrently. While RabbitMQ is away,
up to ``buffer_max`` frames wait (the oldest are dropped and counted beyond that)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import msgspec
from prometheus_client import Counter
from pydantic import PrivateAttr

from contracts.base import TraceContext, new_id
from contracts.events import DeviceTelemetry
from contracts.topology import telemetry_partition
from infra.publishing import Publisher

log = logging.getLogger("k1.gateway.devices")
BATCHES = Counter("k1_gateway_telemetry_batches_total", "device.telemetry batches published")
DROPPED = Counter("k1_gateway_telemetry_dropped_total", "Frames dropped: RabbitMQ was away")
FORWARDED = Counter("k1_gateway_device_frames_total", "Telemetry frames acknowledged and forwarded")
_encode = msgspec.json.Encoder().encode


class EncodedTelemetry(DeviceTelemetry):
    """A ``device.telemetry`` batch whose frames stay plain dicts, encoded by msgspec: the
    gateway's hot path builds no pydantic model per frame. Its JSON is exactly
    ``DeviceTelemetry``'s (the frames were validated by the protocol decoder)."""

    _rows: list[dict] = PrivateAttr(default_factory=list)

    @classmethod
    def of(
        cls, gateway_id: str, rows: list[dict], partition: int | None = None
    ) -> EncodedTelemetry:
        batch = cls.model_construct(
            event_id=new_id(),
            schema_version=1,
            occurred_at=datetime.now(UTC),
            trace=TraceContext(),
            gateway_id=gateway_id,
            frames=[],
            partition=partition,
        )
        batch._rows = rows
        return batch

    def model_dump_json(self, **_: object) -> str:
        return _encode(
            {
                "event_id": self.event_id,
                "schema_version": self.schema_version,
                "occurred_at": self.occurred_at,
                "trace": self.trace.model_dump(),
                "gateway_id": self.gateway_id,
                "frames": self._rows,
                "partition": self.partition,
            }
        ).decode()

    def to_message(self) -> DeviceTelemetry:
        return DeviceTelemetry.model_validate_json(self.model_dump_json())


class TelemetryBatcher:
    def __init__(
        self,
        publisher: Publisher,
        *,
        gateway_id: str,
        interval_s: float = 0.05,
        max_frames: int = 500,
        buffer_max: int = 50_000,
    ) -> None:
        self.publisher, self.gateway_id = publisher, gateway_id
        self.interval_s, self.max_frames, self.buffer_max = interval_s, max_frames, buffer_max
        self._frames: dict[int, list[dict]] = {}
        self._waiting = 0
        self._partition_of: dict[str, int] = {}
        self._full: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self.published = 0

    def add(self, device_id: str, msg, received_at: float) -> None:
        """Queue one validated frame (already checked by the protocol decoder)."""
        partition = self._partition_of.get(device_id)
        if partition is None:
            if len(self._partition_of) > 100_000:
                self._partition_of.clear()
            partition = self._partition_of[device_id] = telemetry_partition(device_id)
        self._frames.setdefault(partition, []).append(
            {
                "device_id": device_id,
                "drift_ms": msg.drift_ms,
                "cpu_pct": msg.cpu_pct,
                "temperature_c": msg.temperature_c,
                "track_id": msg.track_id,
                "position_ms": msg.position_ms,
                "seq": msg.seq,
                "deployment_id": msg.deployment_id,
                "received_at": datetime.fromtimestamp(received_at, UTC),
            }
        )
        self._waiting += 1
        if self._waiting >= self.max_frames and self._full is not None:
            self._full.set()

    async def flush(self) -> int:
        """Publish everything waiting, each partition's frames in batches of ``max_frames``;
        what was not confirmed is kept (in order) and the first error raised."""
        pending, self._frames, self._waiting = self._frames, {}, 0
        chunks = [
            (p, rows[i : i + self.max_frames])
            for p, rows in pending.items()
            for i in range(0, len(rows), self.max_frames)
        ]
        results = await asyncio.gather(
            *(self._publish(p, chunk) for p, chunk in chunks), return_exceptions=True
        )
        sent, error = 0, None
        failed: dict[int, list[dict]] = {}
        for (p, chunk), result in zip(chunks, results, strict=True):
            if isinstance(result, BaseException):
                failed.setdefault(p, []).extend(chunk)
                error = error or result
            else:
                sent += len(chunk)
        self.published += sent
        if failed:
            for p, rows in self._frames.items():  # frames that came while publishing
                failed.setdefault(p, []).extend(rows)
            self._frames = failed
            self._waiting = sum(len(rows) for rows in failed.values())
            self._trim()
            assert error is not None
            raise error
        return sent

    async def _publish(self, partition: int, rows: list[dict]) -> None:
        await self.publisher.publish(EncodedTelemetry.of(self.gateway_id, rows, partition))
        BATCHES.inc()
        FORWARDED.inc(len(rows))

    def _trim(self) -> None:
        excess = self._waiting - self.buffer_max
        if excess <= 0:
            return
        self._waiting -= excess
        DROPPED.inc(excess)
        for rows in self._frames.values():  # the oldest go, spread over the partitions
            if excess <= 0:
                break
            share = min(len(rows), excess)
            del rows[:share]
            excess -= share

    async def run(self) -> None:
        self._full = asyncio.Event()  # bound to the loop that runs the batcher
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._full.wait(), self.interval_s)
            self._full.clear()
            try:
                await self.flush()
            except Exception as exc:
                log.warning("telemetry batch not published, kept for retry: %s", type(exc).__name__)
                await asyncio.sleep(min(1.0, self.interval_s * 10))

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="telemetry-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush()
