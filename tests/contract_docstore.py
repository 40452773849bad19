"""Behaviour every document store must have. Subclass :class:`DocStoreContract` in a test
module and give it a ``store`` fixture (the fake in ``unit/``, MongoDB adapter in
``integration/``)."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime

import pytest

from infra.docstore import NewTrack
from infra.errors import Conflict, NotFound


def new_track(track_id: str, audio: str | None = None, **overrides: object) -> NewTrack:
    sha = hashlib.sha256((audio or track_id).encode()).hexdigest()
    fields = {
        "track_id": track_id,
        "audio_sha256": sha,
        "audio_key": f"audio/{sha}.wav",
        "filename": f"{track_id}.wav",
        "content_type": "audio/wav",
        "size_bytes": 1234,
        "preset": "edm_high_energy",
        "duration_ms": 240_000.0,
    }
    fields.update(overrides)
    return NewTrack(**fields)  # type: ignore[arg-type]


async def to_mapped(store, track_id: str, version: int = 1) -> None:
    assert (await store.tracks.transition(track_id, version=version, to="analyzing")).applied
    assert (
        await store.tracks.transition(
            track_id, version=version, to="mapped", map_key=f"maps/{track_id}/v{version}.json"
        )
    ).applied


class DocStoreContract:
    # ------------------------------------------------------------------ tracks: create & read

    async def test_a_new_track_is_uploaded_version_1(self, store):
        result = await store.tracks.create_track(new_track("t1"))
        assert result.created and not result.duplicate
        track = await store.tracks.get_track("t1")
        assert track == result.track
        assert (track.status, track.analysis_version, track.progress_pct) == ("uploaded", 1, 0.0)
        assert track.filename == "t1.wav" and track.duration_ms == 240_000.0
        assert isinstance(track.created_at, datetime) and track.created_at.tzinfo is not None
        assert set(track.status_at) == {"uploaded"}

    async def test_the_same_audio_twice_is_one_track(self, store):
        first = await store.tracks.create_track(new_track("t1", audio="song"))
        again = await store.tracks.create_track(new_track("t2", audio="song"))
        assert again.duplicate and again.track.track_id == "t1"
        assert again.track.audio_sha256 == first.track.audio_sha256
        assert await store.tracks.get_track("t2") is None
        assert (await store.tracks.list_tracks()).total == 1
        found = await store.tracks.find_by_sha256(first.track.audio_sha256)
        assert found is not None and found.track_id == "t1"

    async def test_a_retried_create_is_a_duplicate_not_an_error(self, store):
        await store.tracks.create_track(new_track("t1"))
        retry = await store.tracks.create_track(new_track("t1"))
        assert retry.duplicate and retry.track.track_id == "t1"

    async def test_same_id_with_other_audio_is_a_conflict(self, store):
        await store.tracks.create_track(new_track("t1", audio="a"))
        with pytest.raises(Conflict):
            await store.tracks.create_track(new_track("t1", audio="b"))

    async def test_unknown_track_reads_as_none(self, store):
        assert await store.tracks.get_track("nope") is None
        assert await store.tracks.find_by_sha256("0" * 64) is None

    # ---------------------------------------------------------------------------- listing

    async def test_list_is_newest_first_with_pagination_and_total(self, store):
        for i in range(5):
            await store.tracks.create_track(new_track(f"t{i}"))
            await asyncio.sleep(0.003)  # distinct millisecond timestamps
        page = await store.tracks.list_tracks(limit=2, offset=0)
        assert [t.track_id for t in page.items] == ["t4", "t3"]
        assert (page.total, page.limit, page.offset) == (5, 2, 0)
        page = await store.tracks.list_tracks(limit=2, offset=4)
        assert [t.track_id for t in page.items] == ["t0"] and page.total == 5
        assert (await store.tracks.list_tracks(limit=2, offset=10)).items == ()

    async def test_list_filters_by_status(self, store):
        for i in range(4):
            await store.tracks.create_track(new_track(f"t{i}"))
        await store.tracks.transition("t1", version=1, to="failed", error_reason="bad")
        await store.tracks.transition("t2", version=1, to="analyzing")
        failed = await store.tracks.list_tracks(status="failed")
        assert [t.track_id for t in failed.items] == ["t1"] and failed.total == 1
        both = await store.tracks.list_tracks(status=["failed", "analyzing"])
        assert {t.track_id for t in both.items} == {"t1", "t2"} and both.total == 2
        assert (await store.tracks.list_tracks(status="ready")).total == 0

    async def test_list_rejects_bad_arguments(self, store):
        with pytest.raises(ValueError, match="status"):
            await store.tracks.list_tracks(status="done")
        with pytest.raises(ValueError, match="limit"):
            await store.tracks.list_tracks(limit=0)
        with pytest.raises(ValueError, match="offset"):
            await store.tracks.list_tracks(offset=-1)

    # ------------------------------------------------------------------------ lifecycle

    async def test_full_lifecycle_records_stage_progress_and_timestamps(self, store):
        await store.tracks.create_track(new_track("t1"))
        step = await store.tracks.transition(
            "t1", version=1, to="analyzing", stage="decoding", progress_pct=5
        )
        assert step.applied and step.track.status == "analyzing"
        assert (step.track.stage, step.track.progress_pct) == ("decoding", 5.0)
        await store.tracks.transition("t1", version=1, to="mapped", map_key="maps/t1/v1.json")
        done = await store.tracks.transition("t1", version=1, to="ready")
        track = done.track
        assert done.applied and track.status == "ready"
        assert (track.stage, track.progress_pct, track.map_key) == (
            "done",
            100.0,
            "maps/t1/v1.json",
        )
        at = track.status_at
        assert set(at) == {"uploaded", "analyzing", "mapped", "ready"}
        assert at["uploaded"] <= at["analyzing"] <= at["mapped"] <= at["ready"]
        assert track.updated_at >= at["uploaded"] and track.updated_at.tzinfo is not None

    async def test_warning_outcome_keeps_its_warnings(self, store):
        await store.tracks.create_track(new_track("t1"))
        await to_mapped(store, "t1")
        done = await store.tracks.transition(
            "t1", version=1, to="warning", warnings=["no beats found"]
        )
        assert done.applied and done.track.warnings == ("no beats found",)

    async def test_duplicate_event_does_not_apply_twice(self, store):
        await store.tracks.create_track(new_track("t1"))
        first = await store.tracks.transition("t1", version=1, to="analyzing")
        second = await store.tracks.transition("t1", version=1, to="analyzing")
        assert first.applied and not second.applied
        assert second.track.status == "analyzing" and second.is_at("analyzing", 1)
        assert second.track.status_at == first.track.status_at
        assert not second.is_at("analyzing", 2) and not second.is_at("mapped", 1)

    async def test_stale_event_never_moves_a_track_backwards(self, store):
        await store.tracks.create_track(new_track("t1"))
        await to_mapped(store, "t1")
        await store.tracks.transition("t1", version=1, to="ready")
        for target in ("analyzing", "mapped", "failed", "warning"):
            late = await store.tracks.transition("t1", version=1, to=target)
            assert not late.applied and late.track.status == "ready"

    async def test_failure_records_a_reason_and_is_final(self, store):
        await store.tracks.create_track(new_track("t1"))
        await store.tracks.transition("t1", version=1, to="analyzing")
        failed = await store.tracks.transition(
            "t1",
            version=1,
            to="failed",
            stage="decoding",
            error_code="not_audio",
            error_reason="the file is not audio",
        )
        assert failed.applied
        assert (failed.track.error_code, failed.track.error_reason) == (
            "not_audio",
            "the file is not audio",
        )
        late = await store.tracks.transition("t1", version=1, to="mapped")
        assert not late.applied and late.track.status == "failed"

    async def test_an_upload_that_never_decodes_can_fail_directly(self, store):
        await store.tracks.create_track(new_track("t1"))
        failed = await store.tracks.transition(
            "t1", version=1, to="failed", error_reason="truncated file"
        )
        assert failed.applied and failed.track.error_reason == "truncated file"

    async def test_skipping_a_state_is_refused(self, store):
        await store.tracks.create_track(new_track("t1"))
        skipped = await store.tracks.transition("t1", version=1, to="ready")
        assert not skipped.applied and skipped.track.status == "uploaded"

    async def test_wrong_version_is_refused(self, store):
        await store.tracks.create_track(new_track("t1"))
        wrong = await store.tracks.transition("t1", version=2, to="analyzing")
        assert not wrong.applied and wrong.track.status == "uploaded"

    async def test_transition_of_a_missing_track_says_so(self, store):
        missing = await store.tracks.transition("nope", version=1, to="analyzing")
        assert not missing.applied and missing.track is None

    async def test_uploaded_is_not_a_transition_target(self, store):
        await store.tracks.create_track(new_track("t1"))
        with pytest.raises(ValueError):
            await store.tracks.transition("t1", version=1, to="uploaded")

    async def test_concurrent_duplicates_apply_exactly_once(self, store):
        await store.tracks.create_track(new_track("t1"))
        results = await asyncio.gather(
            *[store.tracks.transition("t1", version=1, to="analyzing") for _ in range(10)]
        )
        assert sum(r.applied for r in results) == 1

    # ------------------------------------------------------------------------- progress

    async def test_progress_only_moves_forward(self, store):
        await store.tracks.create_track(new_track("t1"))
        assert not await store.tracks.record_progress(
            "t1", version=1, stage="rhythm", percent=10
        )  # not analyzing yet
        await store.tracks.transition("t1", version=1, to="analyzing")
        assert await store.tracks.record_progress("t1", version=1, stage="rhythm", percent=30)
        assert not await store.tracks.record_progress("t1", version=1, stage="decoding", percent=10)
        assert not await store.tracks.record_progress("t1", version=2, stage="genesis", percent=80)
        track = await store.tracks.get_track("t1")
        assert (track.stage, track.progress_pct) == ("rhythm", 30.0)

    # ---------------------------------------------------------------------- re-analysis

    async def test_reanalysis_starts_version_2_and_keeps_version_1(self, store):
        await store.tracks.create_track(new_track("t1"))
        await store.analyses.add("t1", 1, preset="edm_high_energy")
        await to_mapped(store, "t1")
        await store.tracks.transition("t1", version=1, to="ready")
        again = await store.tracks.start_reanalysis("t1", from_version=1, preset="chill")
        assert again.applied
        track = again.track
        assert (track.status, track.analysis_version, track.preset) == ("analyzing", 2, "chill")
        assert (track.progress_pct, track.map_key, track.error_reason) == (0.0, None, None)
        assert set(track.status_at) == {"uploaded", "analyzing"}
        await store.analyses.add("t1", 2, preset="chill")
        assert [a.version for a in await store.analyses.list_for_track("t1")] == [1, 2]
        assert (await store.analyses.latest("t1")).preset == "chill"

    async def test_duplicate_reanalysis_request_starts_one_version(self, store):
        await store.tracks.create_track(new_track("t1"))
        await store.tracks.transition("t1", version=1, to="failed", error_reason="x")
        first = await store.tracks.start_reanalysis("t1", from_version=1, preset="chill")
        second = await store.tracks.start_reanalysis("t1", from_version=1, preset="chill")
        assert first.applied and not second.applied
        assert second.track.analysis_version == 2

    async def test_reanalysis_needs_a_finished_track(self, store):
        await store.tracks.create_track(new_track("t1"))
        await store.tracks.transition("t1", version=1, to="analyzing")
        busy = await store.tracks.start_reanalysis("t1", from_version=1, preset="chill")
        assert not busy.applied and busy.track.analysis_version == 1

    async def test_events_of_the_old_version_are_ignored_after_reanalysis(self, store):
        await store.tracks.create_track(new_track("t1"))
        await to_mapped(store, "t1")
        await store.tracks.transition("t1", version=1, to="warning")
        await store.tracks.start_reanalysis("t1", from_version=1, preset="chill")
        stale = await store.tracks.transition("t1", version=1, to="failed")
        assert not stale.applied and stale.track.status == "analyzing"
        assert not stale.is_at("analyzing", 1) and stale.is_at("analyzing", 2)
        fresh = await store.tracks.transition("t1", version=2, to="mapped")
        assert fresh.applied and fresh.track.analysis_version == 2

    # ------------------------------------------------- external maps: candidate versions

    async def _ready(self, store, track_id: str = "t1") -> None:
        await store.tracks.create_track(new_track(track_id))
        await to_mapped(store, track_id)
        assert (await store.tracks.transition(track_id, version=1, to="ready")).applied

    async def test_a_candidate_leaves_the_current_version_as_it_is(self, store):
        await self._ready(store)
        opened = await store.tracks.open_candidate("t1", from_version=1)
        assert opened.applied
        track = opened.track
        assert (track.status, track.analysis_version, track.candidate_version) == ("ready", 1, 2)
        assert track.map_key == "maps/t1/v1.json" and track.latest_version == 2
        assert not (await store.tracks.open_candidate("t1", from_version=1)).applied
        busy = await store.tracks.start_reanalysis("t1", from_version=1, preset="chill")
        assert not busy.applied and busy.track.analysis_version == 1
        assert [t.track_id for t in await store.tracks.with_candidates()] == ["t1"]

    async def test_a_candidate_needs_a_finished_track(self, store):
        await store.tracks.create_track(new_track("t1"))
        await store.tracks.transition("t1", version=1, to="analyzing")
        refused = await store.tracks.open_candidate("t1", from_version=1)
        assert not refused.applied and refused.track.candidate_version is None
        assert not (await store.tracks.open_candidate("nope", from_version=1)).applied

    async def test_a_promoted_candidate_becomes_current_once(self, store):
        await self._ready(store)
        await store.tracks.open_candidate("t1", from_version=1)
        moved = await store.tracks.promote_candidate(
            "t1",
            version=2,
            to="warning",
            preset="external",
            map_key="maps/t1/v2/map.json",
            warnings=["no beats"],
        )
        assert moved.applied
        track = moved.track
        assert (track.status, track.analysis_version, track.candidate_version, track.preset) == (
            "warning",
            2,
            None,
            "external",
        )
        assert (track.map_key, track.warnings, track.stage) == (
            "maps/t1/v2/map.json",
            ("no beats",),
            "done",
        )
        assert set(track.status_at) == {"uploaded", "warning"}
        again = await store.tracks.promote_candidate(
            "t1", version=2, to="warning", preset="external", map_key="maps/t1/v2/map.json"
        )
        assert not again.applied and again.is_at("warning", 2)
        assert await store.tracks.with_candidates() == ()

    async def test_a_dropped_candidate_number_is_never_used_again(self, store):
        await self._ready(store)
        await store.tracks.open_candidate("t1", from_version=1)
        dropped = await store.tracks.drop_candidate("t1", version=2)
        assert dropped.applied
        assert (
            dropped.track.status,
            dropped.track.analysis_version,
            dropped.track.candidate_version,
        ) == ("ready", 1, None)
        assert not (await store.tracks.drop_candidate("t1", version=2)).applied
        assert not (
            await store.tracks.promote_candidate(
                "t1", version=2, to="ready", preset="external", map_key="k"
            )
        ).applied
        assert (
            await store.tracks.open_candidate("t1", from_version=1)
        ).track.candidate_version == 3
        await store.tracks.drop_candidate("t1", version=3)
        again = await store.tracks.start_reanalysis("t1", from_version=1, preset="chill")
        assert again.applied and again.track.analysis_version == 4
        assert again.track.latest_version == 4

    # ------------------------------------------------------------------------- analyses

    async def test_analysis_records_are_idempotent_and_updatable(self, store):
        first = await store.analyses.add("t1", 1, preset="edm_high_energy")
        again = await store.analyses.add("t1", 1, preset="other")
        assert first == again and again.outcome == "pending"
        updated = await store.analyses.update(
            "t1",
            1,
            map_key="maps/t1/v1.json",
            map_sha256="a" * 64,
            bpm=128.0,
            outcome="warning",
            warnings=["tempo drifts"],
        )
        assert (updated.map_key, updated.map_sha256, updated.bpm) == (
            "maps/t1/v1.json",
            "a" * 64,
            128.0,
        )
        assert (updated.outcome, updated.warnings) == ("warning", ("tempo drifts",))
        assert updated.updated_at >= updated.created_at
        assert await store.analyses.get("t1", 1) == updated

    async def test_analysis_errors_are_clear(self, store):
        with pytest.raises(NotFound):
            await store.analyses.update("t1", 7, outcome="ready")
        await store.analyses.add("t1", 1, preset="p")
        with pytest.raises(ValueError, match="unknown analysis fields"):
            await store.analyses.update("t1", 1, colour="red")
        with pytest.raises(ValueError, match="outcome"):
            await store.analyses.update("t1", 1, outcome="great")
        assert await store.analyses.get("t1", 2) is None
        assert await store.analyses.latest("nope") is None
        assert await store.analyses.list_for_track("nope") == ()

    # --------------------------------------------------------------------------- delete

    async def test_delete_removes_the_track_and_its_analyses(self, store):
        created = await store.tracks.create_track(new_track("t1"))
        await store.tracks.create_track(new_track("t2"))
        await store.analyses.add("t1", 1, preset="p")
        await store.analyses.add("t2", 1, preset="p")
        assert await store.tracks.delete_track("t1")
        assert not await store.tracks.delete_track("t1")
        assert await store.tracks.get_track("t1") is None
        assert await store.analyses.list_for_track("t1") == ()
        assert len(await store.analyses.list_for_track("t2")) == 1
        again = await store.tracks.create_track(new_track("t1"))
        assert again.created and again.track.audio_sha256 == created.track.audio_sha256

    # --------------------------------------------------------------------------- ledger

    async def test_an_event_is_claimed_once_per_consumer(self, store):
        assert not await store.events.seen("analyzer", "e1")
        assert await store.events.claim("analyzer", "e1")
        assert not await store.events.claim("analyzer", "e1")
        assert await store.events.claim("validator", "e1")
        assert await store.events.seen("analyzer", "e1")

    async def test_a_released_claim_can_be_claimed_again(self, store):
        assert await store.events.claim("analyzer", "e1")
        await store.events.release("analyzer", "e1")
        assert await store.events.claim("analyzer", "e1")

    async def test_concurrent_claims_have_one_winner(self, store):
        wins = await asyncio.gather(*[store.events.claim("c", "e") for _ in range(10)])
        assert sum(wins) == 1
