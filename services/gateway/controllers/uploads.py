"""Uploading audio: streamed through to the ingest service, never held whole in memory."""
from __future__ import annotations

import re
from typing import Annotated

from litestar import Controller, Request, Response, post
from litestar.params import Parameter
from pydantic import ValidationError

from contracts.presets import PRESET_NAMES
from infra.web import ApiError, errors
from services.gateway.ingest import forward, limited
from services.gateway.ports import GatewayConfig, GatewayPorts, task_id
from services.gateway.schemas import PresignedUpload, PresignRequest, TrackAccepted
from services.gateway.views import API

UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
Filename = Annotated[str | None, Parameter(max_length=255, description="Client file name")]
Preset = Annotated[str | None, Parameter(max_length=32, description="Genesis preset name")]


def check_media_type(content_type: str | None) -> str:
    base = (content_type or "application/octet-stream").split(";")[0].strip().lower()
    if not (base.startswith("audio/") or base == "application/octet-stream") or len(base) > 100:
        raise ApiError(415, "unsupported_media_type",
                       f"media type {base[:100]!r} is not audio; send WAV, FLAC, OGG or MP3 "
                       "as audio/* or application/octet-stream")
    return base


def check_preset(preset: str | None) -> None:
    if preset is not None and preset not in PRESET_NAMES:
        raise ApiError(422, "unknown_preset",
                       f"unknown preset {preset!r}; choose one of {', '.join(sorted(PRESET_NAMES))}")


def declared_length(request: Request, limit: int) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(400, "bad_request", "Content-Length is not a number")
    if int(raw) > limit:
        raise ApiError(413, "too_large", f"the upload limit is {limit} bytes")
    return int(raw)


async def _accepted(ports: GatewayPorts, status: int, body: dict) -> Response[TrackAccepted]:
    version = 1
    if status == 200:  # a duplicate: the track may have been analysed again since
        track = await ports.docs.tracks.get_track(str(body.get("track_id")))
        version = track.analysis_version if track else 1
    try:
        accepted = TrackAccepted(**{k: body.get(k) for k in TrackAccepted.model_fields
                                    if k != "task_id"}, task_id=task_id(body["track_id"], version))
    except (KeyError, ValidationError):
        raise ApiError(502, "ingest_error", "the ingest service gave an unreadable answer") from None
    return Response(accepted, status_code=status)


@post(API + "/tracks", tags=["uploads"], opt={"role": "operator"}, status_code=201,
      responses=errors(400, 401, 403, 413, 415, 422, 502, 503),
      request_max_body_size=None,
      summary="Upload a song as the raw request body (201 new, 200 already known)")
async def upload(request: Request, ports: GatewayPorts, cfg: GatewayConfig,
                 filename: Filename = None, preset: Preset = None
                 ) -> Response[TrackAccepted]:
    media_type = check_media_type(request.headers.get("content-type"))
    length = declared_length(request, cfg.max_upload_bytes)
    check_preset(preset)
    headers = {"authorization": request.headers.get("authorization", ""),
               "content-type": media_type}
    if length is not None:
        headers["content-length"] = str(length)
    params = {k: v for k, v in (("filename", filename), ("preset", preset)) if v is not None}
    status, body = await forward(
        ports.ingest, "POST", "/uploads", headers=headers, params=params,
        content=limited(request.stream(), cfg.max_upload_bytes))
    return await _accepted(ports, status, body)


class UploadController(Controller):
    path = f"{API}/tracks"
    tags = ["uploads"]

    @post("/presigned", opt={"role": "operator"}, status_code=201,
          responses=errors(400, 401, 403, 413, 415, 422, 502, 503),
          summary="A URL to PUT a large file to; then call complete")
    async def presign(self, request: Request, data: PresignRequest, ports: GatewayPorts
                      ) -> PresignedUpload:
        check_preset(data.preset)
        _, body = await forward(ports.ingest, "POST", "/uploads/presigned",
                                headers=_auth(request), json=data.model_dump())
        try:
            return PresignedUpload.model_validate(body)
        except ValidationError:
            raise ApiError(502, "ingest_error", "the ingest service gave an unreadable answer"
                           ) from None

    @post("/uploads/{upload_id:str}/complete", opt={"role": "operator"}, status_code=201,
          responses=errors(400, 401, 403, 404, 413, 415, 422, 502, 503),
          summary="Finish a presigned upload (201 new track, 200 already known)")
    async def complete(self, request: Request, upload_id: str, data: PresignRequest,
                       ports: GatewayPorts) -> Response[TrackAccepted]:
        if not UPLOAD_ID.match(upload_id):
            raise ApiError(404, "not_found", "no such upload")
        check_preset(data.preset)
        status, body = await forward(ports.ingest, "POST", f"/uploads/{upload_id}/complete",
                                     headers=_auth(request), json=data.model_dump())
        return await _accepted(ports, status, body)


def _auth(request: Request) -> dict[str, str]:
    return {"authorization": request.headers.get("authorization", "")}
