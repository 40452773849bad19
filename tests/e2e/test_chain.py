"""The event chain end to end: ingest → analyzer → genesis → validator, each its own process,
over real RabbitMQ, nx-27017 and S3 (moto)."""

from __future__ import annotations

import os

import httpx
import pytest

from infra.objectstore_s3 import S3ObjectStore
from services.validator.domain.rules import validate_map
from tests.e2e.songs import click_song, nan_in_the_middle
from tests.e2e.waiting import wait_terminal

pytestmark = pytest.mark.e2e


def _post(stack, data: bytes, *, filename: str, content_type: str = "audio/wav"):
    return httpx.post(
        f"{stack.ingest_url}/uploads",
        params={"filename": filename},
        content=data,
        timeout=60,
        headers={
            "Authorization": f"Bearer {stack.token('operator')}",
            "Content-Type": content_type,
        },
    )


def _object_store(stack):
    env = stack.extra_env
    return S3ObjectStore.create(
        endpoint=env["K1_S3_ENDPOINT"],
        access_key=env["K1_S3_ACCESS_KEY"],
        secret_key=env["K1_S3_SECRET_KEY"],
        bucket=env["K1_S3_BUCKET"],
        secure=False,
        region=env["K1_S3_REGION"],
    )


def test_songs_reach_ready_with_a_validated_map(e2e_stack, docs_reader):
    stack, _ = e2e_stack
    docs, run = docs_reader
    uploads = {
        bpm: _post(stack, click_song(bpm=bpm, seed=bpm), filename=f"song{bpm}.wav")
        for bpm in (96, 120, 140)
    }
    for bpm, response in uploads.items():
        assert response.status_code == 201, response.text
        track = wait_terminal(docs_reader, response.json()["track_id"])
        assert track.status == "ready", track.error_reason
        record = run(docs.analyses.get(track.track_id, 1))
        assert record.outcome == "ready" and record.bpm == pytest.approx(bpm, rel=0.04)
        raw = run(_object_store(stack).get_bytes(record.map_key))
        report = validate_map(raw, expected_audio_sha256=track.audio_sha256)
        assert report.ok, report.issues
        assert run(_object_store(stack).stat(record.plot_key)).size_bytes > 10_000


def test_the_same_audio_twice_is_one_track(e2e_stack):
    stack, _ = e2e_stack
    song = click_song(bpm=100, seed=7)
    first = _post(stack, song, filename="a.wav")
    again = _post(stack, song, filename="copy of a.wav")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["track_id"] == first.json()["track_id"]


def test_corrupt_audio_ends_failed_with_its_reason(e2e_stack, docs_reader):
    stack, _ = e2e_stack
    response = _post(stack, nan_in_the_middle(), filename="broken.wav")
    assert response.status_code == 201, response.text
    track = wait_terminal(docs_reader, response.json()["track_id"])
    assert track.status == "failed"
    assert track.error_code == "non_finite" and "NaN" in track.error_reason


@pytest.mark.parametrize(
    "body,content_type,status,words",
    [
        (os.urandom(40_000), "audio/mpeg", 415, "not WAV"),
        (b"", "audio/wav", 422, "empty"),
        (click_song(bpm=120)[:2000], "audio/wav", 422, "too short"),
        (b"hello", "text/plain", 415, "text/plain"),
    ],
)
def test_bad_uploads_are_refused_at_the_door(e2e_stack, body, content_type, status, words):
    stack, _ = e2e_stack
    response = _post(stack, body, filename="bad.mp3", content_type=content_type)
    assert response.status_code == status, response.text
    assert words.lower() in response.json()["detail"].lower()


def test_presigned_upload_then_complete(e2e_stack, docs_reader):
    stack, _ = e2e_stack
    auth = {"Authorization": f"Bearer {stack.token('operator')}"}
    grant = httpx.post(
        f"{stack.ingest_url}/uploads/presigned",
        json={"filename": "big.wav"},
        headers=auth,
        timeout=10,
    ).json()
    put = httpx.put(grant["upload_url"], content=click_song(bpm=110, seed=11), timeout=30)
    assert put.status_code == 200, put.text
    done = httpx.post(
        f"{stack.ingest_url}/uploads/{grant['upload_id']}/complete",
        json={"filename": "big.wav"},
        headers=auth,
        timeout=60,
    )
    assert done.status_code == 201, done.text
    assert wait_terminal(docs_reader, done.json()["track_id"]).status == "ready"


def test_two_analyzers_share_a_batch(e2e_stack, docs_reader):
    stack, tap = e2e_stack
    stack.start_service("analyzer", label="analyzer-2")
    stack.wait_ready(timeout_s=60, names=("analyzer-2",))
    ids = [
        _post(stack, click_song(bpm=90 + 7 * i, seed=100 + i), filename=f"b{i}.wav").json()[
            "track_id"
        ]
        for i in range(8)
    ]
    assert all(wait_terminal(docs_reader, i).status == "ready" for i in ids)
    workers = {
        line.split("]")[0].strip("[ ")
        for i in ids
        for line in tap.matching(i, "queue=analyzer.track.uploaded", "handled")
    }
    assert workers == {"analyzer", "analyzer-2"}, workers


def test_ingest_reports_readiness_of_its_dependencies(e2e_stack):
    stack, _ = e2e_stack
    ready = httpx.get(f"{stack.ingest_url}/ready", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"rabbitmq": "ok", "mongodb": "ok", "objects": "ok"}
