"""The reconciler: re-announces tracks stuck between "written to MongoDB" and "published".

Every handler writes its documents first and publishes after, so a crash (or a broker outage)
between the two leaves a track waiting for an event nobody will send. Every consumer already
deduplicates on track + version through guarded transitions and deterministic event ids, so
publishing the same event again is safe: the reconciler finds tracks whose current state has
not changed for ``stuck_after_s`` and publishes again the event that moves them on, as
``contracts.lifecycle.event_moving_on`` builds it (the same builders, so the same ids, as the
services that first sent it) —

* ``uploaded``  → ``track.uploaded`` (the same event id ingest used);
* ``analyzing`` → ``track.uploaded`` for version 1, ``cmd.analysis.request`` for a
  re-analysis (the analyzer carries on with a track already in ``analyzing``);
* ``mapped``    → ``map.generated`` from the analysis record's map key, with the SHA-256 of
  the stored bytes recomputed (the validator compares it); a mapped track whose map is gone
  is failed with that reason instead;
* a track whose uploaded map (``candidate_version``) waits for validation → ``map.generated``
  of that version (``candidate``); a candidate whose map is gone is dropped, its version failed
  with that reason, and the track keeps its current version.

A track is re-announced at most once per ``stuck_after_s`` by one reconciler. Several ingest
replicas each run one; their duplicates are harmless for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from contracts import lifecycle
from contracts.base import Message
from contracts.lifecycle import WAITING, StoredMap
from infra.docstore import DocStore, Track
from infra.errors import NotFound
from infra.objectstore import ObjectStore
from infra.periodic import every
from infra.publishing import Publisher

log = logging.getLogger("k1.reconciler")

PAGE = 500
MAX_PER_SWEEP = 200
"""At most this many events per sweep, so a long outage does not end in a publish storm."""


class Reconciler:
    def __init__(
        self,
        docs: DocStore,
        objects: ObjectStore,
        publisher: Publisher,
        *,
        stuck_after_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.docs, self.objects, self.publisher = docs, objects, publisher
        self.stuck_after_s = stuck_after_s
        self._clock = clock
        self._announced: dict[tuple[str, int, str], float] = {}

    async def sweep(self, *, now: datetime | None = None) -> list[Message]:
        """One pass: re-announce every stuck track (bounded); returns what was published."""
        now = now or datetime.now(UTC)
        sent: list[Message] = []
        for track in await self._stuck(now):
            if len(sent) >= MAX_PER_SWEEP:
                break
            key = _key(track)
            last = self._announced.get(key)
            if last is not None and self._clock() - last < self.stuck_after_s:
                continue
            message = await self._event_for(track)
            if message is None:
                continue
            await self.publisher.publish(message)
            self._announced[key] = self._clock()
            sent.append(message)
            log.warning(
                "re-announced a stuck track: %s",
                type(message).routing_key,
                extra={
                    "track_id": track.track_id,
                    "event_id": message.event_id,
                    "status": track.status,
                },
            )
        return sent

    async def _stuck(self, now: datetime) -> list[Track]:
        # Filtered here, not in the query: range queries on $currentDate fields do not match
        # on nx-27017 (see infra.docstore).
        stuck, offset = [], 0
        while True:
            page = await self.docs.tracks.list_tracks(
                status=list(WAITING), limit=PAGE, offset=offset
            )
            stuck += [
                t for t in page.items if (now - t.updated_at).total_seconds() >= self.stuck_after_s
            ]
            offset += len(page.items)
            if len(page.items) < PAGE or offset >= page.total:
                break
        stuck += [
            t
            for t in await self.docs.tracks.with_candidates(limit=PAGE)
            if (now - t.updated_at).total_seconds() >= self.stuck_after_s
        ]
        live = {_key(t) for t in stuck}
        self._announced = {k: v for k, v in self._announced.items() if k in live}
        return sorted(stuck, key=lambda t: t.updated_at)

    async def _event_for(self, track: Track) -> Message | None:
        if not lifecycle.waits_for_validation(track):
            return lifecycle.event_moving_on(track)
        stored = await self._stored_map(track, lifecycle.waiting_version(track))
        return None if stored is None else lifecycle.event_moving_on(track, stored)

    async def _stored_map(self, track: Track, version: int) -> StoredMap | None:
        """The waiting version's map as stored; None (after failing the version or dropping
        the candidate, with the reason) when it is not stored."""
        candidate = version == track.candidate_version
        record = await self.docs.analyses.get(track.track_id, version)
        raw = None
        if record is not None and record.map_key and record.map_sha256:
            with contextlib.suppress(NotFound):
                raw = await self.objects.get_bytes(record.map_key)
        if raw is None or record is None or not (record.map_key and record.map_sha256):
            if candidate:
                await self._drop_lost_candidate(track, version, has_record=record is not None)
                return None
            await self.docs.tracks.transition(
                track.track_id,
                version=version,
                to="failed",
                stage="validating",
                error_code="map_lost",
                error_reason="the track was mapped but its map is not stored; analyse it again",
            )
            log.error(
                "mapped track without a stored map failed", extra={"track_id": track.track_id}
            )
            return None
        digest = await asyncio.to_thread(_sha256_hex, raw)  # up to 4 MiB, up to 200 a sweep
        return StoredMap(
            map_key=record.map_key,
            map_sha256=record.map_sha256,
            object_sha256=digest,
            size_bytes=len(raw),
            preset=record.preset,
            plot_key=record.plot_key,
            warnings=record.warnings,
        )

    async def _drop_lost_candidate(self, track: Track, version: int, *, has_record: bool) -> None:
        if has_record:
            await self.docs.analyses.update(
                track.track_id,
                version,
                outcome="failed",
                error_reason="the uploaded map was not stored; upload it again",
            )
        await self.docs.tracks.drop_candidate(track.track_id, version=version)
        log.error(
            "uploaded map without a stored object dropped", extra={"track_id": track.track_id}
        )


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _key(track: Track) -> tuple[str, int, str]:
    """What a re-announcement is about: the waiting version and its state."""
    state = "candidate" if track.candidate_version is not None else track.status
    return track.track_id, lifecycle.waiting_version(track), state


async def run_reconciler(reconciler: Reconciler, *, interval_s: float, stop: asyncio.Event) -> None:
    """Sweep every ``interval_s`` until ``stop`` is set; a failed sweep (store or broker down)
    is logged and tried again next time."""
    await every(reconciler.sweep, interval_s=interval_s, stop=stop, what="reconcile sweep")
