"""Uploading audio: streamed through to the ingest service, never held whole in memory."""

from __future__ import annotations

import re
from typing import Annotated

from litestar import Controller, Request, Response, post, put
from litestar.params import Parameter
from pydantic import ValidationError

from infra.uploads import UploadSlots, declared_length, limited, paced
from infra.web import ApiError, errors, subject_of
from services.gateway.controllers.common import check_preset
from services.gateway.ingest import forward
from services.gateway.ports import GatewayConfig, GatewayPorts
from services.gateway.schemas import PresignedUpload, PresignRequest, TrackAccepted
from services.gateway.usecases.uploads import accepted_upload
from services.gateway.views import API

UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
Filename = Annotated[str | None, Parameter(max_length=255, description="Client file name")]
Preset = Annotated[str | None, Parameter(max_length=32, description="Genesis preset name")]


def check_media_type(content_type: str | None) -> str:
    base = (content_type or "application/octet-stream").split(";")[0].strip().lower()
    if not (base.startswith("audio/") or base == "application/octet-stream") or len(base) > 100:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"media type {base[:100]!r} is not audio; send WAV, FLAC, OGG or MP3 "
            "as audio/* or application/octet-stream",
        )
    return base


async def _accepted(ports: GatewayPorts, status: int, body: dict) -> Response[TrackAccepted]:
    """200 for audio already known (a duplicate), 201 for a new track."""
    accepted = await accepted_upload(ports, body, duplicate=status == 200)
    return Response(accepted, status_code=status)


@post(
    API + "/tracks",
    tags=["uploads"],
    opt={"role": "operator"},
    status_code=201,
    responses=errors(400, 401, 403, 408, 413, 415, 422, 429, 502, 503),
    request_max_body_size=None,
    summary="Upload a song as the raw request body (201 new, 200 already known)",
)
async def upload(
    request: Request,
    ports: GatewayPorts,
    cfg: GatewayConfig,
    filename: Filename = None,
    preset: Preset = None,
) -> Response[TrackAccepted]:
    media_type = check_media_type(request.headers.get("content-type"))
    length = declared_length(request.headers, cfg.max_upload_bytes)
    check_preset(preset)
    headers = {**_auth(request), **_body_headers(media_type, length)}
    params = {k: v for k, v in (("filename", filename), ("preset", preset)) if v is not None}
    with upload_slots(request, cfg).hold(client=_client(request), subject=subject_of(request)):
        status, body = await forward(
            ports.ingest,
            "POST",
            "/uploads",
            headers=headers,
            params=params,
            content=_body(request, cfg),
        )
    return await _accepted(ports, status, body)


@put(
    "/objects/incoming/{upload_id:str}",
    status_code=200,
    request_max_body_size=None,
    include_in_schema=False,
)
async def put_presigned(
    request: Request, upload_id: str, ports: GatewayPorts, cfg: GatewayConfig
) -> Response:
    """A presigned upload URL: forwarded to ingest, which checks its signature and that it is
    used once; paced and capped per client like any upload."""
    if not UPLOAD_ID.match(upload_id):
        raise ApiError(404, "not_found", "no such upload")
    headers = _body_headers(
        "application/octet-stream", declared_length(request.headers, cfg.max_upload_bytes)
    )
    params = {k: request.query_params[k] for k in ("expires", "sig") if k in request.query_params}
    with upload_slots(request, cfg).hold(client=_client(request)):
        status, body = await forward(
            ports.ingest,
            "PUT",
            f"/objects/incoming/{upload_id}",
            headers=headers,
            params=params,
            content=_body(request, cfg),
        )
    return Response(
        {"upload_id": upload_id, "size_bytes": body.get("size_bytes")}, status_code=status
    )


def upload_slots(request: Request, cfg: GatewayConfig) -> UploadSlots:
    """The app's upload caps (made on first use from ``cfg.uploads``)."""
    state = request.app.state
    if getattr(state, "upload_slots", None) is None:
        limits = cfg.uploads
        state.upload_slots = UploadSlots(
            per_client=limits.max_per_client,
            per_subject=limits.max_per_subject,
            retry_after_s=limits.retry_after_s,
        )
    return state.upload_slots


def _body_headers(media_type: str, length: int | None) -> dict[str, str]:
    """What ingest is told of a forwarded body: its type and, when declared, its length."""
    headers = {"content-type": media_type}
    if length is not None:
        headers["content-length"] = str(length)
    return headers


def _body(request: Request, cfg: GatewayConfig):
    limits = cfg.uploads
    return limited(
        paced(
            request.stream(),
            idle_timeout_s=limits.idle_timeout_s,
            min_rate_bytes_s=limits.min_rate_bytes_s,
            grace_s=limits.rate_grace_s,
        ),
        cfg.max_upload_bytes,
    )


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


class UploadController(Controller):
    path = f"{API}/tracks"
    tags = ["uploads"]

    @post(
        "/presigned",
        opt={"role": "operator"},
        status_code=201,
        responses=errors(400, 401, 403, 413, 415, 422, 502, 503),
        summary="A URL to PUT a large file to; then call complete",
    )
    async def presign(
        self, request: Request, data: PresignRequest, ports: GatewayPorts
    ) -> PresignedUpload:
        check_preset(data.preset)
        _, body = await forward(
            ports.ingest,
            "POST",
            "/uploads/presigned",
            headers=_auth(request),
            json=data.model_dump(),
        )
        try:
            return PresignedUpload.model_validate(body)
        except ValidationError:
            raise ApiError(
                502, "ingest_error", "the ingest service gave an unreadable answer"
            ) from None

    @post(
        "/uploads/{upload_id:str}/complete",
        opt={"role": "operator"},
        status_code=201,
        responses=errors(400, 401, 403, 404, 409, 410, 413, 415, 422, 502, 503),
        summary="Finish a presigned upload (201 new track, 200 already known)",
    )
    async def complete(
        self, request: Request, upload_id: str, data: PresignRequest, ports: GatewayPorts
    ) -> Response[TrackAccepted]:
        if not UPLOAD_ID.match(upload_id):
            raise ApiError(404, "not_found", "no such upload")
        check_preset(data.preset)
        status, body = await forward(
            ports.ingest,
            "POST",
            f"/uploads/{upload_id}/complete",
            headers=_auth(request),
            json=data.model_dump(),
        )
        return await _accepted(ports, status, body)


def _auth(request: Request) -> dict[str, str]:
    return {"authorization": request.headers.get("authorization", "")}
