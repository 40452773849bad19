"""Reading tracks (already encoded, for the read cache) and deleting a finished one."""

from __future__ import annotations

import contextlib

from contracts.lifecycle import FINISHED, track_prefixes
from infra.errors import NotFound
from infra.web import ApiError
from services.gateway.cache import ReadCache
from services.gateway.live import ProgressHub
from services.gateway.ports import GatewayPorts
from services.gateway.schemas import TrackPage
from services.gateway.views import load_detail, require_track, summary


async def page_json(ports: GatewayPorts, status: str | None, limit: int, offset: int) -> bytes:
    """One page of tracks, newest first, as JSON."""
    page = await ports.docs.tracks.list_tracks(status=status, limit=limit, offset=offset)
    return (
        TrackPage(
            items=[summary(t) for t in page.items], total=page.total, limit=limit, offset=offset
        )
        .model_dump_json()
        .encode()
    )


async def track_json(ports: GatewayPorts, track_id: str) -> bytes | None:
    """The track with its analysis summaries as JSON; None when there is no such track."""
    track = await ports.docs.tracks.get_track(track_id)
    if track is None:
        return None
    return (await load_detail(ports, track)).model_dump_json().encode()


async def delete_track(
    ports: GatewayPorts, cache: ReadCache, hub: ProgressHub, track_id: str
) -> None:
    """Delete a finished track: its audio, every per-version object, bundles and documents;
    409 while a worker may still write for it (it is not finished, or a candidate is open)."""
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
