"""The gateway over fakes: FakeDocStore, FakeObjectStore, RecordingPublisher and a fake ingest
(an httpx MockTransport that streams the body, like the real one, and answers as ingest does).

Every response any test gets is checked at teardown: never a 500, never a stack trace, never
the JWT secret.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

import httpx
import pytest
from litestar.testing import AsyncTestClient

from contracts.canonical import compute_map_sha256
from infra.auth import issue_token, verify_token
from infra.docstore import NewTrack
from infra.docstore_devices_fake import FakeBundleRepo
from infra.docstore_fake import FakeDocStore
from infra.objectstore_fake import FakeObjectStore
from infra.problems import PROBLEM_MEDIA_TYPE, problem
from infra.publishing import RecordingPublisher
from services.gateway.app import create_app
from services.gateway.ports import GatewayConfig, GatewayPorts, ingest_client

SECRET = "unit-test-secret-0123456789abcdef-xyz"
LIMIT = 64 * 1024


@dataclass
class FakeIngest:
    """Answers like services.ingest: WAV-looking bodies are accepted, others refused."""

    docs: FakeDocStore
    received: list[dict] = field(default_factory=list)
    down: bool = False

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("refused")
        try:
            verify_token(SECRET, request.headers.get("authorization", "").partition(" ")[2])
        except Exception:
            return _problem(401, "unauthorized", "invalid token")
        streamed = not isinstance(request.stream, httpx.ByteStream)
        body = b"".join([chunk async for chunk in request.stream])
        self.received.append(
            {
                "path": request.url.path,
                "params": dict(request.url.params),
                "headers": dict(request.headers),
                "streamed": streamed,
                "body": body,
            }
        )
        if request.url.path == "/uploads/presigned":
            return httpx.Response(
                201,
                json={
                    "upload_id": "a" * 32,
                    "upload_url": "http://x/objects/incoming/aa",
                    "expires_at": "2030-01-01T00:00:00Z",
                },
            )
        if request.url.path.endswith("/complete"):
            body = b"RIFF....WAVEpresigned"
        if not body:
            return _problem(422, "empty", "the upload is empty")
        if not body.startswith(b"RIFF"):
            return _problem(422, "undecodable", "not decodable: no audio frames")
        return await self._accept(body, request.url.params.get("filename") or "upload")

    async def _accept(self, body: bytes, filename: str) -> httpx.Response:
        sha = hashlib.sha256(body).hexdigest()
        result = await self.docs.tracks.create_track(
            NewTrack(
                track_id=sha[:32],
                audio_sha256=sha,
                audio_key=f"audio/{sha}.wav",
                filename=filename,
                content_type="audio/wav",
                size_bytes=len(body),
                preset="edm_high_energy",
                duration_ms=1000.0,
            )
        )
        if result.created:
            await self.docs.analyses.add(result.track.track_id, 1, preset="edm_high_energy")
        t = result.track
        return httpx.Response(
            201 if result.created else 200,
            json={
                "track_id": t.track_id,
                "status": t.status,
                "duplicate": result.duplicate,
                "audio_sha256": t.audio_sha256,
                "filename": t.filename,
                "size_bytes": t.size_bytes,
                "duration_ms": t.duration_ms,
            },
        )


def _problem(status: int, code: str, detail: str) -> httpx.Response:
    return httpx.Response(
        status,
        json=problem(status, code, detail, instance="/uploads"),
        headers={"content-type": PROBLEM_MEDIA_TYPE},
    )


class StreamingTransport(httpx.AsyncBaseTransport):
    """Like httpx.MockTransport, but hands the handler the request stream unread."""

    def __init__(self, handler) -> None:
        self.handler = handler

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.handler(request)


@dataclass
class Env:
    client: AsyncTestClient
    docs: FakeDocStore
    objects: FakeObjectStore
    publisher: RecordingPublisher
    ingest: FakeIngest
    app: object
    checks: dict
    bundles: FakeBundleRepo

    def auth(self, role: str = "admin", **kw) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(role, **kw)}"}


def token(
    role: str = "admin", *, ttl_s: int = 600, secret: str = SECRET, now: float | None = None
) -> str:
    return issue_token(secret, subject="tester", role=role, ttl_s=ttl_s, now=now)


@pytest.fixture
async def env():
    docs, objects, publisher = FakeDocStore(), FakeObjectStore(), RecordingPublisher()
    ingest = FakeIngest(docs)
    checks: dict = {"rabbitmq": _ok, "mongodb": docs.ping, "objects": _ok}
    bundles = FakeBundleRepo()
    ports = GatewayPorts(
        docs=docs,
        objects=objects,
        publisher=publisher,
        ingest=ingest_client("http://ingest", transport=StreamingTransport(ingest)),
        checks=checks,
        bundles=bundles,
    )
    cfg = GatewayConfig(
        jwt_secret=SECRET,
        max_upload_bytes=LIMIT,
        read_cache_ttl_s=0.0,
        cors_origins=("http://dash.example",),
    )
    app = create_app(ports=ports, cfg=cfg)
    seen: list[httpx.Response] = []

    async def record(response: httpx.Response) -> None:
        await response.aread()
        seen.append(response)

    async with AsyncTestClient(app) as client:
        client.event_hooks["response"].append(record)
        yield Env(client, docs, objects, publisher, ingest, app, checks, bundles)
    for response in seen:
        assert response.status_code != 500, response.text
        text = response.text
        assert "Traceback" not in text and SECRET not in text, text


async def _ok() -> None:
    return None


async def seed_track(
    docs: FakeDocStore,
    *,
    n: int = 1,
    status: str = "ready",
    with_map: bool = True,
    objects: FakeObjectStore | None = None,
    map_bytes: bytes | None = None,
) -> str:
    """A track that went through the chain to ``status`` (version 1)."""
    sha = hashlib.sha256(f"track{n}".encode()).hexdigest()
    tid = f"t{n:04d}"
    await docs.tracks.create_track(
        NewTrack(
            track_id=tid,
            audio_sha256=sha,
            audio_key=f"audio/{sha}.wav",
            filename=f"song{n}.wav",
            content_type="audio/wav",
            size_bytes=1234,
            preset="edm_high_energy",
            duration_ms=5000.0,
        )
    )
    await docs.analyses.add(tid, 1, preset="edm_high_energy")
    if status == "uploaded":
        return tid
    await docs.tracks.transition(tid, version=1, to="analyzing", stage="rhythm", progress_pct=30)
    if status == "analyzing":
        return tid
    if status == "failed":
        await docs.tracks.transition(
            tid,
            version=1,
            to="failed",
            stage="decoding",
            error_code="undecodable",
            error_reason="no audio frames",
        )
        await docs.analyses.update(tid, 1, outcome="failed", error_reason="no audio frames")
        return tid
    map_key, plot_key = f"maps/{tid}/v1/map.json", f"maps/{tid}/v1/map.png"
    map_bytes = map_bytes or json.dumps({"map": tid}).encode()
    await docs.analyses.update(
        tid,
        1,
        bpm=128.0,
        map_key=map_key,
        map_sha256=compute_map_sha256(json.loads(map_bytes)),
        plot_key=plot_key if with_map else None,
    )
    await docs.tracks.transition(
        tid, version=1, to="mapped", stage="validating", progress_pct=80, map_key=map_key
    )
    if objects is not None:
        await objects.put_bytes(map_key, map_bytes, content_type="application/json")
        await objects.put_bytes(plot_key, b"\x89PNG\r\n\x1a\nfake", content_type="image/png")
        await objects.put_bytes(f"audio/{sha}.wav", b"RIFF", content_type="audio/wav")
        await objects.put_bytes(f"analyses/{tid}/v1/analysis.json", b"{}")
    if status == "mapped":
        return tid
    await docs.tracks.transition(tid, version=1, to=status, stage="done", progress_pct=100)
    await docs.analyses.update(tid, 1, outcome=status)
    return tid


def expired_token(role: str = "admin") -> str:
    return token(role, ttl_s=10, now=time.time() - 3600)
