"""Every id and key format the pipeline stores, pinned byte for byte.

Object keys are stored in documents and event ids in every consumer's processed-events ledger:
a changed format orphans stored objects or lets a redelivered event through twice. Change a
pinned value only together with a migration of what is stored."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest

from contracts import lifecycle
from contracts.events import AnalysisRequested, MapGenerated, TrackUploaded

TRACK = "0123456789abcdef0123456789abcdef"
SHA = "a" * 64


@dataclass(frozen=True)
class _Track:
    status: str = "uploaded"
    analysis_version: int = 1
    candidate_version: int | None = None
    track_id: str = TRACK
    audio_key: str = f"audio/{SHA}.wav"
    audio_sha256: str = SHA
    filename: str = "song.wav"
    content_type: str = "audio/wav"
    size_bytes: int = 1000
    duration_ms: float | None = 1234.5
    preset: str = "edm_high_energy"


STORED = lifecycle.StoredMap(
    map_key="maps/x/v2/map.json",
    map_sha256="b" * 64,
    object_sha256="c" * 64,
    size_bytes=10,
    preset="chill",
    plot_key="maps/x/v2/map.png",
    warnings=tuple(f"w{i}" for i in range(60)),
)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("uploaded", f"{TRACK}.v3.uploaded"),
        ("request", f"{TRACK}.v3.request"),
        ("beats", f"{TRACK}.v3.beats"),
        ("map", f"{TRACK}.v3.map"),
        ("validated", f"{TRACK}.v3.validated"),
        ("rejected", f"{TRACK}.v3.rejected"),
        ("failed", f"{TRACK}.v3.failed"),
        ("bundled", f"{TRACK}.v3.bundled"),
    ],
)
def test_each_step_of_a_version_has_its_pinned_event_id(step, expected):
    assert lifecycle.event_id(TRACK, 3, step) == expected


def test_task_ids_are_track_dot_v_version_and_parse_back():
    assert lifecycle.task_id(TRACK, 12) == f"{TRACK}.v12"
    assert lifecycle.parse_task_id(f"{TRACK}.v12") == (TRACK, 12)
    assert lifecycle.parse_task_id("a.b.v7") == ("a.b", 7)
    for bad in ("nope", ".v3", f"{TRACK}.v", f"{TRACK}.vx", f"{TRACK}.v1234567"):
        assert lifecycle.parse_task_id(bad) is None


def test_deployment_and_device_event_ids_are_pinned_and_hashed_beyond_64_chars():
    dep = "d" * 32
    assert lifecycle.deployment_requested_id(dep) == f"{dep}.requested"
    assert lifecycle.offer_id(dep, "dev-1", 2) == f"{dep}.dev-1.offer.2"
    assert lifecycle.delivered_id(dep, "dev-1", 2) == f"{dep}.dev-1.delivered.2"
    assert lifecycle.deployed_id(dep, "0123abcd") == f"{dep}.deployed.0123abcd"
    assert lifecycle.alert_id("dev-1", 1700000000123) == "alert.dev-1.1700000000123"
    assert lifecycle.telemetry_part_id("b" * 70, 3) == "b" * 59 + ".p03"
    assert lifecycle.telemetry_part_id("batch1", 12) == "batch1.p12"
    long_device = "x" * 40
    hashed = lifecycle.offer_id(dep, long_device, 1)
    assert hashed == (hashlib.sha256(f"{dep}.{long_device}.offer.1".encode()).hexdigest())
    assert len(lifecycle.alert_id("y" * 64, 1)) == 64


def test_object_keys_are_pinned():
    assert lifecycle.audio_key(SHA, "flac") == f"audio/{SHA}.flac"
    assert lifecycle.upload_key("u1") == "incoming/u1"
    assert lifecycle.analysis_key(TRACK, 2) == f"analyses/{TRACK}/v2/analysis.json"
    assert lifecycle.map_key(TRACK, 2) == f"maps/{TRACK}/v2/map.json"
    assert lifecycle.plot_key(TRACK, 2) == f"maps/{TRACK}/v2/map.png"
    assert lifecycle.bundle_key(TRACK, 2) == f"bundles/{TRACK}/v2/bundle.k1b"
    assert lifecycle.NO_BUNDLE_KEY == "bundles/none"
    assert lifecycle.track_prefixes(TRACK) == (
        f"analyses/{TRACK}/",
        f"maps/{TRACK}/",
        f"bundles/{TRACK}/",
    )


def test_every_per_version_key_of_a_track_is_under_its_prefixes():
    keys = [k(TRACK, 4) for k in (lifecycle.analysis_key, lifecycle.map_key, lifecycle.plot_key)]
    keys.append(lifecycle.bundle_key(TRACK, 4))
    for key in keys:
        assert key.startswith(lifecycle.track_prefixes(TRACK))


def test_a_move_is_allowed_only_from_its_listed_states():
    assert lifecycle.ALLOWED_FROM["mapped"] == ("analyzing",)
    assert set(lifecycle.ALLOWED_FROM["failed"]) == set(lifecycle.WAITING)
    with pytest.raises(ValueError):
        lifecycle.transition_fields("uploaded")
    done = lifecycle.transition_fields("ready")
    assert done == {"status": "ready", "stage": "done", "progress_pct": 100.0}


def test_a_new_version_opens_only_on_an_idle_track_with_a_never_used_number():
    assert lifecycle.is_idle(_Track(status="ready"))
    assert not lifecycle.is_idle(_Track(status="ready", candidate_version=2))
    assert not lifecycle.is_idle(_Track(status="mapped"))
    assert lifecycle.next_version(latest_version=5, analysis_version=3) == 6


def test_an_uploaded_track_and_a_first_analysis_are_moved_on_by_track_uploaded():
    for track in (_Track(), _Track(status="analyzing")):
        event = lifecycle.event_moving_on(track)
        assert isinstance(event, TrackUploaded)
        assert event.event_id == f"{TRACK}.v1.uploaded"
        assert (event.audio_key, event.duration_ms) == (track.audio_key, 1234.5)


def test_a_reanalysis_is_moved_on_by_the_same_request_the_gateway_sent():
    track = _Track(status="analyzing", analysis_version=3, preset="chill")
    event = lifecycle.event_moving_on(track)
    sent = lifecycle.analysis_requested(
        _Track(status="ready", analysis_version=2), version=3, preset="chill"
    )
    assert isinstance(event, AnalysisRequested)
    assert event.model_dump(exclude={"occurred_at"}) == sent.model_dump(exclude={"occurred_at"})
    assert (event.event_id, event.task_id) == (f"{TRACK}.v3.request", f"{TRACK}.v3")


def test_a_mapped_track_or_an_open_candidate_is_moved_on_by_map_generated():
    mapped = lifecycle.event_moving_on(_Track(status="mapped", analysis_version=2), STORED)
    assert isinstance(mapped, MapGenerated)
    assert (mapped.event_id, mapped.candidate) == (f"{TRACK}.v2.map", False)
    assert (mapped.map_size_bytes, len(mapped.warnings)) == (10, 50)
    candidate = _Track(status="ready", analysis_version=2, candidate_version=4)
    uploaded = lifecycle.event_moving_on(candidate, STORED)
    assert isinstance(uploaded, MapGenerated)
    assert (uploaded.event_id, uploaded.analysis_version, uploaded.candidate) == (
        f"{TRACK}.v4.map",
        4,
        True,
    )
    with pytest.raises(ValueError):
        lifecycle.event_moving_on(candidate)


def test_a_finished_track_waits_for_nothing():
    with pytest.raises(ValueError):
        lifecycle.event_moving_on(_Track(status="failed"))
