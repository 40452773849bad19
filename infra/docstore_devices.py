"""Device-side documents: the device registry, bundles, deployments with per-device state,
telemetry frames and drift statistics — small Protocols and their PyMongo async adapter.

``DeviceDocStore`` shares the ``AsyncMongoClient`` (and database) of a ``MongoDocStore`` or
takes its own client; ``infra.docstore_devices_fake`` is the in-memory twin. The nx-27017
quirks of ``infra.docstore`` apply, so: timestamps of updates use ``$currentDate``; times that
are *queried* by range (deadlines, frame receipt for retention) are stored as plain numbers of
Unix seconds; nested records are separate documents (no ``$push`` of dicts); creation is
insert-then-read. Every write is safe to repeat:

* a per-device deployment state moves only from the states the caller names, in one
  ``find_one_and_update`` (``move``) — a duplicated or late event changes nothing;
* ``create`` of a deployment and ``put`` of a bundle are idempotent on their ids;
* a raw telemetry batch is stored under its batch id, so a redelivered batch is stored once;
  rollups and statistics are replaced whole (layout: ``infra.docstore_devices_drift``).

Presence is a lease: a gateway that holds a device's socket renews ``seen_s`` of its devices
every few seconds (``renew_connections``); a device reads as connected only while that lease
is fresh (``presence_lease_s``), so a gateway killed without closing its sockets cannot leave
its devices "online" for ever. ``seen_s`` is the writing gateway's clock: hosts must agree on
the time to well within the lease (NTP does).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, get_args, runtime_checkable

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReplaceOne, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from infra.docstore import as_utc, utcnow_ms
from infra.docstore_devices_drift import (
    RAW,
    ROLLUP_CHUNK_S,
    ROLLUPS,
    merge_partials,
    public_stats,
)
from infra.errors import Conflict, StoreUnavailable

TargetState = Literal["pending", "delivered", "acked", "failed", "timed_out"]
TARGET_STATES: tuple[str, ...] = get_args(TargetState)
SETTLED: tuple[str, ...] = ("acked", "failed", "timed_out")
"""States in which a device counts as done for its deployment's completion."""
DEVICE_FIELDS = ("name", "group", "latency_offset_ms", "drift_threshold_ms")
"""Fields of a device an admin may change."""
PRESENCE_LEASE_S = 30.0
"""A connected device whose gateway has not renewed it for this long reads as offline."""

DEVICES, BUNDLES, DEPLOYMENTS, TARGETS = "devices", "bundles", "deployments", "deployment_targets"
DRIFT_STATS = "drift_stats"


# ----------------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class NewDevice:
    device_id: str
    name: str
    group: str
    token_hash: str
    """Hex SHA-256 of the device's secret token; the token itself is never stored."""
    latency_offset_ms: int = 0
    drift_threshold_ms: float = 50.0


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    name: str
    group: str
    token_hash: str
    latency_offset_ms: int
    drift_threshold_ms: float
    connected: bool
    """True while a gateway holds the device's socket and keeps renewing its lease."""
    gateway_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class BundleRecord:
    """A track version's device bundle in the object store."""

    track_id: str
    version: int
    bundle_key: str
    crc32: int
    size_bytes: int
    map_sha256: str


@dataclass(frozen=True, slots=True)
class NewDeployment:
    deployment_id: str
    track_id: str
    bundle_key: str
    crc32: int
    size_bytes: int
    device_ids: tuple[str, ...]
    timeout_s: float


@dataclass(frozen=True, slots=True)
class Deployment:
    deployment_id: str
    track_id: str
    bundle_key: str
    crc32: int
    size_bytes: int
    device_ids: tuple[str, ...]
    timeout_s: float
    completed_digest: str | None
    """Digest of the outcomes last announced in ``bundle.deployed`` (None: not yet)."""
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Target:
    """One device of a deployment and where its delivery is."""

    deployment_id: str
    device_id: str
    state: TargetState
    reason: str
    attempt: int
    deadline_s: float
    """Unix seconds after which a pending/delivered device is timed out."""


# ------------------------------------------------------------------------------------- ports


@runtime_checkable
class DeviceRepo(Protocol):
    async def create(self, new: NewDevice) -> Device:
        """Store a new device; ``Conflict`` if the id is taken."""

    async def get(self, device_id: str) -> Device | None: ...
    async def get_many(self, device_ids: Sequence[str]) -> tuple[Device, ...]:
        """The devices among ``device_ids`` that exist, in id order, in one query; unknown
        ids are simply absent (the caller compares)."""

    async def list(
        self, *, group: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[Device, ...]: ...
    async def in_group(self, group: str) -> tuple[Device, ...]: ...
    async def update(self, device_id: str, **changes: Any) -> Device | None: ...
    async def delete(self, device_id: str) -> bool: ...
    async def set_connection(
        self, device_id: str, *, connected: bool, gateway_id: str | None
    ) -> None: ...
    async def renew_connections(self, gateway_id: str) -> int:
        """Renew the presence lease of every device connected through ``gateway_id``;
        returns how many."""


@runtime_checkable
class BundleRepo(Protocol):
    async def put(self, record: BundleRecord) -> None: ...
    async def latest(self, track_id: str) -> BundleRecord | None: ...
    async def delete_track(self, track_id: str) -> int:
        """Forget every bundle of a track; returns how many."""


@runtime_checkable
class DeploymentRepo(Protocol):
    async def create(self, new: NewDeployment, *, deadline_s: float) -> tuple[Deployment, bool]:
        """Store the deployment and a ``pending`` target per device; idempotent on the id
        (False and the stored one when it exists; missing targets are added)."""

    async def get(self, deployment_id: str) -> Deployment | None: ...
    async def targets(self, deployment_id: str) -> tuple[Target, ...]: ...
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
        """Move one device's state if it is in ``from_states``; None when nothing moved."""

    async def for_device(self, device_id: str, states: Sequence[str]) -> tuple[Target, ...]: ...
    async def expired(
        self, now_s: float, states: Sequence[str], *, limit: int = 1000
    ) -> tuple[Target, ...]: ...
    async def mark_completed(self, deployment_id: str, digest: str) -> None: ...


@runtime_checkable
class TelemetryRepo(Protocol):
    """Raw telemetry batches, per-second drift rollups and window statistics (the layout is
    in ``infra.docstore_devices_drift``)."""

    async def add_batch(self, doc: Mapping[str, Any]) -> bool:
        """Store a raw batch (``_id``, ``partition``, ``t_min``, ``t_max``, ``n``, ...);
        False if its id is stored already."""

    async def batches(
        self, partition: int, *, t_from: float, t_to: float | None = None
    ) -> list[dict[str, Any]]:
        """Raw batches of ``partition`` with frames received in ``[t_from, t_to]``, in the
        order they were stored."""

    async def count_frames(self, device_id: str | None = None) -> int:
        """Frames in the raw batches still kept (of one device, or all)."""

    async def prune(self, before_s: float) -> int:
        """Delete raw batches whose frames were all received before ``before_s`` (Unix s);
        returns how many frames went."""

    async def put_rollups(self, docs: Sequence[Mapping[str, Any]]) -> None:
        """Store (replace) rollup documents, in bulk."""

    async def rollups(
        self, device_id: str, *, since_s: float, until_s: float
    ) -> list[dict[str, Any]]:
        """Rollup documents of a device with a chunk starting in ``(since_s - chunk, until_s)``."""

    async def prune_rollups(self, before_s: float) -> int: ...
    async def put_stats(self, key: str, stats: Mapping[str, Any]) -> None: ...
    async def put_stats_many(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Replace several statistics documents in one bulk write."""

    async def get_stats(self, key: str) -> dict[str, Any] | None:
        """The statistics of ``key``: its own document, or its per-partition parts merged."""


# ------------------------------------------------------------------------------ shared rules


def check_state(state: str) -> None:
    if state not in TARGET_STATES:
        raise ValueError(f"unknown deployment state {state!r}; expected one of {TARGET_STATES}")


def device_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - set(DEVICE_FIELDS)
    if unknown:
        raise ValueError(f"unknown device fields {sorted(unknown)}; allowed {DEVICE_FIELDS}")
    return {k: v for k, v in changes.items() if v is not None}


def new_device_doc(new: NewDevice, now: datetime) -> dict[str, Any]:
    return {
        "_id": new.device_id,
        "name": new.name,
        "group": new.group,
        "token_hash": new.token_hash,
        "latency_offset_ms": int(new.latency_offset_ms),
        "drift_threshold_ms": float(new.drift_threshold_ms),
        "connected": False,
        "gateway_id": None,
        "seen_s": 0.0,
        "created_at": now,
        "updated_at": now,
    }


def is_present(doc: Mapping[str, Any], now_s: float, lease_s: float) -> bool:
    """Connected and renewed within the lease (a document without ``seen_s`` is stale)."""
    return bool(doc.get("connected")) and now_s - float(doc.get("seen_s") or 0.0) <= lease_s


def device_from_doc(
    doc: Mapping[str, Any], *, now_s: float | None = None, lease_s: float = PRESENCE_LEASE_S
) -> Device:
    present = is_present(doc, time.time() if now_s is None else now_s, lease_s)
    return Device(
        device_id=doc["_id"],
        name=doc["name"],
        group=doc["group"],
        token_hash=doc["token_hash"],
        latency_offset_ms=int(doc["latency_offset_ms"]),
        drift_threshold_ms=float(doc["drift_threshold_ms"]),
        connected=present,
        gateway_id=doc.get("gateway_id") if present else None,
        created_at=as_utc(doc["created_at"]),
        updated_at=as_utc(doc["updated_at"]),
    )


def bundle_doc(record: BundleRecord) -> dict[str, Any]:
    return {
        "_id": f"{record.track_id}:{record.version}",
        "track_id": record.track_id,
        "version": record.version,
        "bundle_key": record.bundle_key,
        "crc32": record.crc32,
        "size_bytes": record.size_bytes,
        "map_sha256": record.map_sha256,
    }


def bundle_from_doc(doc: Mapping[str, Any]) -> BundleRecord:
    return BundleRecord(
        doc["track_id"],
        int(doc["version"]),
        doc["bundle_key"],
        int(doc["crc32"]),
        int(doc["size_bytes"]),
        doc["map_sha256"],
    )


def deployment_doc(new: NewDeployment, now: datetime) -> dict[str, Any]:
    return {
        "_id": new.deployment_id,
        "track_id": new.track_id,
        "bundle_key": new.bundle_key,
        "crc32": new.crc32,
        "size_bytes": new.size_bytes,
        "device_ids": list(new.device_ids),
        "timeout_s": float(new.timeout_s),
        "completed_digest": None,
        "created_at": now,
    }


def deployment_from_doc(doc: Mapping[str, Any]) -> Deployment:
    return Deployment(
        doc["_id"],
        doc["track_id"],
        doc["bundle_key"],
        int(doc["crc32"]),
        int(doc["size_bytes"]),
        tuple(doc["device_ids"]),
        float(doc["timeout_s"]),
        doc.get("completed_digest"),
        as_utc(doc["created_at"]),
    )


def target_doc_id(deployment_id: str, device_id: str) -> str:
    """The document id of one device's target in a deployment."""
    return f"{deployment_id}:{device_id}"


def target_doc(deployment_id: str, device_id: str, deadline_s: float) -> dict[str, Any]:
    return {
        "_id": target_doc_id(deployment_id, device_id),
        "deployment_id": deployment_id,
        "device_id": device_id,
        "state": "pending",
        "reason": "",
        "attempt": 1,
        "deadline_s": float(deadline_s),
    }


def target_from_doc(doc: Mapping[str, Any]) -> Target:
    return Target(
        doc["deployment_id"],
        doc["device_id"],
        doc["state"],
        doc.get("reason") or "",
        int(doc.get("attempt") or 1),
        float(doc["deadline_s"]),
    )


def move_update(
    to: str, reason: str | None, deadline_s: float | None, next_attempt: bool
) -> dict[str, Any]:
    check_state(to)
    sets: dict[str, Any] = {"state": to}
    if reason is not None:
        sets["reason"] = reason[:500]
    if deadline_s is not None:
        sets["deadline_s"] = float(deadline_s)
    update: dict[str, Any] = {"$set": sets, "$currentDate": {"updated_at": True}}
    if next_attempt:
        update["$inc"] = {"attempt": 1}
    return update


# ------------------------------------------------------------------------------ mongo adapter


class MongoDeviceRepo:
    def __init__(self, db: Any, *, presence_lease_s: float = PRESENCE_LEASE_S) -> None:
        self._devices = db[DEVICES]
        self.presence_lease_s = presence_lease_s

    def _device(self, doc: Mapping[str, Any]) -> Device:
        return device_from_doc(doc, lease_s=self.presence_lease_s)

    async def ensure_indexes(self) -> None:
        await self._devices.create_index([("group", ASCENDING)])

    async def create(self, new: NewDevice) -> Device:
        doc = new_device_doc(new, utcnow_ms())
        try:
            await self._devices.insert_one(doc)
        except DuplicateKeyError:
            raise Conflict(f"device {new.device_id} exists") from None
        return self._device(doc)

    async def get(self, device_id: str) -> Device | None:
        doc = await self._devices.find_one({"_id": device_id})
        return self._device(doc) if doc else None

    async def get_many(self, device_ids: Sequence[str]) -> tuple[Device, ...]:
        ids = list(dict.fromkeys(device_ids))
        if not ids:
            return ()
        cursor = self._devices.find({"_id": {"$in": ids}}).sort("_id", ASCENDING)
        return tuple([self._device(d) async for d in cursor])

    async def list(
        self, *, group: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[Device, ...]:
        query = {} if group is None else {"group": group}
        cursor = self._devices.find(query).sort("_id", ASCENDING).skip(offset).limit(limit)
        return tuple([self._device(d) async for d in cursor])

    async def in_group(self, group: str) -> tuple[Device, ...]:
        cursor = self._devices.find({"group": group}).sort("_id", ASCENDING)
        return tuple([self._device(d) async for d in cursor])

    async def update(self, device_id: str, **changes: Any) -> Device | None:
        update: dict[str, Any] = {"$currentDate": {"updated_at": True}}
        if sets := device_changes(changes):
            update["$set"] = sets
        doc = await self._devices.find_one_and_update(
            {"_id": device_id}, update, return_document=ReturnDocument.AFTER
        )
        return self._device(doc) if doc else None

    async def delete(self, device_id: str) -> bool:
        return (await self._devices.delete_one({"_id": device_id})).deleted_count == 1

    async def set_connection(
        self, device_id: str, *, connected: bool, gateway_id: str | None
    ) -> None:
        query: dict[str, Any] = {"_id": device_id}
        if not connected:  # a late disconnect must not undo a reconnect elsewhere
            query["gateway_id"] = gateway_id
        await self._devices.update_one(
            query,
            {
                "$set": {
                    "connected": connected,
                    "gateway_id": gateway_id if connected else None,
                    "seen_s": time.time(),
                },
                "$currentDate": {"updated_at": True},
            },
        )

    async def renew_connections(self, gateway_id: str) -> int:
        done = await self._devices.update_many(
            {"gateway_id": gateway_id, "connected": True}, {"$set": {"seen_s": time.time()}}
        )
        return done.modified_count


class MongoBundleRepo:
    def __init__(self, db: Any) -> None:
        self._bundles = db[BUNDLES]

    async def ensure_indexes(self) -> None:
        await self._bundles.create_index([("track_id", ASCENDING), ("version", ASCENDING)])

    async def put(self, record: BundleRecord) -> None:
        doc = bundle_doc(record)
        await self._bundles.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def latest(self, track_id: str) -> BundleRecord | None:
        doc = await self._bundles.find_one({"track_id": track_id}, sort=[("version", DESCENDING)])
        return bundle_from_doc(doc) if doc else None

    async def delete_track(self, track_id: str) -> int:
        return (await self._bundles.delete_many({"track_id": track_id})).deleted_count


class MongoDeploymentRepo:
    def __init__(self, db: Any) -> None:
        self._deployments = db[DEPLOYMENTS]
        self._targets = db[TARGETS]

    async def ensure_indexes(self) -> None:
        await self._targets.create_index([("deployment_id", ASCENDING)])
        await self._targets.create_index([("device_id", ASCENDING), ("state", ASCENDING)])
        await self._targets.create_index([("state", ASCENDING), ("deadline_s", ASCENDING)])

    async def create(self, new: NewDeployment, *, deadline_s: float) -> tuple[Deployment, bool]:
        doc = deployment_doc(new, utcnow_ms())
        try:
            await self._deployments.insert_one(doc)
            created = True
        except DuplicateKeyError:
            doc, created = await self._deployments.find_one({"_id": new.deployment_id}), False
        stored = deployment_from_doc(doc)
        docs = [target_doc(stored.deployment_id, d, deadline_s) for d in stored.device_ids]
        await _insert_new(self._targets, docs)
        return stored, created

    async def get(self, deployment_id: str) -> Deployment | None:
        doc = await self._deployments.find_one({"_id": deployment_id})
        return deployment_from_doc(doc) if doc else None

    async def targets(self, deployment_id: str) -> tuple[Target, ...]:
        cursor = self._targets.find({"deployment_id": deployment_id}).sort("device_id", ASCENDING)
        return tuple([target_from_doc(d) async for d in cursor])

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
        doc = await self._targets.find_one_and_update(
            {"_id": target_doc_id(deployment_id, device_id), "state": {"$in": list(from_states)}},
            move_update(to, reason, deadline_s, next_attempt),
            return_document=ReturnDocument.AFTER,
        )
        return target_from_doc(doc) if doc else None

    async def for_device(self, device_id: str, states: Sequence[str]) -> tuple[Target, ...]:
        cursor = self._targets.find({"device_id": device_id, "state": {"$in": list(states)}})
        return tuple([target_from_doc(d) async for d in cursor])

    async def expired(
        self, now_s: float, states: Sequence[str], *, limit: int = 1000
    ) -> tuple[Target, ...]:
        cursor = self._targets.find(
            {"state": {"$in": list(states)}, "deadline_s": {"$lt": float(now_s)}}
        ).limit(limit)
        return tuple([target_from_doc(d) async for d in cursor])

    async def mark_completed(self, deployment_id: str, digest: str) -> None:
        await self._deployments.update_one(
            {"_id": deployment_id}, {"$set": {"completed_digest": digest}}
        )


class MongoTelemetryRepo:
    def __init__(self, db: Any) -> None:
        self._raw = db[RAW]
        self._rollups = db[ROLLUPS]
        self._stats = db[DRIFT_STATS]

    async def ensure_indexes(self) -> None:
        await self._raw.create_index([("partition", ASCENDING), ("t_max", ASCENDING)])
        await self._raw.create_index([("t_max", ASCENDING)])
        await self._rollups.create_index([("device_id", ASCENDING), ("t0_s", ASCENDING)])
        await self._rollups.create_index([("t0_s", ASCENDING)])
        await self._stats.create_index([("key", ASCENDING)])

    async def add_batch(self, doc: Mapping[str, Any]) -> bool:
        return await _insert_new(self._raw, [dict(doc)]) == 1

    async def batches(
        self, partition: int, *, t_from: float, t_to: float | None = None
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"partition": partition, "t_max": {"$gte": float(t_from)}}
        if t_to is not None:
            query["t_min"] = {"$lte": float(t_to)}
        found = [d async for d in self._raw.find(query)]
        return sorted(found, key=lambda d: (d.get("stored_s", 0.0), d["_id"]))

    async def count_frames(self, device_id: str | None = None) -> int:
        if device_id is None:
            return sum([int(d["n"]) async for d in self._raw.find({}, {"n": 1})])
        # filtered here: nx-27017 does not match a value inside an array field
        cursor = self._raw.find({}, {"devices": 1, "device_counts": 1})
        return sum([_count_of(d, device_id) async for d in cursor])

    async def prune(self, before_s: float) -> int:
        query = {"t_max": {"$lt": float(before_s)}}
        gone = [d async for d in self._raw.find(query, {"n": 1})]
        if gone:
            await self._raw.delete_many({"_id": {"$in": [d["_id"] for d in gone]}})
        return sum(int(d["n"]) for d in gone)

    async def put_rollups(self, docs: Sequence[Mapping[str, Any]]) -> None:
        if docs:
            ops = [ReplaceOne({"_id": d["_id"]}, dict(d), upsert=True) for d in docs]
            await self._rollups.bulk_write(ops, ordered=False)

    async def rollups(
        self, device_id: str, *, since_s: float, until_s: float
    ) -> list[dict[str, Any]]:
        query = {
            "device_id": device_id,
            "t0_s": {"$gt": float(since_s) - ROLLUP_CHUNK_S, "$lt": float(until_s)},
        }
        cursor = self._rollups.find(query).sort("t0_s", ASCENDING)
        return [d async for d in cursor]

    async def prune_rollups(self, before_s: float) -> int:
        result = await self._rollups.delete_many({"t0_s": {"$lt": float(before_s)}})
        return result.deleted_count

    async def put_stats(self, key: str, stats: Mapping[str, Any]) -> None:
        await self._stats.replace_one({"_id": key}, {"_id": key, **stats}, upsert=True)

    async def put_stats_many(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        if items:
            ops = [ReplaceOne({"_id": k}, {"_id": k, **v}, upsert=True) for k, v in items]
            await self._stats.bulk_write(ops, ordered=False)

    async def get_stats(self, key: str) -> dict[str, Any] | None:
        doc = await self._stats.find_one({"_id": key})
        if doc is not None:
            return public_stats(doc)
        merged = merge_partials([d async for d in self._stats.find({"key": key})])
        return None if merged is None else public_stats(merged)


def _count_of(doc: Mapping[str, Any], device_id: str) -> int:
    devices, counts = doc.get("devices") or [], doc.get("device_counts") or []
    return sum(int(c) for d, c in zip(devices, counts, strict=False) if d == device_id)


async def _insert_new(collection: Any, docs: Iterable[dict[str, Any]]) -> int:
    """Insert documents, skipping those whose ``_id`` exists; returns how many were new."""
    docs = list(docs)
    if not docs:
        return 0
    try:
        result = await collection.insert_many(docs, ordered=False)
        return len(result.inserted_ids)
    except BulkWriteError as exc:
        others = [e for e in exc.details.get("writeErrors", []) if e.get("code") != 11000]
        if others:
            raise
        return int(exc.details.get("nInserted", 0))


class DeviceDocStore:
    """Device documents over the database of a ``MongoDocStore`` (sharing its client) or of
    a client given here. Call :meth:`ensure_indexes` once at start-up."""

    def __init__(
        self,
        client_or_docstore: Any,
        database: str | None = None,
        *,
        presence_lease_s: float = PRESENCE_LEASE_S,
    ) -> None:
        client = getattr(client_or_docstore, "_client", client_or_docstore)
        database = database or getattr(client_or_docstore, "database", None)
        if not isinstance(client, AsyncMongoClient) or not database:
            raise TypeError(
                "DeviceDocStore needs an AsyncMongoClient and a database name (or a MongoDocStore)"
            )
        self._client, self.database = client, database
        db = client[database]
        self.devices = MongoDeviceRepo(db, presence_lease_s=presence_lease_s)
        self.bundles = MongoBundleRepo(db)
        self.deployments = MongoDeploymentRepo(db)
        self.telemetry = MongoTelemetryRepo(db)

    def __repr__(self) -> str:
        return f"DeviceDocStore(database={self.database!r})"

    async def ensure_indexes(self) -> None:
        for repo in (self.devices, self.bundles, self.deployments, self.telemetry):
            await repo.ensure_indexes()

    async def ping(self) -> None:
        try:
            await self._client.admin.command("ping")
        except PyMongoError as exc:
            raise StoreUnavailable(f"MongoDB did not answer: {type(exc).__name__}") from None


@runtime_checkable
class DeviceDocs(Protocol):
    # Read-only, so an adapter's own repo types (MongoDeviceRepo, ...) satisfy them.
    @property
    def devices(self) -> DeviceRepo: ...
    @property
    def bundles(self) -> BundleRepo: ...
    @property
    def deployments(self) -> DeploymentRepo: ...
    @property
    def telemetry(self) -> TelemetryRepo: ...

    async def ensure_indexes(self) -> None: ...
