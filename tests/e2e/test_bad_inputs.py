"""A corpus of bad inputs through the gateway, and garbage on every durable queue. Each gets a
clear error (status + machine code + human detail) or a track that ends ``failed`` with a
reason — and afterwards the system still serves: /health answers and a good song goes through.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import time

import aio_pika
import httpx
import numpy as np
import pytest
import soundfile as sf

from contracts.topology import ERROR_HEADER, SUBSCRIPTIONS
from infra.broker_topology import exchange
from tests.e2e.songs import click_song
from tests.e2e.waiting import wait_terminal

pytestmark = pytest.mark.e2e

SR = 22050


def _encode(x: np.ndarray, sr: int, fmt: str, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt, **({"subtype": subtype} if subtype else {}))
    return buf.getvalue()


def _tone(seconds: float, sr: int = SR, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + (np.arange(t.size) // (sr // 2)) % 2)
    return (
        np.repeat(x[:, None], channels, axis=1).astype(np.float32)
        if channels > 1
        else x.astype(np.float32)
    )


def _post(
    stack,
    body: bytes,
    *,
    filename: str | None = "x.wav",
    content_type: str = "audio/wav",
    role: str = "operator",
) -> httpx.Response:
    params = {"filename": filename} if filename is not None else {}
    return httpx.post(
        f"{stack.gateway_url}/api/v1/tracks",
        params=params,
        content=body,
        timeout=120,
        headers={"Authorization": f"Bearer {stack.token(role)}", "Content-Type": content_type},
    )


def _clear_error(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    assert set(body) >= {"error", "detail"} and body["detail"], body
    assert "Traceback" not in response.text
    for word in words:
        assert word.lower() in json.dumps(body).lower(), (word, body)


@pytest.fixture(scope="module", autouse=True)
def still_serving(e2e_stack, docs_reader):
    """After the whole corpus: health is fine and a good song still reaches ready."""
    yield
    stack, _ = e2e_stack
    assert httpx.get(f"{stack.gateway_url}/health", timeout=5).status_code == 200
    response = _post(stack, click_song(bpm=118, seed=4242), filename="good-after.wav")
    assert response.status_code == 201, response.text
    assert wait_terminal(docs_reader, response.json()["track_id"]).status == "ready"
    dead = {n: p.returncode for n, p in stack.procs.items() if p.poll() is not None}
    assert not dead, dead


# ------------------------------------------------------------------------- refused at the door

REFUSED = {
    "random bytes named .mp3": (os.urandom(64_000), "audio/mpeg", "noise.mp3", 415, "not WAV"),
    "zero bytes": (b"", "audio/wav", "empty.wav", 422, "empty"),
    "WAV header only": (_encode(_tone(10), SR, "WAV")[:200], "audio/wav", "h.wav", 422, "short"),
    "truncated FLAC": (
        (f := _encode(_tone(10), SR, "FLAC"))[: len(f) // 3],
        "audio/flac",
        "cut.flac",
        422,
        "cannot be decoded",
    ),
    "MP3 header only": (
        _encode(_tone(10), SR, "MP3")[:200],
        "audio/mpeg",
        "h.mp3",
        422,
        "cannot be decoded",
    ),
    "Inf samples from the start": (
        _encode(np.full(SR * 5, np.inf, np.float32), SR, "WAV", "FLOAT"),
        "audio/wav",
        "inf.wav",
        422,
        "infinite",
    ),
    "0.5 s clip": (_encode(_tone(0.5), SR, "WAV"), "audio/wav", "clip.wav", 422, "too short"),
    "text/plain": (b"hello", "text/plain", "hello.txt", 415, "text/plain"),
    "JSON declared": (b'{"a": 1}', "application/json", "a.json", 415, "not audio"),
    "multipart form": (
        b'--b\r\nContent-Disposition: form-data; name="f"\r\n\r\n'
        + b"A" * (8 * 1024 * 1024)
        + b"\r\n--b--\r\n",
        "multipart/form-data; boundary=b",
        "form.wav",
        415,
        "not audio",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_bad_upload_is_refused_with_a_clear_error(e2e_stack, case):
    stack, _ = e2e_stack
    body, content_type, filename, status, words = REFUSED[case]
    _clear_error(_post(stack, body, filename=filename, content_type=content_type), status, words)


def test_a_one_hour_file_is_refused_quickly_from_its_header(e2e_stack):
    stack, _ = e2e_stack
    hour = _encode(np.zeros(8000 * 3600, np.int16), 8000, "WAV", "PCM_16")  # 57.6 MB
    started = time.monotonic()
    response = _post(stack, hour, filename="silence-1h.wav")
    elapsed = time.monotonic() - started
    _clear_error(response, 422, "too long")
    assert elapsed < 15, f"refusing a 1-hour file took {elapsed:.1f} s"


def test_a_very_long_file_name_is_refused(e2e_stack):
    stack, _ = e2e_stack
    _clear_error(_post(stack, _encode(_tone(4), SR, "WAV"), filename="a" * 5000 + ".wav"), 400)


def test_huge_multipart_is_refused_before_it_is_read(e2e_stack):
    """A 300 MB multipart body is refused on its media type, without streaming it all."""
    stack, _ = e2e_stack

    def body():
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.wav"\r\n\r\n'
        for _ in range(300):
            yield b"\0" * (1024 * 1024)

    try:
        response = httpx.post(
            f"{stack.gateway_url}/api/v1/tracks",
            content=body(),
            timeout=60,
            headers={
                "Authorization": f"Bearer {stack.token('operator')}",
                "Content-Type": "multipart/form-data; boundary=b",
            },
        )
    except httpx.HTTPError:  # the server answered and closed before the body was all sent
        return
    _clear_error(response, 415, "not audio")


# -------------------------------------------------------------------- accepted, then judged


def test_path_traversal_in_the_file_name_is_neutralised(e2e_stack, docs_reader):
    stack, _ = e2e_stack
    response = _post(stack, _encode(_tone(4), SR, "WAV"), filename="../../../etc/passwd.wav")
    assert response.status_code == 201, response.text
    track = wait_terminal(docs_reader, response.json()["track_id"])
    assert track.filename == "passwd.wav" and ".." not in track.audio_key
    assert track.audio_key == f"audio/{track.audio_sha256}.wav"


def test_nan_in_the_middle_ends_failed_with_its_reason(e2e_stack, docs_reader):
    stack, _ = e2e_stack
    x = _tone(8)
    x[SR * 4] = np.nan
    response = _post(stack, _encode(x, SR, "WAV", "FLOAT"), filename="nan.wav")
    assert response.status_code == 201, response.text
    track = wait_terminal(docs_reader, response.json()["track_id"])
    assert track.status == "failed" and "NaN" in track.error_reason


@pytest.mark.parametrize(
    "name,body",
    [
        ("8 kHz mono", _encode(click_song(bpm=120, seconds=8) and _tone(8, 8000), 8000, "WAV")),
        ("96 kHz 6 channels", _encode(_tone(6, 96000, channels=6), 96000, "WAV", "PCM_16")),
        ("truncated WAV", (w := _encode(_tone(12), SR, "WAV"))[: len(w) // 2]),
        ("truncated MP3", (m := _encode(_tone(12), SR, "MP3"))[: len(m) // 2]),
    ],
)
def test_odd_but_real_audio_is_analysed_to_an_end(e2e_stack, docs_reader, name, body):
    stack, _ = e2e_stack
    ctype = "audio/mpeg" if "MP3" in name else "audio/wav"
    response = _post(stack, body, filename=f"{name}.bin", content_type=ctype)
    if response.status_code >= 400:  # refused is fine too, but clearly
        _clear_error(response, response.status_code)
        assert response.status_code in (413, 415, 422)
        return
    assert response.status_code == 201, response.text
    track = wait_terminal(docs_reader, response.json()["track_id"])
    assert track.status in ("ready", "warning") or track.error_reason, track


# -------------------------------------------------------------------------------- maps


def _map_post(stack, track_id: str, body: bytes, content_type: str = "application/json"):
    return httpx.post(
        f"{stack.gateway_url}/api/v1/tracks/{track_id}/genesis-map",
        content=body,
        timeout=60,
        headers={
            "Authorization": f"Bearer {stack.token('operator')}",
            "Content-Type": content_type,
        },
    )


@pytest.fixture(scope="module")
def finished_track(e2e_stack, docs_reader) -> str:
    stack, _ = e2e_stack
    response = _post(stack, click_song(bpm=101, seed=777), filename="for-maps.wav")
    track_id = response.json()["track_id"]
    wait_terminal(docs_reader, track_id)
    return track_id


@pytest.mark.parametrize(
    "body,ctype,status,words",
    [
        (b'{"metadata": ', "application/json", 400, "not valid JSON"),
        (b"\xff\xfe garbage", "application/json", 400, "not valid JSON"),
        (b"[]", "application/json", 422, "schema"),
        (b'{"metadata": {"version": 4}}', "application/json", 422, "schema"),
        (b'{"a": NaN}', "application/json", 422, ""),
        (b"{}", "text/plain", 415, "application/json"),
        (b'{"pad": "' + b"x" * (5 * 1024 * 1024) + b'"}', "application/json", 413, ""),
    ],
)
def test_malformed_and_oversized_maps_are_refused(
    e2e_stack, finished_track, body, ctype, status, words
):
    stack, _ = e2e_stack
    _clear_error(_map_post(stack, finished_track, body, ctype), status, words)


def test_deeply_nested_json_map_is_refused_not_crashed(e2e_stack, finished_track):
    stack, _ = e2e_stack
    response = _map_post(stack, finished_track, b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code in (400, 422), response.text[:300]


# -------------------------------------------------------------------- garbage on every queue


async def _poison_every_queue(url: str, queues: list[str]) -> dict[str, dict]:
    connection = await aio_pika.connect_robust(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        events = await channel.get_exchange(exchange().name)
        key_of = {s.queue: s.routing_key for s in SUBSCRIPTIONS}
        for queue in queues:
            await events.publish(
                aio_pika.Message(b'{"not": "this schema", \x00', message_id=f"garbage-{queue}"),
                routing_key=key_of[queue],
            )
        # several queues may share one DLQ (the telemetry partitions do), so every dead letter
        # read is matched to its queue by its message id, whichever DLQ it came from
        dlq_of = {s.queue: s.dead_letter_queue for s in SUBSCRIPTIONS}
        found: dict[str, dict] = {}
        deadline = time.monotonic() + 30
        while len(found) < len(queues) and time.monotonic() < deadline:
            for name in sorted({dlq_of[q] for q in queues if q not in found}):
                dlq = await channel.get_queue(name, ensure=False)
                msg = await dlq.get(no_ack=False, fail=False)
                while msg is not None:
                    await msg.ack()
                    source = (msg.message_id or "").removeprefix("garbage-")
                    if source in queues:
                        found[source] = dict(msg.headers or {})
                    msg = await dlq.get(no_ack=False, fail=False)
            await asyncio.sleep(0.3)
        return found
    finally:
        await connection.close()


def test_garbage_on_every_durable_queue_is_dead_lettered_with_its_reason(e2e_stack):
    stack, _ = e2e_stack
    queues = _consumed_durable_queues(stack)
    assert "analyzer.track.uploaded" in queues and "validator.map.generated" in queues
    found = asyncio.run(_poison_every_queue(stack.amqp_url, queues))
    assert set(found) == set(queues), f"not dead-lettered: {set(queues) - set(found)}"
    for queue, headers in found.items():
        error = headers[ERROR_HEADER]
        error = error.decode() if isinstance(error, bytes) else str(error)
        assert error.startswith("schema:"), (queue, error)


def _consumed_durable_queues(stack, timeout_s: float = 60) -> list[str]:
    """Every durable queue whose service runs in the stack, once each has its consumer (a
    worker reports ready a moment before its consumers are attached)."""
    running = {"genesis" if n == "analyzer" else n for n in stack.procs} | set(stack.procs)
    expected = [s.queue for s in SUBSCRIPTIONS if s.service in running]
    deadline = time.monotonic() + timeout_s
    while not set(expected) <= _queues_with_consumers(stack):
        assert time.monotonic() < deadline, set(expected) - _queues_with_consumers(stack)
        time.sleep(0.5)
    return expected


def _list_queues(stack, column: str) -> dict[str, int]:
    """``{queue: column}`` for every queue of the stack's vhost (empty when rabbitmqctl fails,
    so a polling caller simply asks again)."""
    import subprocess
    from urllib.parse import unquote, urlsplit

    vhost = unquote(urlsplit(stack.amqp_url).path.lstrip("/")) or "/"
    out = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", column, "--formatter", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return {row["name"]: row[column] for row in json.loads(out.stdout or "[]")}


def _queues_with_consumers(stack) -> set[str]:
    return {name for name, consumers in _list_queues(stack, "consumers").items() if consumers > 0}


FLOOD = 500


async def _publish_flood(url: str, routing_key: str) -> None:
    connection = await aio_pika.connect_robust(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        events = await channel.get_exchange(exchange().name)
        await asyncio.gather(
            *(
                events.publish(
                    aio_pika.Message(
                        json.dumps({"event_id": f"flood-{i}", "track_id": "x" * 500}).encode()
                    ),
                    routing_key=routing_key,
                )
                for i in range(FLOOD)
            )
        )
    finally:
        await connection.close()


def _messages(stack, queue: str) -> int:
    return _list_queues(stack, "messages").get(queue, 0)


def test_a_flood_of_invalid_messages_is_drained_to_the_dlq(e2e_stack, docs_reader):
    """500 invalid events at once on the analyzer's queue: all dead-lettered, none retried,
    and a good song uploaded right after still goes through (the module's last check)."""
    stack, _ = e2e_stack
    assert "analyzer.track.uploaded" in _consumed_durable_queues(stack)
    before = _messages(stack, "analyzer.track.uploaded.dlq")
    asyncio.run(_publish_flood(stack.amqp_url, "track.uploaded"))
    # Queue lengths reported by rabbitmqctl are per-queue snapshots that do not move in
    # lock-step (the DLQ can show all 500 while the source still reports some), so wait for
    # both ends to settle rather than reading the source once.
    deadline = time.monotonic() + 90
    while (
        _messages(stack, "analyzer.track.uploaded.dlq") < before + FLOOD
        or _messages(stack, "analyzer.track.uploaded") != 0
    ):
        assert time.monotonic() < deadline, (
            "the flood was not drained to the DLQ in 90 s: "
            f"dlq={_messages(stack, 'analyzer.track.uploaded.dlq') - before}/{FLOOD}, "
            f"left={_messages(stack, 'analyzer.track.uploaded')}"
        )
        time.sleep(0.5)
    assert "analyzer.track.uploaded" in _queues_with_consumers(stack)
