"""Opening a new version of a finished track — a re-analysis or an uploaded map as a candidate —
and giving it up with a reason when it cannot be queued."""

from __future__ import annotations

import contextlib
import logging

from contracts.lifecycle import FINISHED
from contracts.presets import EXTERNAL_PRESET
from infra.docstore import Track
from infra.web import ApiError
from services.gateway.ports import GatewayPorts

log = logging.getLogger("k1.gateway")


def check_idle(track: Track) -> None:
    """409 unless the track is finished and no uploaded map is being validated."""
    if track.status not in FINISHED:
        raise ApiError(
            409,
            "busy",
            f"track {track.track_id} is still being analysed "
            f"(status {track.status}); wait until it is finished",
        )
    if track.candidate_version is not None:
        raise ApiError(
            409,
            "busy",
            f"an uploaded map (v{track.candidate_version}) of track "
            f"{track.track_id} is being validated; wait until it is settled",
        )


def unavailable() -> ApiError:
    """The 503 of a version that could not be queued."""
    return ApiError(
        503, "unavailable", "a backing service (broker or store) is unavailable; try again later"
    )


def _changed(track: Track) -> ApiError:
    return ApiError(409, "busy", f"track {track.track_id} changed meanwhile; try again")


async def open_reanalysis(ports: GatewayPorts, track: Track, preset: str) -> int:
    """Open analysis version n+1 of a finished track; 409 while it is still being analysed."""
    check_idle(track)
    moved = await ports.docs.tracks.start_reanalysis(
        track.track_id, from_version=track.analysis_version, preset=preset
    )
    if not moved.applied or moved.track is None:
        raise _changed(track)
    version = moved.track.analysis_version
    await ports.docs.analyses.add(track.track_id, version, preset=preset)
    return version


async def open_candidate(ports: GatewayPorts, track: Track) -> int:
    """Open the candidate version of an uploaded map; the current version stays as it is."""
    check_idle(track)
    moved = await ports.docs.tracks.open_candidate(
        track.track_id, from_version=track.analysis_version
    )
    if not moved.applied or moved.track is None or moved.track.candidate_version is None:
        raise _changed(track)
    version = moved.track.candidate_version
    await ports.docs.analyses.add(track.track_id, version, preset=EXTERNAL_PRESET)
    return version


async def give_up_reanalysis(
    ports: GatewayPorts, track_id: str, version: int, exc: Exception
) -> ApiError:
    """The version could not be queued: fail it with a reason instead of leaving it hanging."""
    log.warning("could not queue analysis: %s", type(exc).__name__, extra={"track_id": track_id})
    await ports.docs.tracks.transition(
        track_id,
        version=version,
        to="failed",
        stage="uploaded",
        error_code="not_queued",
        error_reason="the analysis could not be queued; retry",
    )
    return unavailable()


async def give_up_candidate(
    ports: GatewayPorts, track_id: str, version: int, exc: Exception
) -> ApiError:
    """The uploaded map could not be queued: its version fails, the current one stays."""
    log.warning(
        "could not queue an uploaded map: %s", type(exc).__name__, extra={"track_id": track_id}
    )
    with contextlib.suppress(Exception):  # the reconciler drops it later if this fails too
        await ports.docs.analyses.update(
            track_id, version, outcome="failed", error_reason="the map could not be queued; retry"
        )
        await ports.docs.tracks.drop_candidate(track_id, version=version)
    return unavailable()
