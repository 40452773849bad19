"""Reading and deleting tracks."""

from __future__ import annotations

import contextlib
from typing import Annotated

from litestar import Controller, Response, delete, get
from litestar.params import Parameter

from contracts.lifecycle import FINISHED, track_prefixes
from infra.errors import NotFound
from infra.web import ApiError, errors
from services.gateway.cache import ReadCache
from services.gateway.live import ProgressHub
from services.gateway.ports import GatewayPorts
from services.gateway.schemas import TrackDetail, TrackPage, TrackStatus
from services.gateway.views import API, check_track_id, load_detail, require_track, summary

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
            page = await ports.docs.tracks.list_tracks(status=status, limit=limit, offset=offset)
            return (
                TrackPage(
                    items=[summary(t) for t in page.items],
                    total=page.total,
                    limit=limit,
                    offset=offset,
                )
                .model_dump_json()
                .encode()
            )

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
            track = await ports.docs.tracks.get_track(track_id)
            if track is None:
                return None
            return (await load_detail(ports, track)).model_dump_json().encode()

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
        track = await require_track(ports, track_id)
        if track.status not in FINISHED:
            raise ApiError(
                409,
                "busy",
                f"track {track_id} is {track.status} (stage {track.stage}); delete "
                "it once it is ready, warning or failed",
            )
        if track.candidate_version is not None:
            raise ApiError(
                409,
                "busy",
                f"an uploaded map of track {track_id} is being "
                "validated; delete it once that is settled",
            )
        with contextlib.suppress(NotFound):
            await ports.objects.delete(track.audio_key)
        for prefix in track_prefixes(track_id):
            await ports.objects.delete_prefix(prefix)
        if ports.bundles is not None:
            await ports.bundles.delete_track(track_id)
        await ports.docs.tracks.delete_track(track_id)
        cache.invalidate(track_id)
        hub.publish(
            {
                "track_id": track_id,
                "version": track.analysis_version,
                "status": "deleted",
                "stage": track.stage,
                "percent": track.progress_pct,
                "error": None,
            }
        )
