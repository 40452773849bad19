"""Genesis Maps: download (ETag), upload an externally made one, and the map's picture."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Stream

from contracts.device_limits import DEFAULT_LIMITS
from infra.web import ApiError, errors
from services.gateway.cache import ReadCache
from services.gateway.controllers.common import accepted
from services.gateway.ports import GatewayPorts
from services.gateway.schemas import TaskAccepted
from services.gateway.usecases import maps
from services.gateway.views import API, require_track

Version = Annotated[int | None, Parameter(ge=1, le=100_000, description="Analysis version")]
IfNoneMatch = Annotated[str | None, Parameter(header="if-none-match", max_length=1000)]
MAX_MAP_UPLOAD_BYTES = DEFAULT_LIMITS.max_map_bytes


class MapController(Controller):
    path = f"{API}/tracks/{{track_id:str}}"
    tags = ["maps"]

    @get(
        "/genesis-map",
        opt={"role": "viewer"},
        media_type="application/json",
        responses=errors(400, 401, 403, 404, 502),
        summary="The Genesis Map (JSON); ETag is its map_sha256, If-None-Match gives 304",
    )
    async def get_map(
        self,
        track_id: str,
        ports: GatewayPorts,
        version: Version = None,
        if_none_match: IfNoneMatch = None,
    ) -> Response[bytes]:
        read = await maps.read_map(ports, track_id, version, if_none_match)
        if read.body is None:
            return Response(b"", status_code=304, headers=read.headers)
        return Response(read.body, media_type="application/json", headers=read.headers)

    @post(
        "/genesis-map",
        opt={"role": "operator"},
        status_code=202,
        responses=errors(400, 401, 403, 404, 409, 413, 415, 422, 503),
        request_max_body_size=MAX_MAP_UPLOAD_BYTES,
        summary="Upload an externally made Genesis Map; it is validated asynchronously",
        description="The map becomes a candidate version: the current version stays "
        "current, served and deployable while it is validated. Accepted, it "
        "becomes current; rejected, the track is unchanged and the task "
        "(`status_url`) and the track's `candidate` say why. 409 while the "
        "track is being analysed or another uploaded map is validated.",
    )
    async def put_map(
        self, track_id: str, request: Request, ports: GatewayPorts, cache: ReadCache
    ) -> Response[TaskAccepted]:
        ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise ApiError(415, "unsupported_media_type", "send the map as application/json")
        track = await require_track(ports, track_id)
        raw = await request.body()
        version = await maps.submit_map(ports, cache, track, raw)
        return accepted(track_id, version)

    @get(
        "/picture.png",
        opt={"role": "viewer"},
        media_type="image/png",
        responses=errors(400, 401, 403, 404),
        summary="The picture of the map (PNG)",
    )
    async def picture(self, track_id: str, ports: GatewayPorts, version: Version = None) -> Stream:
        stream = await maps.open_picture(ports, track_id, version)
        return Stream(
            stream,
            media_type="image/png",
            headers={
                "Content-Length": str(stream.info.size_bytes),
                "Cache-Control": "private, max-age=300",
            },
        )
