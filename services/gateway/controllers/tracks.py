"""Reading and deleting tracks."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get
from litestar.params import Parameter

from infra.web import ApiError, errors
from services.gateway.cache import ReadCache
from services.gateway.live import ProgressHub
from services.gateway.ports import GatewayPorts
from services.gateway.schemas import TrackDetail, TrackPage, TrackStatus
from services.gateway.usecases import tracks
from services.gateway.views import API, check_track_id

Limit = Annotated[int, Parameter(ge=1, le=100, description="Page size (1..100)")]
Offset = Annotated[int, Parameter(ge=0, le=1_000_000, description="Tracks to skip")]
StatusFilter = Annotated[TrackStatus | None, Parameter(description="Only tracks in this status")]


def _json(body: bytes) -> Response:
    """Reads are cached already encoded: serving one is a dictionary look-up."""
    return Response(body, media_type="application/json")


class TrackController(Controller):
    path = f"{API}/tracks"
    tags = ["tracks"]

    @get(
        "",
        opt={"role": "viewer"},
        summary="List tracks, newest first",
        responses=errors(400, 401, 403),
    )
    async def list_tracks(
        self,
        ports: GatewayPorts,
        cache: ReadCache,
        status: StatusFilter = None,
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> Response[TrackPage]:
        async def load() -> bytes:
            return await tracks.page_json(ports, status, limit, offset)

        return _json(await cache.get(("page", status, limit, offset), load))

    @get(
        "/{track_id:str}",
        opt={"role": "viewer"},
        responses=errors(400, 401, 403, 404),
        summary="A track with its latest analysis summary",
    )
    async def get_track(
        self, track_id: str, ports: GatewayPorts, cache: ReadCache
    ) -> Response[TrackDetail]:
        async def load() -> bytes | None:
            return await tracks.track_json(ports, track_id)

        found = await cache.get(("track", check_track_id(track_id)), load)
        if found is None:
            raise ApiError(404, "not_found", f"no track {track_id}")
        return _json(found)

    @delete(
        "/{track_id:str}",
        opt={"role": "admin"},
        status_code=204,
        responses=errors(400, 401, 403, 404, 409),
        summary="Delete a finished track, its objects, bundles and documents",
        description="Refused with 409 while the track is uploaded, analyzing or mapped, or "
        "an uploaded map of it is being validated: a worker is about to write "
        "for it. Every track reaches ready, warning or failed and every "
        "uploaded map is accepted or rejected (retries, then the dead-letter "
        "queue), so wait for that.",
    )
    async def delete_track(
        self, track_id: str, ports: GatewayPorts, cache: ReadCache, hub: ProgressHub
    ) -> None:
        await tracks.delete_track(ports, cache, hub, track_id)
