"""The reconciler over fakes: a track stuck after its write but before its publish is announced
again with the event that moves it on, once per timeout; everything else is left alone."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from contracts.events import AnalysisRequested, MapGenerated, TrackUploaded
from infra.docstore import NewTrack
from infra.docstore_fake import FakeDocStore
from infra.objectstore_fake import FakeObjectStore
from infra.publishing import RecordingPublisher
from services.ingest.reconciler import Reconciler, run_reconciler

STUCK_S = 60.0


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def world():
    docs, objects, publisher, clock = (
        FakeDocStore(),
        FakeObjectStore(),
        RecordingPublisher(),
        Clock(),
    )
    rec = Reconciler(docs, objects, publisher, stuck_after_s=STUCK_S, clock=clock)
    return docs, objects, publisher, clock, rec


def later(seconds: float = STUCK_S + 1) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def _track(docs: FakeDocStore, n: int = 1) -> str:
    track_id = f"t{n:031d}"
    await docs.tracks.create_track(
        NewTrack(
            track_id=track_id,
            audio_sha256=f"{n:064x}",
            audio_key=f"audio/{n}.wav",
            filename=f"song{n}.wav",
            content_type="audio/wav",
            size_bytes=1000,
            preset="ambient_chill",
            duration_ms=8000.0,
        )
    )
    await docs.analyses.add(track_id, 1, preset="ambient_chill")
    return track_id


async def test_a_fresh_track_is_left_alone(world):
    docs, _, publisher, _, rec = world
    await _track(docs)
    assert await rec.sweep() == []
    assert publisher.sent == []


async def test_a_track_stuck_in_uploaded_is_announced_again_with_the_same_event_id(world):
    docs, _, publisher, _, rec = world
    track_id = await _track(docs)
    sent = await rec.sweep(now=later())
    assert [type(m) for m in sent] == [TrackUploaded]
    event = publisher.sent[0]
    assert event.event_id == f"{track_id}.v1.uploaded"
    assert (event.track_id, event.audio_key, event.preset) == (
        track_id,
        "audio/1.wav",
        "ambient_chill",
    )


async def test_announced_once_per_timeout_not_on_every_sweep(world):
    docs, _, publisher, clock, rec = world
    await _track(docs)
    await rec.sweep(now=later())
    clock.t += STUCK_S / 2
    await rec.sweep(now=later())
    assert len(publisher.sent) == 1
    clock.t += STUCK_S
    await rec.sweep(now=later(2 * STUCK_S))
    assert len(publisher.sent) == 2


async def test_analyzing_v1_gets_track_uploaded_and_a_reanalysis_gets_its_command(world):
    docs, _, publisher, _, rec = world
    first, second = await _track(docs, 1), await _track(docs, 2)
    await docs.tracks.transition(first, version=1, to="analyzing")
    await docs.tracks.transition(second, version=1, to="failed", error_reason="x")
    await docs.tracks.start_reanalysis(second, from_version=1, preset="edm_high_energy")
    await rec.sweep(now=later())
    by_track = {m.track_id: m for m in publisher.sent}
    assert isinstance(by_track[first], TrackUploaded)
    command = by_track[second]
    assert isinstance(command, AnalysisRequested)
    assert command.event_id == f"{second}.v2.request" and command.analysis_version == 2
    assert command.preset == "edm_high_energy" and command.task_id == f"{second}.v2"


async def test_mapped_gets_map_generated_with_the_stored_bytes_sha(world):
    docs, objects, publisher, _, rec = world
    track_id = await _track(docs)
    raw = b'{"a map": true}'
    await objects.put_bytes("maps/x/v1/map.json", raw, content_type="application/json")
    await docs.analyses.update(
        track_id,
        1,
        map_key="maps/x/v1/map.json",
        map_sha256="ab" * 32,
        plot_key="maps/x/v1/map.png",
        warnings=["quiet"],
    )
    await docs.tracks.transition(track_id, version=1, to="analyzing")
    await docs.tracks.transition(track_id, version=1, to="mapped")
    [event] = await rec.sweep(now=later())
    assert isinstance(event, MapGenerated)
    assert event.event_id == f"{track_id}.v1.map"
    assert event.object_sha256 == hashlib.sha256(raw).hexdigest()
    assert (event.map_sha256, event.map_size_bytes, event.plot_key, event.warnings) == (
        "ab" * 32,
        len(raw),
        "maps/x/v1/map.png",
        ["quiet"],
    )


async def test_mapped_without_its_map_fails_with_a_reason(world):
    docs, _, publisher, _, rec = world
    track_id = await _track(docs)
    await docs.analyses.update(track_id, 1, map_key="maps/gone/v1/map.json", map_sha256="ab" * 32)
    await docs.tracks.transition(track_id, version=1, to="analyzing")
    await docs.tracks.transition(track_id, version=1, to="mapped")
    assert await rec.sweep(now=later()) == []
    track = await docs.tracks.get_track(track_id)
    assert track.status == "failed" and track.error_code == "map_lost"
    assert "not stored" in track.error_reason


async def _ready_with_candidate(docs, objects, *, stored: bool) -> str:
    track_id = await _track(docs)
    await docs.tracks.transition(track_id, version=1, to="analyzing")
    await docs.tracks.transition(track_id, version=1, to="mapped")
    await docs.tracks.transition(track_id, version=1, to="ready")
    await docs.tracks.open_candidate(track_id, from_version=1)
    await docs.analyses.add(track_id, 2, preset="external")
    await docs.analyses.update(track_id, 2, map_key="maps/x/v2/map.json", map_sha256="cd" * 32)
    if stored:
        await objects.put_bytes("maps/x/v2/map.json", b'{"up": 1}', content_type="application/json")
    return track_id


async def test_an_uploaded_map_waiting_for_validation_is_announced_again(world):
    docs, objects, publisher, clock, rec = world
    track_id = await _ready_with_candidate(docs, objects, stored=True)
    [event] = await rec.sweep(now=later())
    assert isinstance(event, MapGenerated) and event.candidate
    assert (event.event_id, event.analysis_version, event.preset) == (
        f"{track_id}.v2.map",
        2,
        "external",
    )
    assert event.object_sha256 == hashlib.sha256(b'{"up": 1}').hexdigest()
    clock.t += STUCK_S / 2
    assert await rec.sweep(now=later()) == []  # once per timeout, like any other
    track = await docs.tracks.get_track(track_id)
    assert (track.status, track.analysis_version, track.candidate_version) == ("ready", 1, 2)


async def test_an_uploaded_map_that_was_never_stored_is_dropped_not_the_track(world):
    docs, objects, publisher, _, rec = world
    track_id = await _ready_with_candidate(docs, objects, stored=False)
    assert await rec.sweep(now=later()) == []
    track = await docs.tracks.get_track(track_id)
    assert (track.status, track.analysis_version, track.candidate_version) == ("ready", 1, None)
    record = await docs.analyses.get(track_id, 2)
    assert record.outcome == "failed" and "not stored" in record.error_reason
    assert await rec.sweep(now=later(10 * STUCK_S)) == []


async def test_finished_tracks_are_never_touched(world):
    docs, _, publisher, _, rec = world
    track_id = await _track(docs)
    await docs.tracks.transition(track_id, version=1, to="failed", error_reason="bad audio")
    assert await rec.sweep(now=later(10 * STUCK_S)) == []


async def test_many_pages_of_stuck_tracks_are_all_found(world):
    docs, _, publisher, _, rec = world
    ids = {await _track(docs, n) for n in range(1, 131)}
    await rec.sweep(now=later())
    assert {m.track_id for m in publisher.sent} == ids


async def test_the_loop_survives_a_broker_outage_and_stops_when_told(world):
    docs, _, publisher, _, rec = world
    rec.stuck_after_s = 0.0
    await _track(docs)
    publisher.fail_with = ConnectionError("broker down")
    stop = asyncio.Event()
    loop = asyncio.create_task(run_reconciler(rec, interval_s=0.01, stop=stop))
    await asyncio.sleep(0.05)
    assert publisher.sent == [] and not loop.done()
    publisher.fail_with = None
    for _ in range(100):
        if publisher.sent:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(loop, timeout=1)
    assert [type(m) for m in publisher.sent][:1] == [TrackUploaded]


async def test_a_duplicate_job_stamps_beats_with_the_same_time_so_maps_are_identical():
    """The reconciler may re-announce a track whose first job is still running: both jobs
    must produce the same beats.detected timestamp (the map's), or the second map would
    overwrite the first with different bytes after the validator checked its hash."""
    from contracts.events import BeatsDetected
    from contracts.lifecycle import track_uploaded as uploaded_event
    from services.analyzer.ports import AnalyzerPorts
    from services.analyzer.when_track_uploaded_analyse import analyse_track

    class FakeRunner:
        async def run(self, fn, /, *args, **kwargs):
            return b"{}", {"bpm": 120.0, "warnings": [], "beat_count": 16, "duration_ms": 8000.0}

    docs, objects, publisher = FakeDocStore(), FakeObjectStore(), RecordingPublisher()
    track_id = await _track(docs)
    await objects.put_bytes("audio/1.wav", b"RIFF....WAVE", content_type="audio/wav")
    ports = AnalyzerPorts(docs=docs, objects=objects, publisher=publisher, runner=FakeRunner())
    first = uploaded_event(await docs.tracks.get_track(track_id))
    await analyse_track(first, ports)
    await asyncio.sleep(0.01)
    again = uploaded_event(await docs.tracks.get_track(track_id))  # a later re-announcement
    assert again.occurred_at != first.occurred_at
    await analyse_track(again, ports)
    stamps = {m.occurred_at for m in publisher.of(BeatsDetected)}
    assert len(publisher.of(BeatsDetected)) == 2 and len(stamps) == 1
