"""A crash between "written to MongoDB" and "published", at every stage: the real ingest and
analyzer code runs here against the stack's own nx-27017 and S3, but its publishes are lost
(the process "died" right after its writes). Nothing else will ever move these tracks; the
reconciler in the running ingest finds each one stuck and re-announces it, and all three reach
``ready`` with one current map."""

from __future__ import annotations

import asyncio

import pytest

from contracts.events import BeatsDetected, TrackUploaded
from infra.objectstore_s3 import S3ObjectStore
from infra.publishing import RecordingPublisher
from services.analyzer.ports import AnalyzerPorts
from services.analyzer.when_beats_detected_build_map import build_track_map
from services.analyzer.when_track_uploaded_analyse import analyse_track
from services.ingest.service import IngestPorts, accept_audio
from services.ingest.spool import spool
from tests.e2e.songs import click_song
from tests.faults.conftest import STUCK_AFTER_S

pytestmark = pytest.mark.faults


class CrashingPublisher(RecordingPublisher):
    """Keeps the message and never delivers it: the process died before its publish."""


class InlineRunner:
    async def run(self, fn, /, *args, **kwargs):
        return await asyncio.to_thread(fn, *args, **kwargs)


async def _chunks(data: bytes):
    yield data


async def _written_but_not_published(fs, moto_s3, data: bytes, name: str, *, stop_after: str):
    objects = S3ObjectStore.create(
        endpoint=moto_s3.endpoint,
        access_key=moto_s3.access_key,
        secret_key=moto_s3.secret_key,
        bucket=fs.bucket,
        secure=False,
        region=moto_s3.region,
    )
    lost = CrashingPublisher()
    spooled = await spool(_chunks(data), limit_bytes=len(data) + 1)
    try:
        accepted = await accept_audio(
            spooled,
            filename=name,
            preset="edm_high_energy",
            max_duration_s=1200,
            ports=IngestPorts(docs=fs.docs, objects=objects, publisher=lost),
        )
    finally:
        spooled.discard()
    ports = AnalyzerPorts(docs=fs.docs, objects=objects, publisher=lost, runner=InlineRunner())
    if stop_after in ("analyzing", "mapped"):
        await analyse_track(lost.of(TrackUploaded)[-1], ports)
    if stop_after == "mapped":
        await build_track_map(lost.of(BeatsDetected)[-1], ports)
    await objects.close()
    return accepted.track.track_id


def test_every_stage_recovers_from_a_lost_publish(fault_stack, moto_s3):
    fs = fault_stack
    stuck = {}
    for n, stage in enumerate(("uploaded", "analyzing", "mapped")):
        track_id = fs.loop.run_until_complete(
            _written_but_not_published(
                fs,
                moto_s3,
                click_song(bpm=100 + 10 * n, seconds=6, seed=500 + n),
                f"{stage}.wav",
                stop_after=stage,
            )
        )
        assert fs.track(track_id).status == stage
        stuck[stage] = track_id
        fs.ledger.sent[f"{stage}.wav"] = track_id

    summary = fs.assert_nothing_lost()
    assert summary["songs"] == summary["tracks"] == summary["ready"] == 3, summary
    for stage, key in (
        ("uploaded", "track.uploaded"),
        ("analyzing", "track.uploaded"),
        ("mapped", "map.generated"),
    ):
        assert fs.tap.matching("re-announced", key, stuck[stage]), stage
    assert STUCK_AFTER_S < 60
