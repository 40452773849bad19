"""An uploaded map is a candidate version: valid, it becomes current; rejected, it fails on its
own and the track keeps its current version (issue 12, item 4). Over fakes."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest

from contracts.canonical import seal_map
from contracts.events import MapGenerated, MapRejected, MapValidated
from contracts.genesis_map import SEED_EXAMPLE_MAP
from infra.docstore_fake import FakeDocStore
from infra.objectstore_fake import FakeObjectStore
from infra.publishing import RecordingPublisher
from services.validator.when_map_generated_validate import ValidatorPorts, validate_generated_map
from tests.contract_docstore import new_track, to_mapped


def map_for(audio_sha256: str) -> bytes:
    doc = copy.deepcopy(SEED_EXAMPLE_MAP)
    doc["metadata"]["hashes"]["audio_sha256"] = audio_sha256
    return json.dumps(seal_map(doc)).encode()


@pytest.fixture
async def ports():
    docs, objects = FakeDocStore(), FakeObjectStore()
    for tid in ("t1", "t2"):
        await docs.tracks.create_track(new_track(tid))
        await docs.analyses.add(tid, 1, preset="edm_high_energy")
        await to_mapped(docs, tid)
        await docs.tracks.transition(tid, version=1, to="ready")
        await docs.analyses.update(tid, 1, outcome="ready", map_key=f"maps/{tid}/v1.json")
    return ValidatorPorts(docs=docs, objects=objects, publisher=RecordingPublisher())


async def upload(ports, track_id: str, raw: bytes) -> MapGenerated:
    """What the gateway does with an uploaded map."""
    opened = await ports.docs.tracks.open_candidate(track_id, from_version=1)
    version = opened.track.candidate_version
    key = f"maps/{track_id}/v{version}/map.json"
    await ports.docs.analyses.add(track_id, version, preset="external")
    await ports.objects.put_bytes(key, raw, content_type="application/json")
    await ports.docs.analyses.update(
        track_id,
        version,
        map_key=key,
        map_sha256=json.loads(raw)["metadata"]["hashes"]["map_sha256"],
    )
    return MapGenerated(
        event_id=f"{track_id}.v{version}.map",
        track_id=track_id,
        analysis_version=version,
        map_key=key,
        map_sha256=json.loads(raw)["metadata"]["hashes"]["map_sha256"],
        object_sha256=hashlib.sha256(raw).hexdigest(),
        map_size_bytes=len(raw),
        preset="external",
        candidate=True,
    )


async def test_another_tracks_map_is_rejected_on_its_own_and_the_track_stays_ready(ports):
    t2 = await ports.docs.tracks.get_track("t2")
    event = await upload(ports, "t1", map_for(t2.audio_sha256))
    await validate_generated_map(event, ports)
    await validate_generated_map(event, ports)  # redelivered: nothing more happens
    track = await ports.docs.tracks.get_track("t1")
    assert (track.status, track.analysis_version, track.candidate_version) == ("ready", 1, None)
    assert (track.map_key, track.error_reason) == ("maps/t1/v1.json", None)
    rejected = await ports.docs.analyses.get("t1", 2)
    assert rejected.outcome == "failed" and "audio_sha256" in rejected.error_reason
    assert (await ports.docs.analyses.get("t1", 1)).outcome == "ready"
    [message] = ports.publisher.of(MapRejected)
    assert (message.analysis_version, message.kept_status) == (2, "ready")
    assert ports.publisher.of(MapValidated) == []
    again = await ports.docs.tracks.start_reanalysis("t1", from_version=1, preset="chill")
    assert again.track.analysis_version == 3  # the rejected number is not reused


async def test_a_valid_uploaded_map_becomes_the_current_version(ports):
    t1 = await ports.docs.tracks.get_track("t1")
    event = await upload(ports, "t1", map_for(t1.audio_sha256))
    await validate_generated_map(event, ports)
    await validate_generated_map(event, ports)  # redelivered: the same announcement again
    track = await ports.docs.tracks.get_track("t1")
    outcome = (await ports.docs.analyses.get("t1", 2)).outcome
    assert outcome in ("ready", "warning")  # the seed map is flagged: either is accepted
    assert (track.status, track.analysis_version, track.candidate_version) == (outcome, 2, None)
    assert (track.preset, track.map_key) == ("external", event.map_key)
    validated = ports.publisher.of(MapValidated)
    assert {m.event_id for m in validated} == {"t1.v2.validated"}
    assert validated[0].analysis_version == 2 and ports.publisher.of(MapRejected) == []


async def test_a_rejected_map_of_the_current_version_still_fails_the_track(ports):
    await ports.docs.tracks.start_reanalysis("t2", from_version=1, preset="chill")
    await ports.docs.analyses.add("t2", 2, preset="chill")
    await ports.docs.tracks.transition("t2", version=2, to="mapped")
    raw = map_for("0" * 64)
    await ports.objects.put_bytes("maps/t2/v2/map.json", raw)
    await validate_generated_map(
        MapGenerated(
            event_id="t2.v2.map",
            track_id="t2",
            analysis_version=2,
            map_key="maps/t2/v2/map.json",
            map_sha256=json.loads(raw)["metadata"]["hashes"]["map_sha256"],
            object_sha256=hashlib.sha256(raw).hexdigest(),
            map_size_bytes=len(raw),
            preset="chill",
        ),
        ports,
    )
    track = await ports.docs.tracks.get_track("t2")
    assert (track.status, track.analysis_version, track.error_code) == ("failed", 2, "map_rejected")
    [message] = ports.publisher.of(MapRejected)
    assert message.kept_status is None
