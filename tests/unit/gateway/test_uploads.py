"""Uploads go through the gateway to ingest as a stream; ingest's answers come back intact."""

from __future__ import annotations

import pytest

from infra.uploads import limited
from infra.web import ApiError
from tests.unit.gateway.conftest import LIMIT

WAV = b"RIFF\x00\x00\x00\x00WAVE" + bytes(range(256)) * 40


async def _chunks(data: bytes, size: int = 1000):
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def _drain(source) -> bytes:
    return b"".join([chunk async for chunk in source])


async def test_upload_streams_to_ingest_and_returns_the_new_track(env):
    r = await env.client.post(
        "/api/v1/tracks?filename=song.wav&preset=chill",
        content=WAV,
        headers={**env.auth("operator"), "Content-Type": "audio/wav"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["duplicate"] is False and body["size_bytes"] == len(WAV)
    assert body["task_id"] == f"{body['track_id']}.v1"
    sent = env.ingest.received[-1]
    assert sent["body"] == WAV
    assert sent["streamed"], "the gateway buffered the body instead of streaming it"
    assert sent["headers"]["content-length"] == str(len(WAV))
    assert sent["params"] == {"filename": "song.wav", "preset": "chill"}
    assert sent["headers"]["authorization"].startswith("Bearer ")


async def test_same_audio_twice_is_one_track_200(env):
    first = await env.client.post(
        "/api/v1/tracks", content=WAV, headers={**env.auth("operator"), "Content-Type": "audio/wav"}
    )
    again = await env.client.post(
        "/api/v1/tracks", content=WAV, headers={**env.auth("operator"), "Content-Type": "audio/wav"}
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["duplicate"] is True
    assert again.json()["track_id"] == first.json()["track_id"]


async def test_declared_length_over_the_limit_is_413_before_forwarding(env):
    r = await env.client.post(
        "/api/v1/tracks",
        content=b"RIFF" + bytes(LIMIT),
        headers={**env.auth("operator"), "Content-Type": "audio/wav"},
    )
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert env.ingest.received == []


async def test_streamed_body_over_the_limit_stops_with_413():
    """Without a Content-Length the stream itself is cut at the limit."""
    assert await _drain(limited(_chunks(bytes(LIMIT)), LIMIT)) == bytes(LIMIT)
    with pytest.raises(ApiError) as err:
        await _drain(limited(_chunks(bytes(LIMIT + 1)), LIMIT))
    assert err.value.status == 413 and err.value.code == "too_large"


async def test_non_audio_media_type_is_415(env):
    for ctype in ("text/plain", "application/json", "image/png"):
        r = await env.client.post(
            "/api/v1/tracks",
            content=b"hello",
            headers={**env.auth("operator"), "Content-Type": ctype},
        )
        assert r.status_code == 415, ctype
        assert r.json()["error"] == "unsupported_media_type"
    assert env.ingest.received == []


async def test_undecodable_and_empty_uploads_are_422_naming_the_problem(env):
    r = await env.client.post(
        "/api/v1/tracks",
        content=b"random bytes named mp3",
        headers={**env.auth("operator"), "Content-Type": "audio/mpeg"},
    )
    assert r.status_code == 422 and r.json() == {
        "type": "urn:k1:problem:undecodable",
        "title": "Undecodable",
        "status": 422,
        "detail": "not decodable: no audio frames",
        "instance": "/api/v1/tracks",
        "error": "undecodable",
    }
    assert r.headers["content-type"] == "application/problem+json"
    empty = await env.client.post(
        "/api/v1/tracks",
        content=b"",
        headers={**env.auth("operator"), "Content-Type": "application/octet-stream"},
    )
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]


async def test_unknown_preset_is_422_naming_the_choices(env):
    r = await env.client.post(
        "/api/v1/tracks?preset=disco",
        content=WAV,
        headers={**env.auth("operator"), "Content-Type": "audio/wav"},
    )
    assert r.status_code == 422 and "edm_high_energy" in r.json()["detail"]


async def test_bad_query_and_header_values_are_400(env):
    long_name = "x" * 300
    r = await env.client.post(
        f"/api/v1/tracks?filename={long_name}",
        content=WAV,
        headers={**env.auth("operator"), "Content-Type": "audio/wav"},
    )
    assert r.status_code == 400


async def test_ingest_down_is_503_without_details(env):
    env.ingest.down = True
    r = await env.client.post(
        "/api/v1/tracks", content=WAV, headers={**env.auth("operator"), "Content-Type": "audio/wav"}
    )
    assert r.status_code == 503 and r.json()["error"] == "ingest_unavailable"


async def test_viewer_may_not_upload(env):
    r = await env.client.post(
        "/api/v1/tracks", content=WAV, headers={**env.auth("viewer"), "Content-Type": "audio/wav"}
    )
    assert r.status_code == 403 and env.ingest.received == []


async def test_presigned_upload_then_complete(env):
    r = await env.client.post(
        "/api/v1/tracks/presigned", json={"filename": "big.wav"}, headers=env.auth("operator")
    )
    assert r.status_code == 201, r.text
    upload_id = r.json()["upload_id"]
    assert r.json()["upload_url"].startswith("http")
    done = await env.client.post(
        f"/api/v1/tracks/uploads/{upload_id}/complete",
        json={"filename": "big.wav"},
        headers=env.auth("operator"),
    )
    assert done.status_code == 201, done.text
    assert done.json()["task_id"].endswith(".v1")


async def test_complete_of_an_impossible_upload_id_is_404(env):
    r = await env.client.post(
        "/api/v1/tracks/uploads/XYZ/complete", json={}, headers=env.auth("operator")
    )
    assert r.status_code == 404 and env.ingest.received == []


async def test_presign_with_bad_json_is_400(env):
    r = await env.client.post(
        "/api/v1/tracks/presigned",
        content=b"{not json",
        headers={**env.auth("operator"), "Content-Type": "application/json"},
    )
    assert r.status_code == 400
