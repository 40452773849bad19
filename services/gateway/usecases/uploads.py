"""What the client is told when ingest accepted an upload."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from contracts.lifecycle import task_id
from infra.web import ApiError
from services.gateway.ports import GatewayPorts
from services.gateway.schemas import TrackAccepted


async def accepted_upload(
    ports: GatewayPorts, body: dict[str, Any], *, duplicate: bool
) -> TrackAccepted:
    """Ingest's answer as a :class:`TrackAccepted` whose task is the track's current version
    (a duplicate may have been analysed again since); 502 when the answer is unreadable."""
    version = 1
    if duplicate:
        track = await ports.docs.tracks.get_track(str(body.get("track_id")))
        version = track.analysis_version if track else 1
    try:
        fields = {k: body.get(k) for k in TrackAccepted.model_fields if k != "task_id"}
        return TrackAccepted.model_validate(
            {**fields, "task_id": task_id(body["track_id"], version)}
        )
    except (KeyError, ValidationError):
        raise ApiError(
            502, "ingest_error", "the ingest service gave an unreadable answer"
        ) from None
