"""The original audio for the dashboard's player: a token is needed, byte ranges are honoured."""

from __future__ import annotations

import pytest

from tests.unit.gateway.conftest import seed_track

AUDIO = bytes(range(256)) * 40  # 10240 bytes, every offset recognisable


async def _track(env) -> str:
    tid = await seed_track(env.docs, objects=env.objects)
    track = await env.docs.tracks.get_track(tid)
    await env.objects.put_bytes(track.audio_key, AUDIO, content_type="audio/wav")
    return tid


async def test_the_whole_audio_with_its_media_type(env):
    tid = await _track(env)
    r = await env.client.get(f"/api/v1/tracks/{tid}/audio", headers=env.auth("viewer"))
    assert r.status_code == 200 and r.content == AUDIO
    assert r.headers["content-type"] == "audio/wav"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-length"] == str(len(AUDIO))


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=10000-", 10000, 10239),
        ("bytes=-40", 10200, 10239),
        ("bytes=5000-999999", 5000, 10239),
        ("bytes=4095-4097", 4095, 4097),
    ],
)
async def test_one_byte_range_is_a_206(env, header, first, last):
    tid = await _track(env)
    r = await env.client.get(
        f"/api/v1/tracks/{tid}/audio", headers={**env.auth("viewer"), "Range": header}
    )
    assert r.status_code == 206, r.text
    assert r.content == AUDIO[first : last + 1]
    assert r.headers["content-range"] == f"bytes {first}-{last}/{len(AUDIO)}"
    assert r.headers["content-length"] == str(last - first + 1)


async def test_a_range_beyond_the_file_is_416_and_others_get_the_whole_file(env):
    tid = await _track(env)
    url = f"/api/v1/tracks/{tid}/audio"
    r = await env.client.get(url, headers={**env.auth("viewer"), "Range": "bytes=20000-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(AUDIO)}"
    for header in ("bytes=0-1,5-9", "items=0-3", "bytes=x-y"):
        r = await env.client.get(url, headers={**env.auth("viewer"), "Range": header})
        assert r.status_code == 200 and r.content == AUDIO, header


async def test_audio_needs_a_token_and_a_known_track(env):
    tid = await _track(env)
    assert (await env.client.get(f"/api/v1/tracks/{tid}/audio")).status_code == 401
    r = await env.client.get("/api/v1/tracks/nope/audio", headers=env.auth("viewer"))
    assert r.status_code == 404
    await env.objects.delete((await env.docs.tracks.get_track(tid)).audio_key)
    r = await env.client.get(f"/api/v1/tracks/{tid}/audio", headers=env.auth("viewer"))
    assert r.status_code == 404
