"""In-memory twin of ``infra.docstore_devices`` for unit tests (same contract suite)."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from typing import Any

from infra.docstore import utcnow_ms
from infra.docstore_devices import (
    PRESENCE_LEASE_S,
    BundleRecord,
    Deployment,
    Device,
    NewDeployment,
    NewDevice,
    Target,
    TargetState,
    bundle_doc,
    bundle_from_doc,
    deployment_doc,
    deployment_from_doc,
    device_changes,
    device_from_doc,
    move_update,
    new_device_doc,
    target_doc,
    target_doc_id,
    target_from_doc,
)
from infra.docstore_devices_drift import ROLLUP_CHUNK_S, merge_partials, public_stats
from infra.errors import Conflict


class FakeDeviceRepo:
    def __init__(self, *, presence_lease_s: float = PRESENCE_LEASE_S) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.presence_lease_s = presence_lease_s

    def _device(self, doc: Mapping[str, Any]) -> Device:
        return device_from_doc(doc, lease_s=self.presence_lease_s)

    async def create(self, new: NewDevice) -> Device:
        if new.device_id in self.docs:
            raise Conflict(f"device {new.device_id} exists")
        self.docs[new.device_id] = new_device_doc(new, utcnow_ms())
        return self._device(self.docs[new.device_id])

    async def get(self, device_id: str) -> Device | None:
        doc = self.docs.get(device_id)
        return self._device(doc) if doc else None

    async def get_many(self, device_ids: Sequence[str]) -> tuple[Device, ...]:
        return tuple(self._device(self.docs[k]) for k in sorted(set(device_ids)) if k in self.docs)

    async def list(
        self, *, group: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[Device, ...]:
        found = [
            self._device(self.docs[k])
            for k in sorted(self.docs)
            if group is None or self.docs[k]["group"] == group
        ]
        return tuple(found[offset : offset + limit])

    async def in_group(self, group: str) -> tuple[Device, ...]:
        return await self.list(group=group, limit=10**9)

    async def update(self, device_id: str, **changes: Any) -> Device | None:
        sets = device_changes(changes)
        doc = self.docs.get(device_id)
        if doc is None:
            return None
        doc.update(sets, updated_at=utcnow_ms())
        return self._device(doc)

    async def delete(self, device_id: str) -> bool:
        return self.docs.pop(device_id, None) is not None

    async def set_connection(
        self, device_id: str, *, connected: bool, gateway_id: str | None
    ) -> None:
        doc = self.docs.get(device_id)
        if doc is None or (not connected and doc.get("gateway_id") != gateway_id):
            return
        doc.update(
            connected=connected,
            gateway_id=gateway_id if connected else None,
            seen_s=time.time(),
            updated_at=utcnow_ms(),
        )

    async def renew_connections(self, gateway_id: str) -> int:
        held = [
            d
            for d in self.docs.values()
            if d.get("gateway_id") == gateway_id and d.get("connected")
        ]
        for doc in held:
            doc["seen_s"] = time.time()
        return len(held)


class FakeBundleRepo:
    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def put(self, record: BundleRecord) -> None:
        doc = bundle_doc(record)
        self.docs[doc["_id"]] = doc

    async def latest(self, track_id: str) -> BundleRecord | None:
        mine = [d for d in self.docs.values() if d["track_id"] == track_id]
        return bundle_from_doc(max(mine, key=lambda d: d["version"])) if mine else None

    async def delete_track(self, track_id: str) -> int:
        gone = [k for k, d in self.docs.items() if d["track_id"] == track_id]
        for key in gone:
            del self.docs[key]
        return len(gone)


class FakeDeploymentRepo:
    def __init__(self) -> None:
        self.deployments: dict[str, dict[str, Any]] = {}
        self.targets_by_id: dict[str, dict[str, Any]] = {}

    async def create(self, new: NewDeployment, *, deadline_s: float) -> tuple[Deployment, bool]:
        created = new.deployment_id not in self.deployments
        if created:
            self.deployments[new.deployment_id] = deployment_doc(new, utcnow_ms())
        stored = deployment_from_doc(self.deployments[new.deployment_id])
        for device_id in stored.device_ids:
            doc = target_doc(stored.deployment_id, device_id, deadline_s)
            self.targets_by_id.setdefault(doc["_id"], doc)
        return stored, created

    async def get(self, deployment_id: str) -> Deployment | None:
        doc = self.deployments.get(deployment_id)
        return deployment_from_doc(doc) if doc else None

    async def targets(self, deployment_id: str) -> tuple[Target, ...]:
        found = [
            target_from_doc(d)
            for d in self.targets_by_id.values()
            if d["deployment_id"] == deployment_id
        ]
        return tuple(sorted(found, key=lambda t: t.device_id))

    async def move(
        self,
        deployment_id: str,
        device_id: str,
        *,
        to: TargetState,
        from_states: Sequence[str],
        reason: str | None = None,
        deadline_s: float | None = None,
        next_attempt: bool = False,
    ) -> Target | None:
        update = move_update(to, reason, deadline_s, next_attempt)
        doc = self.targets_by_id.get(target_doc_id(deployment_id, device_id))
        if doc is None or doc["state"] not in from_states:
            return None
        doc.update(update["$set"], updated_at=utcnow_ms())
        if next_attempt:
            doc["attempt"] += 1
        return target_from_doc(doc)

    async def for_device(self, device_id: str, states: Sequence[str]) -> tuple[Target, ...]:
        return tuple(
            target_from_doc(d)
            for d in self.targets_by_id.values()
            if d["device_id"] == device_id and d["state"] in states
        )

    async def expired(
        self, now_s: float, states: Sequence[str], *, limit: int = 1000
    ) -> tuple[Target, ...]:
        found = [
            target_from_doc(d)
            for d in self.targets_by_id.values()
            if d["state"] in states and d["deadline_s"] < now_s
        ]
        return tuple(found[:limit])

    async def mark_completed(self, deployment_id: str, digest: str) -> None:
        if deployment_id in self.deployments:
            self.deployments[deployment_id]["completed_digest"] = digest


class FakeTelemetryRepo:
    def __init__(self) -> None:
        self.raw: dict[str, dict[str, Any]] = {}
        self.rollup_docs: dict[str, dict[str, Any]] = {}
        self.stats: dict[str, dict[str, Any]] = {}

    async def add_batch(self, doc: Mapping[str, Any]) -> bool:
        if doc["_id"] in self.raw:
            return False
        self.raw[doc["_id"]] = copy.deepcopy(dict(doc))
        return True

    async def batches(
        self, partition: int, *, t_from: float, t_to: float | None = None
    ) -> list[dict[str, Any]]:
        found = [
            copy.deepcopy(d)
            for d in self.raw.values()
            if d["partition"] == partition
            and d["t_max"] >= t_from
            and (t_to is None or d["t_min"] <= t_to)
        ]
        return sorted(found, key=lambda d: (d.get("stored_s", 0.0), d["_id"]))

    async def count_frames(self, device_id: str | None = None) -> int:
        if device_id is None:
            return sum(int(d["n"]) for d in self.raw.values())
        return sum(
            int(c)
            for d in self.raw.values()
            for dev, c in zip(d["devices"], d["device_counts"], strict=False)
            if dev == device_id
        )

    async def prune(self, before_s: float) -> int:
        old = [k for k, d in self.raw.items() if d["t_max"] < before_s]
        return sum(int(self.raw.pop(k)["n"]) for k in old)

    async def put_rollups(self, docs: Sequence[Mapping[str, Any]]) -> None:
        for doc in docs:
            self.rollup_docs[doc["_id"]] = copy.deepcopy(dict(doc))

    async def rollups(
        self, device_id: str, *, since_s: float, until_s: float
    ) -> list[dict[str, Any]]:
        found = [
            copy.deepcopy(d)
            for d in self.rollup_docs.values()
            if d["device_id"] == device_id and since_s - ROLLUP_CHUNK_S < d["t0_s"] < until_s
        ]
        return sorted(found, key=lambda d: d["t0_s"])

    async def prune_rollups(self, before_s: float) -> int:
        old = [k for k, d in self.rollup_docs.items() if d["t0_s"] < before_s]
        for key in old:
            del self.rollup_docs[key]
        return len(old)

    async def put_stats(self, key: str, stats: Mapping[str, Any]) -> None:
        self.stats[key] = copy.deepcopy(dict(stats))

    async def put_stats_many(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        for key, stats in items:
            await self.put_stats(key, stats)

    async def get_stats(self, key: str) -> dict[str, Any] | None:
        found = self.stats.get(key)
        if found is not None:
            return public_stats(copy.deepcopy(found))
        merged = merge_partials(d for d in self.stats.values() if d.get("key") == key)
        return None if merged is None else public_stats(merged)


class FakeDeviceDocStore:
    def __init__(self, *, presence_lease_s: float = PRESENCE_LEASE_S) -> None:
        self.devices = FakeDeviceRepo(presence_lease_s=presence_lease_s)
        self.bundles = FakeBundleRepo()
        self.deployments = FakeDeploymentRepo()
        self.telemetry = FakeTelemetryRepo()

    async def ensure_indexes(self) -> None:
        return None

    async def ping(self) -> None:
        return None
