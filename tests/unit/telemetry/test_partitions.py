"""Telemetry partitions over fakes: a process that takes a partition over rebuilds exactly what
the previous owner counted from the stored raw batches; late frames rewrite their rollup from
storage; a deployment's windows from two partitions merge; older gateways' batches are split."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.events import DeviceTelemetry, TelemetryFrame
from contracts.topology import telemetry_partition
from infra.docstore_devices_fake import FakeDeviceDocStore
from infra.docstore_fake import FakeDocStore
from infra.publishing import RecordingPublisher
from services.telemetry.config import TelemetrySettings
from services.telemetry.ports import TelemetryPorts
from services.telemetry.when_telemetry_received_store import (
    TelemetryState,
    flush_all,
    when_telemetry_received,
)
from services.telemetry.when_unpartitioned_batch_split import split

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _devices_in_two_partitions() -> tuple[str, str]:
    names = [f"dev-{i}" for i in range(50)]
    first = names[0]
    other = next(n for n in names if telemetry_partition(n) != telemetry_partition(first))
    return first, other


def _ports(store: FakeDeviceDocStore, now_s: list[float]) -> TelemetryPorts:
    return TelemetryPorts(
        devices=store,
        ledger=FakeDocStore().events,
        publisher=RecordingPublisher(),
        settings=TelemetrySettings(stats_interval_s=0),
        clock=lambda: now_s[0],
    )


def _batch(device: str, start_s: float, drifts, *, event_id: str, deployment="dep1"):
    frames = [
        TelemetryFrame(
            device_id=device,
            drift_ms=d,
            cpu_pct=1,
            temperature_c=30,
            received_at=T0 + timedelta(seconds=start_s + i * 0.1),
            seq=i,
            deployment_id=deployment,
        )
        for i, d in enumerate(drifts)
    ]
    return DeviceTelemetry(
        event_id=event_id,
        gateway_id="g1",
        frames=frames,
        partition=telemetry_partition(device),
    )


async def _rollup_total(store: FakeDeviceDocStore) -> dict[str, int]:
    totals: dict[str, int] = {}
    for doc in store.telemetry.rollup_docs.values():
        totals[doc["device_id"]] = totals.get(doc["device_id"], 0) + sum(doc["n"])
    return totals


async def test_a_new_owner_rebuilds_the_partition_and_skips_what_was_counted():
    store, now = FakeDeviceDocStore(), [T0.timestamp() + 5]
    device, _ = _devices_in_two_partitions()
    old = TelemetryState(_ports(store, now))
    first = _batch(device, 0, [1.0, -2.0, 3.0], event_id="b1")
    await when_telemetry_received(first, old)
    before = await store.telemetry.get_stats(f"device:{device}")
    # the old owner dies here; the new one gets the first batch again, then a new one
    new = TelemetryState(_ports(store, now))
    await when_telemetry_received(first, new)
    assert await store.telemetry.get_stats(f"device:{device}") == before
    second = _batch(device, 1, [4.0], event_id="b2")
    await when_telemetry_received(second, new)
    stats = await store.telemetry.get_stats(f"device:{device}")
    assert stats is not None and (stats["count"], stats["max_ms"]) == (4, 4.0)
    now[0] += 60
    await flush_all(new, final=True)
    assert await _rollup_total(store) == {device: 4}
    assert await store.telemetry.count_frames(device) == 4


async def test_a_late_frame_rewrites_its_written_rollup_from_storage():
    store, now = FakeDeviceDocStore(), [T0.timestamp() + 5]
    device, _ = _devices_in_two_partitions()
    state = TelemetryState(_ports(store, now))
    await when_telemetry_received(_batch(device, 0, [1.0, 2.0], event_id="b1"), state)
    await when_telemetry_received(_batch(device, 30, [1.0], event_id="b2"), state)
    [written] = [d for d in store.telemetry.rollup_docs.values() if d["t0_s"] == T0.timestamp()]
    assert written["n"] == [2]
    await when_telemetry_received(_batch(device, 0.5, [9.0], event_id="late"), state)
    await when_telemetry_received(_batch(device, 0.5, [9.0], event_id="late"), state)  # again
    [rewritten] = [d for d in store.telemetry.rollup_docs.values() if d["t0_s"] == T0.timestamp()]
    assert (rewritten["n"], rewritten["max"]) == ([3], [9.0])


async def test_a_deployment_spanning_two_partitions_merges_on_read():
    store, now = FakeDeviceDocStore(), [T0.timestamp() + 5]
    a, b = _devices_in_two_partitions()
    one, two = TelemetryState(_ports(store, now)), TelemetryState(_ports(store, now))
    await when_telemetry_received(_batch(a, 0, [1.0, 2.0, 3.0], event_id="a1"), one)
    await when_telemetry_received(_batch(b, 0, [10.0, -20.0], event_id="b1"), two)
    merged = await store.telemetry.get_stats("deployment:dep1")
    assert merged is not None
    assert (merged["count"], merged["max_ms"], merged["partitions"]) == (5, 20.0, 2)
    assert abs(merged["p50_ms"] - 3.0) <= 0.03


def test_an_older_gateways_mixed_batch_is_split_by_partition_with_derived_ids():
    a, b = _devices_in_two_partitions()
    frames = [
        TelemetryFrame(device_id=d, drift_ms=1, cpu_pct=1, temperature_c=30, received_at=T0)
        for d in (a, b, a)
    ]
    parts = split(DeviceTelemetry(event_id="mixed", gateway_id="g-old", frames=frames))
    assert sorted((p.partition, len(p.frames)) for p in parts) == sorted(
        [(telemetry_partition(a), 2), (telemetry_partition(b), 1)]
    )
    assert {p.event_id for p in parts} == {f"mixed.p{p.partition:02d}" for p in parts}
    assert [p.route() for p in parts] == [f"device.telemetry.p{p.partition:02d}" for p in parts]
