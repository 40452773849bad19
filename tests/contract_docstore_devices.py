"""Behaviour every device document store must have: the fake (``unit/``) and the MongoDB
adapter over nx-27017 (``integration/``) both subclass :class:`DeviceDocsContract` and give
it a ``docs`` fixture."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from infra.docstore_devices import BundleRecord, NewDeployment, NewDevice
from infra.errors import Conflict


def new_device(device_id: str, group: str = "stage", **overrides) -> NewDevice:
    fields = {
        "device_id": device_id,
        "name": f"bar {device_id}",
        "group": group,
        "token_hash": hashlib.sha256(device_id.encode()).hexdigest(),
    }
    fields.update(overrides)
    return NewDevice(**fields)  # type: ignore[arg-type]


def new_deployment(deployment_id: str = "dep1", devices=("d1", "d2")) -> NewDeployment:
    return NewDeployment(
        deployment_id=deployment_id,
        track_id="t1",
        bundle_key="bundles/t1/v1/bundle.k1b",
        crc32=0xDEADBEEF,
        size_bytes=1234,
        device_ids=tuple(devices),
        timeout_s=30.0,
    )


class DeviceDocsContract:
    # ------------------------------------------------------------------------------ devices

    async def test_a_device_is_created_once_and_read_back(self, docs):
        created = await docs.devices.create(new_device("d1", latency_offset_ms=-12))
        assert created.latency_offset_ms == -12 and created.drift_threshold_ms == 50.0
        assert not created.connected and created.gateway_id is None
        assert await docs.devices.get("d1") == created
        with pytest.raises(Conflict):
            await docs.devices.create(new_device("d1"))
        assert await docs.devices.get("nope") is None

    async def test_devices_list_by_group_and_page(self, docs):
        for i, group in enumerate(["a", "b", "a", "a"]):
            await docs.devices.create(new_device(f"d{i}", group=group))
        assert [d.device_id for d in await docs.devices.list()] == ["d0", "d1", "d2", "d3"]
        assert [d.device_id for d in await docs.devices.in_group("a")] == ["d0", "d2", "d3"]
        assert [d.device_id for d in await docs.devices.list(group="a", limit=1, offset=1)] == [
            "d2"
        ]

    async def test_many_devices_are_read_in_one_call_and_unknown_ids_are_absent(self, docs):
        for i in (3, 1, 2):
            await docs.devices.create(new_device(f"d{i}"))
        found = await docs.devices.get_many(["d2", "ghost", "d3", "d2", "d1"])
        assert [d.device_id for d in found] == ["d1", "d2", "d3"]
        assert found[0] == await docs.devices.get("d1")
        assert await docs.devices.get_many([]) == ()
        many = [f"x{i}" for i in range(4999)] + ["d1"]
        assert [d.device_id for d in await docs.devices.get_many(many)] == ["d1"]

    async def test_an_admin_changes_offset_group_threshold_only(self, docs):
        await docs.devices.create(new_device("d1"))
        changed = await docs.devices.update(
            "d1", latency_offset_ms=40, group="club", drift_threshold_ms=20.0
        )
        assert (changed.latency_offset_ms, changed.group, changed.drift_threshold_ms) == (
            40,
            "club",
            20.0,
        )
        with pytest.raises(ValueError):
            await docs.devices.update("d1", token_hash="x")
        assert await docs.devices.update("missing", group="x") is None
        assert await docs.devices.delete("d1") and not await docs.devices.delete("d1")

    async def test_a_late_disconnect_does_not_undo_a_reconnect_elsewhere(self, docs):
        await docs.devices.create(new_device("d1"))
        await docs.devices.set_connection("d1", connected=True, gateway_id="g1")
        await docs.devices.set_connection("d1", connected=True, gateway_id="g2")
        await docs.devices.set_connection("d1", connected=False, gateway_id="g1")
        device = await docs.devices.get("d1")
        assert device.connected and device.gateway_id == "g2"
        await docs.devices.set_connection("d1", connected=False, gateway_id="g2")
        assert not (await docs.devices.get("d1")).connected

    async def test_a_connection_whose_gateway_stops_renewing_lapses_to_offline(self, docs):
        """A gateway killed with its sockets open leaves ``connected: true`` behind; the lease
        turns it offline unless that gateway keeps renewing — and only its own devices."""
        docs.devices.presence_lease_s = 0.4
        for device_id, gateway_id in (("d1", "g1"), ("d2", "g2")):
            await docs.devices.create(new_device(device_id))
            await docs.devices.set_connection(device_id, connected=True, gateway_id=gateway_id)
        assert (await docs.devices.get("d1")).connected
        for _ in range(4):  # g1 renews through more than a lease; g2 is dead
            await asyncio.sleep(0.2)
            assert await docs.devices.renew_connections("g1") == 1
        d1, d2 = await docs.devices.get("d1"), await docs.devices.get("d2")
        assert d1.connected and d1.gateway_id == "g1"
        assert not d2.connected and d2.gateway_id is None
        assert [d.connected for d in await docs.devices.list()] == [True, False]
        await docs.devices.set_connection("d2", connected=True, gateway_id="g3")  # reconnects
        assert (await docs.devices.get("d2")).connected
        await docs.devices.set_connection("d1", connected=False, gateway_id="g1")
        assert await docs.devices.renew_connections("g1") == 0

    # ------------------------------------------------------------------------------ bundles

    async def test_the_latest_bundle_of_a_track_wins_and_put_repeats(self, docs):
        for version in (1, 2, 2):
            await docs.bundles.put(
                BundleRecord("t1", version, f"bundles/t1/v{version}/b", version, 100, "a" * 64)
            )
        latest = await docs.bundles.latest("t1")
        assert latest.version == 2 and latest.bundle_key == "bundles/t1/v2/b"
        assert await docs.bundles.latest("t2") is None
        await docs.bundles.put(BundleRecord("t2", 1, "bundles/t2/v1/b", 1, 100, "c" * 64))
        assert await docs.bundles.delete_track("t1") == 2
        assert await docs.bundles.latest("t1") is None and await docs.bundles.latest("t2")

    # -------------------------------------------------------------------------- deployments

    async def test_a_deployment_starts_pending_per_device_and_creation_repeats(self, docs):
        stored, created = await docs.deployments.create(new_deployment(), deadline_s=100.0)
        assert created and stored.device_ids == ("d1", "d2") and stored.completed_digest is None
        again, created = await docs.deployments.create(new_deployment(), deadline_s=999.0)
        assert not created and again == stored
        targets = await docs.deployments.targets("dep1")
        assert [(t.device_id, t.state, t.attempt, t.deadline_s) for t in targets] == [
            ("d1", "pending", 1, 100.0),
            ("d2", "pending", 1, 100.0),
        ]

    async def test_states_move_only_from_the_named_states(self, docs):
        await docs.deployments.create(new_deployment(), deadline_s=100.0)
        moved = await docs.deployments.move("dep1", "d1", to="delivered", from_states=["pending"])
        assert moved.state == "delivered"
        assert (
            await docs.deployments.move("dep1", "d1", to="delivered", from_states=["pending"])
            is None
        )
        acked = await docs.deployments.move(
            "dep1", "d1", to="failed", from_states=["pending", "delivered"], reason="CRC mismatch"
        )
        assert (acked.state, acked.reason) == ("failed", "CRC mismatch")
        assert (
            await docs.deployments.move("dep1", "zz", to="acked", from_states=["pending"]) is None
        )
        with pytest.raises(ValueError):
            await docs.deployments.move("dep1", "d2", to="lost", from_states=["pending"])

    async def test_expired_and_per_device_queries_drive_timeouts_and_reoffers(self, docs):
        await docs.deployments.create(new_deployment("dep1", ["d1", "d2"]), deadline_s=100.0)
        await docs.deployments.create(new_deployment("dep2", ["d1"]), deadline_s=200.0)
        expired = await docs.deployments.expired(150.0, ["pending", "delivered"])
        assert sorted((t.deployment_id, t.device_id) for t in expired) == [
            ("dep1", "d1"),
            ("dep1", "d2"),
        ]
        await docs.deployments.move("dep1", "d1", to="timed_out", from_states=["pending"])
        mine = await docs.deployments.for_device("d1", ["pending", "timed_out"])
        assert sorted((t.deployment_id, t.state) for t in mine) == [
            ("dep1", "timed_out"),
            ("dep2", "pending"),
        ]
        again = await docs.deployments.move(
            "dep1",
            "d1",
            to="pending",
            from_states=["timed_out"],
            deadline_s=500.0,
            next_attempt=True,
        )
        assert (again.attempt, again.deadline_s) == (2, 500.0)
        await docs.deployments.mark_completed("dep1", "abc")
        assert (await docs.deployments.get("dep1")).completed_digest == "abc"
        assert await docs.deployments.get("nope") is None

    # ---------------------------------------------------------------------------- telemetry

    async def test_raw_batches_are_stored_once_found_by_time_and_pruned(self, docs):
        def batch(bid, partition, t_min, t_max, devices):
            return {
                "_id": bid,
                "partition": partition,
                "t_min": t_min,
                "t_max": t_max,
                "stored_s": t_max + 1,
                "n": sum(c for _, c in devices),
                "devices": [d for d, _ in devices],
                "device_counts": [c for _, c in devices],
                "body": b"\x00zlib\xff",
            }

        assert await docs.telemetry.add_batch(batch("b1", 3, 100.0, 101.0, [("d1", 2), ("d2", 1)]))
        assert not await docs.telemetry.add_batch(batch("b1", 3, 100.0, 101.0, [("d1", 2)]))
        assert await docs.telemetry.add_batch(batch("b2", 3, 150.0, 152.0, [("d1", 4)]))
        assert await docs.telemetry.add_batch(batch("b3", 4, 150.0, 152.0, [("d9", 5)]))
        assert await docs.telemetry.count_frames() == 12
        assert await docs.telemetry.count_frames("d1") == 6
        found = await docs.telemetry.batches(3, t_from=101.0)
        assert [b["_id"] for b in found] == ["b1", "b2"] and found[0]["body"] == b"\x00zlib\xff"
        assert [b["_id"] for b in await docs.telemetry.batches(3, t_from=0, t_to=120)] == ["b1"]
        assert await docs.telemetry.prune(140.0) == 3
        assert await docs.telemetry.count_frames() == 9

    async def test_rollups_are_replaced_whole_and_read_by_device_and_time(self, docs):
        def chunk(device, t0, n):
            return {
                "_id": f"{device}:{t0:.0f}",
                "device_id": device,
                "t0_s": t0,
                "sec": [0, 3],
                "n": [n, 1],
                "p50": [1.0, 2.0],
                "p95": [1.5, 2.0],
                "max": [2.0, 2.0],
                "last": [-1.0, 2.0],
            }

        await docs.telemetry.put_rollups([chunk("d1", 100.0, 5), chunk("d1", 110.0, 5)])
        await docs.telemetry.put_rollups([chunk("d1", 110.0, 9), chunk("d2", 110.0, 1)])
        await docs.telemetry.put_rollups([])
        found = await docs.telemetry.rollups("d1", since_s=105.0, until_s=200.0)
        assert [(d["t0_s"], d["n"][0]) for d in found] == [(100.0, 5), (110.0, 9)]
        assert await docs.telemetry.prune_rollups(110.0) == 1
        assert len(await docs.telemetry.rollups("d1", since_s=0, until_s=1e9)) == 1

    async def test_a_windows_parts_from_several_partitions_are_merged_on_read(self, docs):
        from infra.docstore_devices_drift import partial_key, sketch_bucket

        def part(values, last_s):
            buckets: dict[int, int] = {}
            for v in values:
                buckets[sketch_bucket(abs(v))] = buckets.get(sketch_bucket(abs(v)), 0) + 1
            return {
                "key": "deployment:x",
                "count": len(values),
                "total_frames": len(values),
                "max_ms": max(abs(v) for v in values),
                "last_drift_ms": values[-1],
                "last_s": last_s,
                "window_s": 60.0,
                "sketch": [[b, c] for b, c in buckets.items()],
            }

        await docs.telemetry.put_stats_many(
            [
                (partial_key("deployment:x", 1), part([1.0, 2.0, 3.0], 10.0)),
                (partial_key("deployment:x", 7), part([4.0, -100.0], 11.0)),
            ]
        )
        merged = await docs.telemetry.get_stats("deployment:x")
        assert (merged["count"], merged["max_ms"], merged["last_drift_ms"]) == (5, 100.0, -100.0)
        assert merged["p50_ms"] == pytest.approx(3.0, rel=0.01)
        assert merged["p95_ms"] == pytest.approx(100.0, rel=0.01)
        assert "sketch" not in merged and await docs.telemetry.get_stats("deployment:y") is None

    async def test_drift_stats_are_replaced_per_key(self, docs):
        await docs.telemetry.put_stats("device:d1", {"count": 3, "p95_ms": 12.5})
        await docs.telemetry.put_stats("device:d1", {"count": 4, "p95_ms": 13.0})
        assert await docs.telemetry.get_stats("device:d1") == {"count": 4, "p95_ms": 13.0}
        assert await docs.telemetry.get_stats("device:d2") is None
