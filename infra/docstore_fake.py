"""In-memory document store with the same behaviour as ``MongoDocStore`` (for unit tests).

It shares the lifecycle rules (``contracts.lifecycle``) and the adapter's document mapping
(``infra.docstore``), so a transition the real store refuses is refused here too. Documents
are deep-copied in and out, as over a wire.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from contracts.lifecycle import (
    ALLOWED_FROM,
    FINISHED,
    PROGRESSING,
    TrackStatus,
    dropped_status_at,
    promotion_fields,
    reanalysis_fields,
    transition_fields,
)
from infra.docstore import (
    AnalysisRecord,
    CreateTrackResult,
    NewTrack,
    Track,
    TrackPage,
    TransitionResult,
    analysis_changes,
    analysis_from_doc,
    check_page,
    new_analysis_doc,
    new_track_doc,
    next_version,
    same_upload,
    status_filter,
    track_from_doc,
    utcnow_ms,
)
from infra.errors import Conflict, NotFound


class FakeTrackRepo:
    def __init__(self, analyses: FakeAnalysisRepo) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self._analyses = analyses

    async def create_track(self, new: NewTrack) -> CreateTrackResult:
        existing = await self._find_sha(new.audio_sha256)
        if existing is None and new.track_id in self.docs:
            if not same_upload(self.docs[new.track_id], new):
                raise Conflict(f"track {new.track_id} exists with different audio")
            existing = self.docs[new.track_id]
        if existing is not None:
            return CreateTrackResult(track_from_doc(copy.deepcopy(existing)), created=False)
        doc = new_track_doc(new, utcnow_ms())
        self.docs[new.track_id] = copy.deepcopy(doc)
        return CreateTrackResult(track_from_doc(doc), created=True)

    async def _find_sha(self, audio_sha256: str) -> dict[str, Any] | None:
        return next((d for d in self.docs.values() if d["audio_sha256"] == audio_sha256), None)

    async def get_track(self, track_id: str) -> Track | None:
        doc = self.docs.get(track_id)
        return track_from_doc(copy.deepcopy(doc)) if doc else None

    async def find_by_sha256(self, audio_sha256: str) -> Track | None:
        doc = await self._find_sha(audio_sha256)
        return track_from_doc(copy.deepcopy(doc)) if doc else None

    async def list_tracks(
        self, *, status: str | Sequence[str] | None = None, limit: int = 20, offset: int = 0
    ) -> TrackPage:
        check_page(limit, offset)
        statuses = status_filter(status)
        docs = [d for d in self.docs.values() if statuses is None or d["status"] in statuses]
        docs.sort(key=lambda d: (d["created_at"], d["_id"]), reverse=True)
        items = tuple(track_from_doc(copy.deepcopy(d)) for d in docs[offset : offset + limit])
        return TrackPage(items=items, total=len(docs), limit=limit, offset=offset)

    async def delete_track(self, track_id: str) -> bool:
        self._analyses.drop_track(track_id)
        return self.docs.pop(track_id, None) is not None

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
        sets = transition_fields(
            to,
            stage=stage,
            progress_pct=progress_pct,
            error_code=error_code,
            error_reason=error_reason,
            warnings=warnings,
            map_key=map_key,
        )
        doc = self.docs.get(track_id)
        if not doc or doc["analysis_version"] != version or doc["status"] not in ALLOWED_FROM[to]:
            return TransitionResult(applied=False, track=await self.get_track(track_id))
        now = utcnow_ms()
        doc.update(copy.deepcopy(sets), updated_at=now)
        doc["status_at"][to] = now
        return TransitionResult(applied=True, track=await self.get_track(track_id))

    async def record_progress(
        self, track_id: str, *, version: int, stage: str, percent: float
    ) -> bool:
        doc = self.docs.get(track_id)
        if (
            not doc
            or doc["analysis_version"] != version
            or doc["status"] not in PROGRESSING
            or not doc["progress_pct"] < float(percent)
        ):
            return False
        doc.update(stage=stage, progress_pct=float(percent), updated_at=utcnow_ms())
        return True

    def _opening(self, track_id: str, from_version: int) -> dict[str, Any] | None:
        """The track's document if a new version may be opened from ``from_version``."""
        doc = self.docs.get(track_id)  # no await until the write: atomic, no guard needed
        if (
            doc is None
            or doc["analysis_version"] != from_version
            or doc["status"] not in FINISHED
            or doc.get("candidate_version") is not None
        ):
            return None
        return doc

    async def start_reanalysis(
        self, track_id: str, *, from_version: int, preset: str
    ) -> TransitionResult:
        doc = self._opening(track_id, from_version)
        if doc is None:
            return TransitionResult(applied=False, track=await self.get_track(track_id))
        now = utcnow_ms()
        doc.update(reanalysis_fields(preset, next_version(doc)), updated_at=now)
        for state in dropped_status_at("analyzing"):
            doc["status_at"].pop(state, None)
        doc["status_at"]["analyzing"] = now
        return TransitionResult(applied=True, track=await self.get_track(track_id))

    async def open_candidate(self, track_id: str, *, from_version: int) -> TransitionResult:
        doc = self._opening(track_id, from_version)
        if doc is None:
            return TransitionResult(applied=False, track=await self.get_track(track_id))
        version = next_version(doc)
        doc.update(candidate_version=version, latest_version=version, updated_at=utcnow_ms())
        return TransitionResult(applied=True, track=await self.get_track(track_id))

    async def promote_candidate(
        self,
        track_id: str,
        *,
        version: int,
        to: str,
        preset: str,
        map_key: str,
        warnings: Sequence[str] = (),
    ) -> TransitionResult:
        sets = promotion_fields(
            to, version=version, preset=preset, map_key=map_key, warnings=warnings
        )
        doc = self.docs.get(track_id)
        if doc is None or doc.get("candidate_version") != version:
            return TransitionResult(applied=False, track=await self.get_track(track_id))
        now = utcnow_ms()
        doc.update(copy.deepcopy(sets), updated_at=now)
        for state in dropped_status_at(to):
            doc["status_at"].pop(state, None)
        doc["status_at"][to] = now
        return TransitionResult(applied=True, track=await self.get_track(track_id))

    async def drop_candidate(self, track_id: str, *, version: int) -> TransitionResult:
        doc = self.docs.get(track_id)
        if doc is None or doc.get("candidate_version") != version:
            return TransitionResult(applied=False, track=await self.get_track(track_id))
        doc.update(candidate_version=None, updated_at=utcnow_ms())
        return TransitionResult(applied=True, track=await self.get_track(track_id))

    async def with_candidates(self, *, limit: int = 500) -> tuple[Track, ...]:
        docs = [d for d in self.docs.values() if d.get("candidate_version")][:limit]
        return tuple(
            sorted((track_from_doc(copy.deepcopy(d)) for d in docs), key=lambda t: t.updated_at)
        )


class FakeAnalysisRepo:
    def __init__(self) -> None:
        self.docs: dict[tuple[str, int], dict[str, Any]] = {}

    def drop_track(self, track_id: str) -> None:
        for key in [k for k in self.docs if k[0] == track_id]:
            del self.docs[key]

    async def add(self, track_id: str, version: int, *, preset: str) -> AnalysisRecord:
        doc = new_analysis_doc(track_id, version, preset, utcnow_ms())
        stored = self.docs.setdefault((track_id, version), doc)
        return analysis_from_doc(copy.deepcopy(stored))

    async def update(self, track_id: str, version: int, **changes: Any) -> AnalysisRecord:
        sets = analysis_changes(changes)
        doc = self.docs.get((track_id, version))
        if doc is None:
            raise NotFound(f"analysis {track_id} v{version} does not exist")
        doc.update(copy.deepcopy(sets), updated_at=utcnow_ms())
        return analysis_from_doc(copy.deepcopy(doc))

    async def get(self, track_id: str, version: int) -> AnalysisRecord | None:
        doc = self.docs.get((track_id, version))
        return analysis_from_doc(copy.deepcopy(doc)) if doc else None

    async def latest(self, track_id: str) -> AnalysisRecord | None:
        records = await self.list_for_track(track_id)
        return records[-1] if records else None

    async def list_for_track(self, track_id: str) -> tuple[AnalysisRecord, ...]:
        keys = sorted(k for k in self.docs if k[0] == track_id)
        return tuple(analysis_from_doc(copy.deepcopy(self.docs[k])) for k in keys)


class FakeEventLedger:
    def __init__(self) -> None:
        self.claimed: set[tuple[str, str]] = set()

    async def claim(self, consumer: str, event_id: str) -> bool:
        if (consumer, event_id) in self.claimed:
            return False
        self.claimed.add((consumer, event_id))
        return True

    async def seen(self, consumer: str, event_id: str) -> bool:
        return (consumer, event_id) in self.claimed

    async def release(self, consumer: str, event_id: str) -> None:
        self.claimed.discard((consumer, event_id))


class FakeDocStore:
    """Drop-in for ``MongoDocStore`` in unit tests."""

    def __init__(self) -> None:
        self.analyses = FakeAnalysisRepo()
        self.tracks = FakeTrackRepo(self.analyses)
        self.events = FakeEventLedger()
        self.closed = False

    async def ensure_indexes(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self.closed = True
