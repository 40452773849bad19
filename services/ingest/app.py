"""The ingest HTTP API (internal; the gateway forwards to it). Thin: parse, call, shape."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from litestar import Litestar, Request, Response, get, post, put
from litestar.di import Provide
from litestar.params import Parameter
from litestar.plugins.prometheus import PrometheusConfig
from pydantic import BaseModel, Field

from infra.docstore import Track
from infra.errors import NotFound
from infra.uploads import declared_length, limited
from infra.web import EXCEPTION_HANDLERS, ApiError, auth_guard, subject_of
from services.ingest.domain import IngestError, check_declared_type, sanitise_filename
from services.ingest.service import IngestPorts, accept_audio
from services.ingest.spool import spool
from services.ingest.uploads import PresignedUploads

PRESET_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
Sig = Annotated[str, Parameter(query="sig", max_length=128)]
Expires = Annotated[str, Parameter(query="expires", max_length=20)]


@dataclass(frozen=True, slots=True)
class IngestConfig:
    max_upload_bytes: int
    max_duration_s: float
    default_preset: str
    jwt_secret: str
    spool_dir: Path | None = None
    """Where upload bodies are spooled (None: the system temporary folder)."""
    metrics_token: str = ""
    """Bearer token ``/metrics`` requires (empty: open)."""


class TrackAccepted(BaseModel):
    """An accepted upload: the track it became and whether it was already known."""

    track_id: str
    status: str
    duplicate: bool = Field(description="True when this audio was uploaded before")
    audio_sha256: str
    filename: str
    size_bytes: int
    duration_ms: float | None


class PresignRequest(BaseModel):
    filename: str = Field(default="upload", max_length=1024)
    preset: str | None = Field(default=None, pattern=PRESET_PATTERN)


class PresignedUpload(BaseModel):
    upload_id: str
    upload_url: str = Field(description="PUT the audio bytes here before it expires")
    expires_at: datetime


def _accepted(track: Track, duplicate: bool) -> Response[TrackAccepted]:
    body = TrackAccepted(
        track_id=track.track_id,
        status=track.status,
        duplicate=duplicate,
        audio_sha256=track.audio_sha256,
        filename=track.filename,
        size_bytes=track.size_bytes,
        duration_ms=track.duration_ms,
    )
    return Response(body, status_code=200 if duplicate else 201)


async def _ingest(
    chunks: Any, *, filename: str | None, preset: str | None, ports: IngestPorts, cfg: IngestConfig
) -> Response[TrackAccepted]:
    try:
        spooled = await spool(chunks, limit_bytes=cfg.max_upload_bytes, tmp_dir=cfg.spool_dir)
        try:
            if spooled.size_bytes == 0:
                raise ApiError(422, "empty", "the upload is empty (0 bytes)")
            result = await accept_audio(
                spooled,
                filename=sanitise_filename(filename),
                preset=preset or cfg.default_preset,
                max_duration_s=cfg.max_duration_s,
                ports=ports,
            )
        finally:
            spooled.discard()
    except IngestError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    return _accepted(result.track, result.duplicate)


@post("/uploads", opt={"role": "operator"}, status_code=201, request_max_body_size=None)
async def upload(
    request: Request,
    ports: IngestPorts,
    cfg: IngestConfig,
    filename: Annotated[str | None, Parameter(max_length=1024)] = None,
    preset: Annotated[str | None, Parameter(pattern=PRESET_PATTERN)] = None,
) -> Response[TrackAccepted]:
    """Upload audio as the raw request body (streamed; never held whole in memory)."""
    try:
        check_declared_type(request.headers.get("content-type"))
    except IngestError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    declared_length(request.headers, cfg.max_upload_bytes)
    return await _ingest(request.stream(), filename=filename, preset=preset, ports=ports, cfg=cfg)


@post("/uploads/presigned", opt={"role": "operator"}, status_code=201)
async def presign(request: Request, data: PresignRequest, ports: IngestPorts) -> PresignedUpload:
    """A URL to PUT one file to directly (once); then call ``/uploads/{upload_id}/complete``."""
    grant = await _presigned(ports).issue(subject=subject_of(request) or "")
    return PresignedUpload(
        upload_id=grant.upload_id, upload_url=grant.upload_url, expires_at=grant.expires_at
    )


@put(
    "/objects/incoming/{upload_id:str}",
    status_code=200,
    request_max_body_size=None,
    include_in_schema=False,
)
async def receive(
    upload_id: str,
    request: Request,
    expires: Expires,
    sig: Sig,
    ports: IngestPorts,
    cfg: IngestConfig,
) -> dict[str, Any]:
    """The presigned URL itself: its signature is the authority, and it works once."""
    if not UPLOAD_ID.match(upload_id):
        raise ApiError(404, "not_found", "no such upload")
    length = declared_length(request.headers, cfg.max_upload_bytes)
    size = await _presigned(ports).receive(
        upload_id,
        limited(request.stream(), cfg.max_upload_bytes),
        expires=expires,
        sig=sig,
        length=length,
    )
    return {"upload_id": upload_id, "size_bytes": size}


@post("/uploads/{upload_id:str}/complete", opt={"role": "operator"}, status_code=201)
async def complete(
    request: Request, upload_id: str, data: PresignRequest, ports: IngestPorts, cfg: IngestConfig
) -> Response[TrackAccepted]:
    """Finish a presigned upload: the stored bytes go through the same checks as a direct one."""
    if not UPLOAD_ID.match(upload_id):
        raise ApiError(404, "not_found", "no such upload")
    uploads = _presigned(ports)
    key = await uploads.start_complete(upload_id, subject=subject_of(request) or "")
    try:
        async with await ports.objects.open_stream(key) as stream:
            response = await _ingest(
                stream, filename=data.filename, preset=data.preset, ports=ports, cfg=cfg
            )
    except NotFound:
        await uploads.end_complete(upload_id, to="failed")
        raise ApiError(404, "not_found", "nothing was uploaded to that URL") from None
    except ApiError as exc:  # the upload's own fault: it is spent
        await uploads.end_complete(upload_id, to="failed" if exc.status < 500 else "received")
        raise
    except Exception:
        await uploads.end_complete(upload_id, to="received")
        raise
    await uploads.end_complete(upload_id, to="completed", track_id=response.content.track_id)
    return response


def _presigned(ports: IngestPorts) -> PresignedUploads:
    if ports.uploads is None:
        raise ApiError(503, "unavailable", "presigned uploads are not configured")
    return ports.uploads


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def create_app(
    *,
    ports: IngestPorts,
    cfg: IngestConfig,
    lifespan: list | None = None,
    extra_handlers: list | None = None,
    plugins: list | None = None,
) -> Litestar:
    http_metrics = PrometheusConfig(
        app_name="k1_ingest", prefix="k1_ingest", group_path=True, exclude=["/metrics"]
    )
    app = Litestar(
        route_handlers=[upload, presign, receive, complete, health, *(extra_handlers or [])],
        dependencies={
            "ports": Provide(lambda: ports, sync_to_thread=False),
            "cfg": Provide(lambda: cfg, sync_to_thread=False),
        },
        guards=[auth_guard],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan or [],
        request_max_body_size=1024 * 1024,
        debug=False,
        middleware=[http_metrics.middleware],
        plugins=plugins or [],
        logging_config=None,  # lines go through infra.logging's root handler
    )
    app.state.jwt_secret = cfg.jwt_secret
    app.state.metrics_token = cfg.metrics_token
    return app
