"""Uploads and stored objects against the running stack (issue 12, items 3, 6, 7 and 9):

* stalled uploads — more than the gateway's pool to ingest — cannot deny service: beyond a cap
  per client address and per token subject they get 429 with ``Retry-After``, a normal upload
  still succeeds while they hang, they are cut after the idle timeout (408), and their spool
  files are gone, as are those of a client that walks away mid-upload;
* no error body of the bad-input corpus names a file-system path;
* a presigned upload URL works once, refuses a PUT after ``complete`` or after it expired, and
  an abandoned ``incoming/`` object is swept after its expiry;
* Unicode file names survive (NFC, control and path characters removed).

The stack runs with short upload limits so each scenario ends in seconds.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from infra.auth import issue_token
from infra.docstore import MongoDocStore
from infra.objectstore_s3 import S3ObjectStore
from k1.stack import Stack
from tests.e2e.conftest import LogTap, s3_env, start_stack
from tests.e2e.songs import click_song
from tests.e2e.test_bad_inputs import REFUSED, SR, _encode, _tone
from tests.e2e.waiting import until, wait_terminal

pytestmark = pytest.mark.e2e

IDLE_TIMEOUT_S = 10
PER_CLIENT = PER_SUBJECT = 4
URL_TTL_S = 8
STALLED = 150
"""More stalled uploads than the gateway's 100 connections to ingest."""


@dataclass
class Guarded:
    stack: Stack
    tap: LogTap
    spool: Path
    bucket: str
    moto: object
    run: object = None
    docs: object = None
    seen: list[httpx.Response] = field(default_factory=list)

    def token(self, subject: str, role: str = "operator") -> str:
        return issue_token(self.stack.jwt_secret, subject=subject, role=role, ttl_s=3600)

    def call(self, method: str, path: str, *, subject: str = "k1-stack", **kw) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(subject)}", **kw.pop("headers", {})}
        response = httpx.request(
            method, self.stack.gateway_url + path, headers=headers, timeout=60, **kw
        )
        self.seen.append(response)
        return response

    def spooled(self) -> list[Path]:
        return list(self.spool.iterdir()) if self.spool.exists() else []

    def object_exists(self, key: str) -> bool:
        async def check() -> bool:
            store = S3ObjectStore.create(
                endpoint=self.moto.endpoint,
                access_key=self.moto.access_key,
                secret_key=self.moto.secret_key,
                bucket=self.bucket,
                region=self.moto.region,
            )
            try:
                return await store.exists(key)
            finally:
                await store.close()

        return self.run(check())


@pytest.fixture(scope="module")
def guarded(tmp_path_factory, stack_vhost, moto_s3) -> Iterator[Guarded]:
    tap, var = LogTap(), tmp_path_factory.mktemp("uploads")
    bucket = f"up-{uuid.uuid4().hex[:8]}"
    spool = var / "spool"
    stack = Stack(
        var_dir=var,
        amqp_url=stack_vhost,
        database=f"up_{uuid.uuid4().hex[:8]}",
        log=tap,
        extra_env={
            **s3_env(moto_s3, bucket=bucket),
            "K1_RETRY_BACKOFF_S": "0.1",
            "K1_UPLOAD_IDLE_TIMEOUT_S": str(IDLE_TIMEOUT_S),
            "K1_UPLOAD_RATE_GRACE_S": str(IDLE_TIMEOUT_S),
            "K1_UPLOAD_MAX_PER_CLIENT": str(PER_CLIENT),
            "K1_UPLOAD_MAX_PER_SUBJECT": str(PER_SUBJECT),
            "K1_UPLOAD_URL_TTL_S": str(URL_TTL_S),
            "K1_UPLOAD_SWEEP_INTERVAL_S": "0.5",
            "K1_UPLOAD_SPOOL_DIR": str(spool),
        },
    )
    start_stack(stack, tap)
    loop = asyncio.new_event_loop()
    docs = MongoDocStore.from_url(stack.mongodb_url, stack.database)
    yield Guarded(stack, tap, spool, bucket, moto_s3, run=loop.run_until_complete, docs=docs)
    loop.run_until_complete(docs.close())
    loop.close()
    stack.stop()


def _terminal(g: Guarded, track_id: str):
    return wait_terminal((g.docs, g.run), track_id)


# ------------------------------------------------------------------ 3. stalled uploads


@dataclass
class Raw:
    """One upload over a raw socket that sends headers, 100 KB, then nothing."""

    writer: asyncio.StreamWriter
    answer: asyncio.Task
    answered_at: float | None = None


async def _response_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}


async def _stall(port: int, *, source_ip: str, token: str, body_bytes: int = 100_000) -> Raw:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source_ip, 0))
    writer.write(
        (
            f"POST /api/v1/tracks?filename=stall.wav HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: audio/wav\r\n"
            f"Content-Length: 100000000\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    raw = Raw(writer, asyncio.ensure_future(_response_head(reader)))
    raw.answer.add_done_callback(lambda _: setattr(raw, "answered_at", time.monotonic()))
    await asyncio.wait({raw.answer}, timeout=1.0)
    if not raw.answer.done():  # admitted: it is waiting for the body
        writer.write(b"RIFF" + b"\0" * (body_bytes - 4))
        await writer.drain()
    return raw


async def _flood(g: Guarded) -> list[Raw]:
    """Half from one address with a token each (the client cap bites), half from 15
    addresses with one token (the subject cap bites)."""
    port = g.stack.ports["gateway"]
    one_client = [("127.0.0.2", g.token(f"attacker-{i}")) for i in range(STALLED // 2)]
    shared = g.token("attacker")
    one_subject = [(f"127.0.0.{3 + i % 15}", shared) for i in range(STALLED - len(one_client))]
    return list(
        await asyncio.gather(
            *(_stall(port, source_ip=ip, token=t) for ip, t in one_client + one_subject)
        )
    )


def _upload(g: Guarded, body: bytes, *, filename: str, subject: str = "k1-stack") -> httpx.Response:
    return g.call(
        "POST",
        "/api/v1/tracks",
        subject=subject,
        params={"filename": filename},
        content=body,
        headers={"Content-Type": "audio/wav"},
    )


def test_stalled_uploads_beyond_the_pool_do_not_deny_service(guarded):
    g = guarded
    assert g.spooled() == []

    async def scenario():
        raws = await _flood(g)
        refused = [r for r in raws if r.answer.done()]
        assert all(r.answer.result()[0] == 429 for r in refused), {
            r.answer.result()[0] for r in refused
        }
        assert {r.answer.result()[1].get("retry-after") for r in refused} == {str(IDLE_TIMEOUT_S)}
        hanging = [r for r in raws if not r.answer.done()]
        assert len(refused) == STALLED - PER_CLIENT - PER_SUBJECT, len(refused)
        assert len(hanging) == PER_CLIENT + PER_SUBJECT
        assert g.spooled(), "the admitted stalled uploads should be spooling at ingest"

        normal = await asyncio.to_thread(
            _upload, g, click_song(bpm=121, seed=31), filename="normal.wav"
        )
        assert normal.status_code == 201, normal.text
        assert not any(r.answer.done() for r in hanging), "stalled uploads ended too early"

        await asyncio.wait_for(
            asyncio.gather(*(r.answer for r in hanging)), timeout=IDLE_TIMEOUT_S + 20
        )
        assert {r.answer.result()[0] for r in hanging} == {408}
        for r in raws:
            r.writer.close()
        return normal.json()["track_id"]

    track_id = asyncio.run(scenario())
    until(
        lambda: not g.spooled(),
        timeout_s=15,
        what="the spool files of the cut uploads to be removed",
    )
    assert _terminal(g, track_id).status == "ready"
    after = _upload(g, click_song(bpm=123, seed=32), filename="after.wav", subject="attacker")
    assert after.status_code == 201, after.text  # the cut uploads gave their slots back


def test_an_upload_abandoned_mid_body_leaves_no_spool_file(guarded):
    g = guarded

    async def walk_away():
        raw = await _stall(
            g.stack.ports["gateway"],
            source_ip="127.0.0.20",
            token=g.token("quitter"),
            body_bytes=300_000,
        )
        deadline = time.monotonic() + 10
        while not g.spooled() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert g.spooled(), "the upload never reached ingest's spool"
        raw.writer.transport.abort()

    asyncio.run(walk_away())
    until(
        lambda: not g.spooled(),
        timeout_s=IDLE_TIMEOUT_S - 2,
        every_s=0.1,
        what="the spool file of an abandoned upload to be removed",
    )


# ------------------------------------------------------------------ 6. no paths in errors

PATHLIKE = re.compile(
    r"/tmp\b|/var/|/work\b|/home/|/root/|/usr/|/proc/|\.spool|"
    r"k1-upload-|k1-analyse-|[A-Za-z]:\\|\\\\"
)


def _odd_audio() -> dict[str, tuple[bytes, str]]:
    ogg = _encode(_tone(10), SR, "OGG")
    wav = _encode(_tone(12), SR, "WAV")
    mp3 = _encode(_tone(12), SR, "MP3")
    flac = _encode(_tone(10), SR, "FLAC")
    return {
        "truncated OGG": (ogg[:200], "audio/ogg"),
        "OGG cut in half": (ogg[: len(ogg) // 2], "audio/ogg"),
        "OGG magic then zeros": (b"OggS" + bytes(4000), "audio/ogg"),
        "truncated WAV": (wav[: len(wav) // 2], "audio/wav"),
        "truncated MP3": (mp3[: len(mp3) // 2], "audio/mpeg"),
        "FLAC cut to a third": (flac[: len(flac) // 3], "audio/flac"),
        "NaN float WAV": (
            _encode(np.full(SR * 5, np.nan, np.float32), SR, "WAV", "FLOAT"),
            "audio/wav",
        ),
    }


def test_no_error_body_of_the_bad_input_corpus_names_a_file_system_path(guarded):
    g = guarded
    bodies: dict[str, str] = {}
    cases = {name: (body, ctype, filename) for name, (body, ctype, filename, *_) in REFUSED.items()}
    cases.update(
        {name: (body, ctype, f"{name}.bin") for name, (body, ctype) in _odd_audio().items()}
    )
    cases["a very long name"] = (_encode(_tone(4), SR, "WAV"), "audio/wav", "a" * 5000)
    for name, (body, ctype, filename) in cases.items():
        response = g.call(
            "POST",
            "/api/v1/tracks",
            params={"filename": filename},
            content=body,
            headers={"Content-Type": ctype},
        )
        if response.status_code >= 400:
            bodies[name] = response.text
            continue
        track = _terminal(g, response.json()["track_id"])
        shown = g.call("GET", f"/api/v1/tracks/{track.track_id}")
        if track.status == "failed":
            bodies[f"{name} (track)"] = shown.text
    assert "truncated OGG" in bodies and "cannot be decoded" in bodies["truncated OGG"]
    assert len(bodies) >= len(REFUSED)
    roots = {str(g.stack.var_dir), tempfile.gettempdir() + "/", str(Path.cwd())}
    for name, text in bodies.items():
        assert not PATHLIKE.search(text), (name, text)
        assert not any(root in text for root in roots), (name, text)


# ------------------------------------------------------------------ 7. presigned URLs


def _presign(g: Guarded, filename: str = "big.wav") -> dict:
    grant = g.call("POST", "/api/v1/tracks/presigned", json={"filename": filename})
    assert grant.status_code == 201, grant.text
    return grant.json()


def _complete(g: Guarded, upload_id: str, filename: str = "big.wav") -> httpx.Response:
    return g.call(
        "POST", f"/api/v1/tracks/uploads/{upload_id}/complete", json={"filename": filename}
    )


def test_a_presigned_upload_url_works_once(guarded):
    g = guarded
    grant = _presign(g)
    song = click_song(bpm=104, seed=51)
    first = httpx.put(grant["upload_url"], content=song, timeout=30)
    assert first.status_code == 200, first.text
    again = httpx.put(grant["upload_url"], content=b"RIFF-overwrite", timeout=30)
    assert again.status_code == 409, again.text
    done = _complete(g, grant["upload_id"])
    assert done.status_code == 201, done.text
    after = httpx.put(grant["upload_url"], content=click_song(bpm=99, seed=52), timeout=30)
    assert after.status_code == 409 and after.json()["error"] == "already_completed", after.text
    assert _complete(g, grant["upload_id"]).status_code == 409
    assert not g.object_exists(f"incoming/{grant['upload_id']}")
    assert _terminal(g, done.json()["track_id"]).status == "ready"


def test_an_expired_presigned_upload_is_refused_and_its_object_swept(guarded):
    g = guarded
    abandoned, unused = _presign(g), _presign(g)
    put = httpx.put(abandoned["upload_url"], content=click_song(bpm=97, seed=53), timeout=30)
    assert put.status_code == 200, put.text
    key = f"incoming/{abandoned['upload_id']}"
    assert g.object_exists(key)
    until(
        lambda: not g.object_exists(key),
        timeout_s=URL_TTL_S + 15,
        every_s=0.5,
        what="the abandoned upload to be swept",
    )
    # expiry is whole seconds, so the second grant may outlive the first by up to a second
    unused_expiry_s = datetime.fromisoformat(unused["expires_at"]).timestamp()
    time.sleep(max(0.0, unused_expiry_s - time.time() + 0.2))
    late = httpx.put(unused["upload_url"], content=click_song(bpm=98, seed=54), timeout=30)
    assert late.status_code == 410, late.text
    assert _complete(g, abandoned["upload_id"]).status_code == 410
    assert not g.object_exists(f"incoming/{unused['upload_id']}")


# ------------------------------------------------------------------ 9. Unicode file names


@pytest.mark.parametrize(
    "seed,sent,kept",
    [
        (61, "ñandú—song 🎵.wav", "ñandú—song 🎵.wav"),
        (62, unicodedata.normalize("NFD", "Beyoncé – Halo.wav"), "Beyoncé – Halo.wav"),
        (63, "../x/ev\u202eil\x07 日本語.wav", "evil 日本語.wav"),
    ],
)
def test_unicode_file_names_are_kept(guarded, seed, sent, kept):
    g = guarded
    response = _upload(g, click_song(bpm=111, seed=seed), filename=sent)
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == kept
    track_id = response.json()["track_id"]
    assert g.call("GET", f"/api/v1/tracks/{track_id}").json()["filename"] == kept
    listed = g.call("GET", "/api/v1/tracks", params={"limit": 100}).json()
    assert kept in {t["filename"] for t in listed["items"]}


def test_a_unicode_name_survives_a_presigned_upload(guarded):
    g = guarded
    grant = _presign(g, "ñandú—song 🎵.wav")
    assert (
        httpx.put(grant["upload_url"], content=click_song(bpm=113, seed=71), timeout=30).status_code
        == 200
    )
    done = _complete(g, grant["upload_id"], "ñandú—song 🎵.wav")
    assert done.status_code == 201 and done.json()["filename"] == "ñandú—song 🎵.wav", done.text
