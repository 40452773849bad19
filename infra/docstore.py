"""Document store port (tracks, analyses, processed events) and its PyMongo async adapter.

The port is three small Protocols composed into a :class:`DocStore`. :class:`MongoDocStore` is
the real adapter (``AsyncMongoClient``, MongoDB or nx-27017); ``infra.docstore_fake`` holds the
in-memory fake with the same behaviour. Nothing connects at import time. The lifecycle rules
(statuses, allowed moves, what a move sets) are ``contracts.lifecycle``'s: this module only maps
them to documents and guarded updates.

Every write is safe to repeat (at-least-once delivery):

* ``create_track`` is idempotent on the unique ``audio_sha256`` (and on the track id);
* ``transition`` moves a track only from the states allowed for the target *and* only when the
  caller's ``analysis_version`` is the current one, in one ``find_one_and_update``;
* an external map is a *candidate* version (``open_candidate``): the current version keeps its
  status, map and deployability until the candidate is validated, then ``promote_candidate``
  makes it current or ``drop_candidate`` forgets it — each guarded on the candidate's number;
* version numbers are handed out from ``latest_version`` (compare-and-set), so a rejected
  candidate's number is never reused by a later version;
* ``AnalysisRepo.add`` is idempotent on ``(track_id, version)``;
* ``EventLedger.claim`` is true only the first time for ``(consumer, event_id)``.

nx-27017 notes (0.8.1): a bare ``datetime`` given to ``$set``/``$push`` is stored as a *string*,
so server-side timestamps of updates use ``$currentDate`` (correct on MongoDB too) and every read
goes through :func:`as_utc`; range queries on ``$currentDate`` fields do not match on nx-27017.
``find_one_and_update(upsert=True)`` ignores ``$setOnInsert``, so creation is insert-then-read.
Index names and descending index keys are ignored (harmless: indexes are walked both ways), and
an index whose keys include ``_id`` breaks every insert ("JSON path error near '_id'").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, get_args, overload, runtime_checkable

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from contracts import lifecycle
from contracts.lifecycle import (
    ALLOWED_FROM,
    FINISHED,
    PROGRESSING,
    TrackStatus,
    check_status,
    dropped_status_at,
)
from contracts.lifecycle import TRACK_STATUSES as TRACK_STATUSES  # re-exported
from infra.errors import Conflict, NotFound, StoreUnavailable

AnalysisOutcome = Literal["pending", "ready", "warning", "failed"]

TRACKS, ANALYSES, PROCESSED_EVENTS = "tracks", "analyses", "processed_events"


def utcnow_ms() -> datetime:
    """Now in UTC truncated to milliseconds (what BSON dates hold)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@overload
def as_utc(value: None) -> None: ...
@overload
def as_utc(value: datetime | str) -> datetime: ...
def as_utc(value: datetime | str | None) -> datetime | None:
    """A stored timestamp as an aware UTC datetime (nx-27017 may hand back naive strings)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# ----------------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class NewTrack:
    """What ingest knows about an accepted upload."""

    track_id: str
    audio_sha256: str
    audio_key: str
    filename: str
    content_type: str
    size_bytes: int
    preset: str
    duration_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Track:
    """A track and where its current analysis version is in the lifecycle."""

    track_id: str
    audio_sha256: str
    audio_key: str
    filename: str
    content_type: str
    size_bytes: int
    preset: str
    duration_ms: float | None
    status: TrackStatus
    analysis_version: int
    stage: str
    progress_pct: float
    error_code: str | None
    error_reason: str | None
    warnings: tuple[str, ...]
    map_key: str | None
    created_at: datetime
    updated_at: datetime
    status_at: Mapping[str, datetime] = field(default_factory=dict)
    """When the current analysis version entered each state it has passed through."""
    candidate_version: int | None = None
    """A version holding an uploaded (external) map that is being validated while
    ``analysis_version`` stays current and untouched; None when there is none."""
    latest_version: int = 0
    """The highest version number handed out (>= ``analysis_version``; greater after a
    candidate was opened, whatever became of it)."""


@dataclass(frozen=True, slots=True)
class CreateTrackResult:
    track: Track
    created: bool
    """False when the same audio (or track id) was already stored; ``track`` is that one."""

    @property
    def duplicate(self) -> bool:
        return not self.created


@dataclass(frozen=True, slots=True)
class TrackPage:
    items: tuple[Track, ...]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class TransitionResult:
    applied: bool
    """True when this call moved the track; False for a stale, duplicate or illegal request."""
    track: Track | None
    """The track after the call (None when it does not exist)."""

    def is_at(self, status: str, version: int) -> bool:
        """The track is in ``status`` at ``version`` now, by this call or an earlier delivery
        of the same event: a redelivered handler carries on, any other refusal is stale."""
        return (
            self.track is not None
            and self.track.status == status
            and self.track.analysis_version == version
        )


@dataclass(frozen=True, slots=True)
class AnalysisRecord:
    """One analysis version of a track; earlier versions are kept."""

    track_id: str
    version: int
    preset: str
    outcome: AnalysisOutcome
    analysis_key: str | None
    map_key: str | None
    map_sha256: str | None
    plot_key: str | None
    bpm: float | None
    warnings: tuple[str, ...]
    error_reason: str | None
    created_at: datetime
    updated_at: datetime


_ANALYSIS_FIELDS = (
    "analysis_key",
    "map_key",
    "map_sha256",
    "plot_key",
    "bpm",
    "outcome",
    "warnings",
    "error_reason",
)


# ------------------------------------------------------------------------------------- ports


@runtime_checkable
class TrackRepo(Protocol):
    async def create_track(self, new: NewTrack) -> CreateTrackResult: ...
    async def get_track(self, track_id: str) -> Track | None: ...
    async def find_by_sha256(self, audio_sha256: str) -> Track | None: ...
    async def list_tracks(
        self, *, status: str | Sequence[str] | None = None, limit: int = 20, offset: int = 0
    ) -> TrackPage: ...
    async def delete_track(self, track_id: str) -> bool: ...
    async def transition(
        self,
        track_id: str,
        *,
        version: int,
        to: TrackStatus,
        stage: str | None = None,
        progress_pct: float | None = None,
        error_code: str | None = None,
        error_reason: str | None = None,
        warnings: Sequence[str] | None = None,
        map_key: str | None = None,
    ) -> TransitionResult: ...
    async def record_progress(
        self, track_id: str, *, version: int, stage: str, percent: float
    ) -> bool: ...
    async def start_reanalysis(
        self, track_id: str, *, from_version: int, preset: str
    ) -> TransitionResult:
        """Finished ``from_version`` with no candidate open -> ``analyzing`` at the next
        version number."""

    async def open_candidate(self, track_id: str, *, from_version: int) -> TransitionResult:
        """Hand out the next version number as ``candidate_version`` of a finished track with
        no candidate open; status, current version and map stay as they are."""

    async def promote_candidate(
        self,
        track_id: str,
        *,
        version: int,
        to: Literal["ready", "warning"],
        preset: str,
        map_key: str,
        warnings: Sequence[str] = (),
    ) -> TransitionResult:
        """The validated candidate ``version`` becomes the current version, ``to``."""

    async def drop_candidate(self, track_id: str, *, version: int) -> TransitionResult:
        """Forget the candidate ``version`` (rejected or lost); the current one is untouched."""

    async def with_candidates(self, *, limit: int = 500) -> tuple[Track, ...]:
        """Tracks with a candidate open, least recently updated first (for the reconciler)."""


@runtime_checkable
class AnalysisRepo(Protocol):
    async def add(self, track_id: str, version: int, *, preset: str) -> AnalysisRecord: ...
    async def update(self, track_id: str, version: int, **changes: Any) -> AnalysisRecord: ...
    async def get(self, track_id: str, version: int) -> AnalysisRecord | None: ...
    async def latest(self, track_id: str) -> AnalysisRecord | None: ...
    async def list_for_track(self, track_id: str) -> tuple[AnalysisRecord, ...]: ...


@runtime_checkable
class EventLedger(Protocol):
    """Processed events per consumer. Claim *after* the handler's writes are durable, or
    ``release`` when the handler fails, so a redelivery is not skipped."""

    async def claim(self, consumer: str, event_id: str) -> bool: ...
    async def seen(self, consumer: str, event_id: str) -> bool: ...
    async def release(self, consumer: str, event_id: str) -> None: ...


@runtime_checkable
class DocStore(Protocol):
    # Read-only, so an adapter's own repo types (MongoTrackRepo, ...) satisfy them.
    @property
    def tracks(self) -> TrackRepo: ...
    @property
    def analyses(self) -> AnalysisRepo: ...
    @property
    def events(self) -> EventLedger: ...

    async def ensure_indexes(self) -> None: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


# ------------------------------------------------------------------------ shared rules/mapping


def check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= 1000:
        raise ValueError(f"limit must be within 1..1000, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")


def status_filter(status: str | Sequence[str] | None) -> list[str] | None:
    if status is None:
        return None
    statuses = [status] if isinstance(status, str) else list(status)
    for s in statuses:
        check_status(s)
    return statuses


def new_track_doc(new: NewTrack, now: datetime) -> dict[str, Any]:
    return {
        "_id": new.track_id,
        "audio_sha256": new.audio_sha256,
        "audio_key": new.audio_key,
        "filename": new.filename,
        "content_type": new.content_type,
        "size_bytes": new.size_bytes,
        "preset": new.preset,
        "duration_ms": new.duration_ms,
        "status": "uploaded",
        "analysis_version": 1,
        "stage": "uploaded",
        "progress_pct": 0.0,
        "error_code": None,
        "error_reason": None,
        "warnings": [],
        "map_key": None,
        "created_at": now,
        "updated_at": now,
        "status_at": {"uploaded": now},
        "candidate_version": None,
        "latest_version": 1,
    }


def same_upload(doc: Mapping[str, Any], new: NewTrack) -> bool:
    return doc["_id"] == new.track_id and doc["audio_sha256"] == new.audio_sha256


def next_version(doc: Mapping[str, Any]) -> int:
    """The number the next version of this track gets (:func:`lifecycle.next_version`)."""
    return lifecycle.next_version(int(doc.get("latest_version") or 0), int(doc["analysis_version"]))


def opening_guard(doc: Mapping[str, Any], from_version: int) -> dict[str, Any]:
    """Filter of a write that opens version ``next_version(doc)``: the track is still finished
    at ``from_version``, has no candidate, and nobody handed out a number since ``doc`` was
    read (a missing ``latest_version``, on tracks stored before it existed, matches None)."""
    return {
        "_id": doc["_id"],
        "analysis_version": from_version,
        "status": {"$in": list(FINISHED)},
        "candidate_version": None,
        "latest_version": doc.get("latest_version"),
    }


def track_from_doc(doc: Mapping[str, Any]) -> Track:
    return Track(
        track_id=doc["_id"],
        audio_sha256=doc["audio_sha256"],
        audio_key=doc["audio_key"],
        filename=doc["filename"],
        content_type=doc["content_type"],
        size_bytes=int(doc["size_bytes"]),
        preset=doc["preset"],
        duration_ms=doc.get("duration_ms"),
        status=doc["status"],
        analysis_version=int(doc["analysis_version"]),
        stage=doc.get("stage") or "",
        progress_pct=float(doc.get("progress_pct") or 0.0),
        error_code=doc.get("error_code"),
        error_reason=doc.get("error_reason"),
        warnings=tuple(doc.get("warnings") or ()),
        map_key=doc.get("map_key"),
        created_at=as_utc(doc["created_at"]),
        updated_at=as_utc(doc["updated_at"]),
        status_at={k: as_utc(v) for k, v in (doc.get("status_at") or {}).items() if v is not None},
        candidate_version=doc.get("candidate_version"),
        latest_version=next_version(doc) - 1,
    )


def new_analysis_doc(track_id: str, version: int, preset: str, now: datetime) -> dict[str, Any]:
    if version < 1:
        raise ValueError(f"analysis version must be >= 1, got {version}")
    return {
        "_id": f"{track_id}:{version}",
        "track_id": track_id,
        "version": version,
        "preset": preset,
        "outcome": "pending",
        "analysis_key": None,
        "map_key": None,
        "map_sha256": None,
        "plot_key": None,
        "bpm": None,
        "warnings": [],
        "error_reason": None,
        "created_at": now,
        "updated_at": now,
    }


def analysis_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - set(_ANALYSIS_FIELDS)
    if unknown:
        raise ValueError(f"unknown analysis fields {sorted(unknown)}; allowed {_ANALYSIS_FIELDS}")
    if "outcome" in changes and changes["outcome"] not in get_args(AnalysisOutcome):
        raise ValueError(f"unknown analysis outcome {changes['outcome']!r}")
    sets = dict(changes)
    if "warnings" in sets:
        sets["warnings"] = list(sets["warnings"] or ())
    return sets


def analysis_from_doc(doc: Mapping[str, Any]) -> AnalysisRecord:
    return AnalysisRecord(
        track_id=doc["track_id"],
        version=int(doc["version"]),
        preset=doc["preset"],
        outcome=doc["outcome"],
        analysis_key=doc.get("analysis_key"),
        map_key=doc.get("map_key"),
        map_sha256=doc.get("map_sha256"),
        plot_key=doc.get("plot_key"),
        bpm=doc.get("bpm"),
        warnings=tuple(doc.get("warnings") or ()),
        error_reason=doc.get("error_reason"),
        created_at=as_utc(doc["created_at"]),
        updated_at=as_utc(doc["updated_at"]),
    )


# ------------------------------------------------------------------------------- mongo adapter


class MongoTrackRepo:
    def __init__(self, db: Any) -> None:
        self._tracks = db[TRACKS]
        self._analyses = db[ANALYSES]

    async def ensure_indexes(self) -> None:
        await self._tracks.create_index([("audio_sha256", ASCENDING)], unique=True)
        await self._tracks.create_index([("created_at", DESCENDING)])
        await self._tracks.create_index([("status", ASCENDING), ("created_at", DESCENDING)])

    async def create_track(self, new: NewTrack) -> CreateTrackResult:
        doc = new_track_doc(new, utcnow_ms())
        try:
            await self._tracks.insert_one(doc)
            return CreateTrackResult(track_from_doc(doc), created=True)
        except DuplicateKeyError:
            pass
        existing = await self._tracks.find_one({"audio_sha256": new.audio_sha256})
        if existing is None:
            existing = await self._tracks.find_one({"_id": new.track_id})
            if existing is not None and not same_upload(existing, new):
                raise Conflict(f"track {new.track_id} exists with different audio") from None
        if existing is None:  # deleted between insert and read: retry once
            return await self.create_track(new)
        return CreateTrackResult(track_from_doc(existing), created=False)

    async def get_track(self, track_id: str) -> Track | None:
        doc = await self._tracks.find_one({"_id": track_id})
        return track_from_doc(doc) if doc else None

    async def find_by_sha256(self, audio_sha256: str) -> Track | None:
        doc = await self._tracks.find_one({"audio_sha256": audio_sha256})
        return track_from_doc(doc) if doc else None

    async def list_tracks(
        self, *, status: str | Sequence[str] | None = None, limit: int = 20, offset: int = 0
    ) -> TrackPage:
        check_page(limit, offset)
        statuses = status_filter(status)
        query: dict[str, Any] = {} if statuses is None else {"status": {"$in": statuses}}
        cursor = (
            self._tracks.find(query)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .skip(offset)
            .limit(limit)
        )
        items = tuple([track_from_doc(d) async for d in cursor])
        total = await self._tracks.count_documents(query)
        return TrackPage(items=items, total=total, limit=limit, offset=offset)

    async def delete_track(self, track_id: str) -> bool:
        await self._analyses.delete_many({"track_id": track_id})
        result = await self._tracks.delete_one({"_id": track_id})
        return result.deleted_count == 1

    async def transition(
        self,
        track_id: str,
        *,
        version: int,
        to: TrackStatus,
        stage: str | None = None,
        progress_pct: float | None = None,
        error_code: str | None = None,
        error_reason: str | None = None,
        warnings: Sequence[str] | None = None,
        map_key: str | None = None,
    ) -> TransitionResult:
        sets = lifecycle.transition_fields(
            to,
            stage=stage,
            progress_pct=progress_pct,
            error_code=error_code,
            error_reason=error_reason,
            warnings=warnings,
            map_key=map_key,
        )
        query = {
            "_id": track_id,
            "analysis_version": version,
            "status": {"$in": list(ALLOWED_FROM[to])},
        }
        update = {"$set": sets, "$currentDate": {"updated_at": True, f"status_at.{to}": True}}
        return await self._guarded(track_id, query, update)

    async def record_progress(
        self, track_id: str, *, version: int, stage: str, percent: float
    ) -> bool:
        query = {
            "_id": track_id,
            "analysis_version": version,
            "status": {"$in": list(PROGRESSING)},
            "progress_pct": {"$lt": float(percent)},
        }
        update = {
            "$set": {"stage": stage, "progress_pct": float(percent)},
            "$currentDate": {"updated_at": True},
        }
        return (await self._tracks.update_one(query, update)).modified_count == 1

    async def start_reanalysis(
        self, track_id: str, *, from_version: int, preset: str
    ) -> TransitionResult:
        doc = await self._tracks.find_one({"_id": track_id})
        if doc is None:
            return TransitionResult(applied=False, track=None)
        update = {
            "$set": lifecycle.reanalysis_fields(preset, next_version(doc)),
            "$unset": {f"status_at.{s}": "" for s in dropped_status_at("analyzing")},
            "$currentDate": {"updated_at": True, "status_at.analyzing": True},
        }
        return await self._guarded(track_id, opening_guard(doc, from_version), update)

    async def open_candidate(self, track_id: str, *, from_version: int) -> TransitionResult:
        doc = await self._tracks.find_one({"_id": track_id})
        if doc is None:
            return TransitionResult(applied=False, track=None)
        version = next_version(doc)
        update = {
            "$set": {"candidate_version": version, "latest_version": version},
            "$currentDate": {"updated_at": True},
        }
        return await self._guarded(track_id, opening_guard(doc, from_version), update)

    async def promote_candidate(
        self,
        track_id: str,
        *,
        version: int,
        to: Literal["ready", "warning"],
        preset: str,
        map_key: str,
        warnings: Sequence[str] = (),
    ) -> TransitionResult:
        sets = lifecycle.promotion_fields(
            to, version=version, preset=preset, map_key=map_key, warnings=warnings
        )
        update = {
            "$set": sets,
            "$unset": {f"status_at.{s}": "" for s in dropped_status_at(to)},
            "$currentDate": {"updated_at": True, f"status_at.{to}": True},
        }
        return await self._guarded(
            track_id, {"_id": track_id, "candidate_version": version}, update
        )

    async def drop_candidate(self, track_id: str, *, version: int) -> TransitionResult:
        update = {"$set": {"candidate_version": None}, "$currentDate": {"updated_at": True}}
        return await self._guarded(
            track_id, {"_id": track_id, "candidate_version": version}, update
        )

    async def with_candidates(self, *, limit: int = 500) -> tuple[Track, ...]:
        # ``$gt`` rather than ``$ne: None``: nx-27017 matches missing fields with the latter.
        cursor = self._tracks.find({"candidate_version": {"$gt": 0}}).limit(limit)
        tracks = [track_from_doc(d) async for d in cursor]
        return tuple(sorted(tracks, key=lambda t: t.updated_at))

    async def _guarded(
        self, track_id: str, query: dict[str, Any], update: dict[str, Any]
    ) -> TransitionResult:
        doc = await self._tracks.find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER
        )
        if doc is not None:
            return TransitionResult(applied=True, track=track_from_doc(doc))
        return TransitionResult(applied=False, track=await self.get_track(track_id))


class MongoAnalysisRepo:
    def __init__(self, db: Any) -> None:
        self._analyses = db[ANALYSES]

    async def ensure_indexes(self) -> None:
        await self._analyses.create_index(
            [("track_id", ASCENDING), ("version", ASCENDING)], unique=True
        )

    async def add(self, track_id: str, version: int, *, preset: str) -> AnalysisRecord:
        doc = new_analysis_doc(track_id, version, preset, utcnow_ms())
        try:
            await self._analyses.insert_one(doc)
            return analysis_from_doc(doc)
        except DuplicateKeyError:
            existing = await self.get(track_id, version)
            if existing is None:
                raise Conflict(f"analysis {track_id} v{version} is being replaced") from None
            return existing

    async def update(self, track_id: str, version: int, **changes: Any) -> AnalysisRecord:
        sets = analysis_changes(changes)
        update: dict[str, Any] = {"$currentDate": {"updated_at": True}}
        if sets:
            update["$set"] = sets
        doc = await self._analyses.find_one_and_update(
            {"track_id": track_id, "version": version}, update, return_document=ReturnDocument.AFTER
        )
        if doc is None:
            raise NotFound(f"analysis {track_id} v{version} does not exist")
        return analysis_from_doc(doc)

    async def get(self, track_id: str, version: int) -> AnalysisRecord | None:
        doc = await self._analyses.find_one({"track_id": track_id, "version": version})
        return analysis_from_doc(doc) if doc else None

    async def latest(self, track_id: str) -> AnalysisRecord | None:
        doc = await self._analyses.find_one({"track_id": track_id}, sort=[("version", DESCENDING)])
        return analysis_from_doc(doc) if doc else None

    async def list_for_track(self, track_id: str) -> tuple[AnalysisRecord, ...]:
        cursor = self._analyses.find({"track_id": track_id}).sort("version", ASCENDING)
        return tuple([analysis_from_doc(d) async for d in cursor])


class MongoEventLedger:
    def __init__(self, db: Any) -> None:
        self._events = db[PROCESSED_EVENTS]

    async def ensure_indexes(self) -> None:
        await self._events.create_index(
            [("consumer", ASCENDING), ("event_id", ASCENDING)], unique=True
        )

    async def claim(self, consumer: str, event_id: str) -> bool:
        doc = {
            "_id": f"{consumer}:{event_id}",
            "consumer": consumer,
            "event_id": event_id,
            "claimed_at": utcnow_ms(),
        }
        try:
            await self._events.insert_one(doc)
            return True
        except DuplicateKeyError:
            return False

    async def seen(self, consumer: str, event_id: str) -> bool:
        doc = await self._events.find_one({"consumer": consumer, "event_id": event_id})
        return doc is not None

    async def release(self, consumer: str, event_id: str) -> None:
        await self._events.delete_one({"consumer": consumer, "event_id": event_id})


class MongoDocStore:
    """The document store over one MongoDB database. Build it in a composition root, call
    :meth:`ensure_indexes` once at start-up and :meth:`close` at shutdown."""

    def __init__(self, client: AsyncMongoClient, database: str) -> None:
        self._client = client
        self.database = database
        db = client[database]
        self.tracks = MongoTrackRepo(db)
        self.analyses = MongoAnalysisRepo(db)
        self.events = MongoEventLedger(db)

    @classmethod
    def from_url(cls, url: str, database: str, **client_kwargs: Any) -> MongoDocStore:
        """A store over ``url`` (no I/O until first use)."""
        options = {"tz_aware": True, "serverSelectionTimeoutMS": 5000, **client_kwargs}
        return cls(AsyncMongoClient(url, **options), database)

    def __repr__(self) -> str:  # never the URL: it may carry a password
        return f"MongoDocStore(database={self.database!r})"

    async def ensure_indexes(self) -> None:
        for repo in (self.tracks, self.analyses, self.events):
            await repo.ensure_indexes()

    async def ping(self) -> None:
        try:
            await self._client.admin.command("ping")
        except PyMongoError as exc:
            raise StoreUnavailable(f"MongoDB did not answer: {type(exc).__name__}") from None

    async def drop(self) -> None:
        """Delete the whole database (tests)."""
        await self._client.drop_database(self.database)

    async def close(self) -> None:
        await self._client.close()


def build_doc_store(settings: Any) -> MongoDocStore:
    """The document store configured by ``settings`` (``mongodb_url``, ``mongodb_database``)."""
    return MongoDocStore.from_url(
        settings.mongodb_url.get_secret_value(), settings.mongodb_database
    )
