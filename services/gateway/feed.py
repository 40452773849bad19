"""The gateway's one broadcast consumer: lifecycle events → live updates + cache invalidation."""

from __future__ import annotations

from typing import Any

from contracts.base import Message
from contracts.events import (
    AnalysisFailed,
    AnalysisProgress,
    BeatsDetected,
    MapGenerated,
    MapRejected,
    MapValidated,
    TrackUploaded,
)
from infra.broker import broadcast_queue, subscribe_broadcast
from services.gateway.cache import ReadCache
from services.gateway.live import ProgressHub

FEED_MODELS: tuple[type[Message], ...] = (
    AnalysisProgress,
    BeatsDetected,
    MapGenerated,
    MapValidated,
    MapRejected,
    AnalysisFailed,
    TrackUploaded,
)
MAX_ERROR_CHARS = 500


def update_of(msg: Message) -> dict[str, Any] | None:
    """The live update an event means, as ``{track_id, version, status, stage, percent, error}``."""
    match msg:
        case AnalysisProgress():
            status = "mapped" if msg.stage == "validating" else "analyzing"
            return _update(msg, status, msg.stage, msg.percent)
        case TrackUploaded():
            return _update(msg, "uploaded", "uploaded", 0.0)
        case BeatsDetected():
            return _update(msg, "analyzing", "sections", 60.0)
        case MapGenerated(candidate=True):  # an uploaded map: the track's status stays
            return None
        case MapGenerated():
            return _update(msg, "mapped", "validating", 80.0)
        case MapValidated():
            return _update(msg, msg.outcome, "done", 100.0)
        case MapRejected():
            reason = "; ".join(f"{r.field}: {r.message}" for r in msg.reasons[:5])
            if msg.kept_status:  # a rejected uploaded map: the current version stays
                return _update(
                    msg,
                    msg.kept_status,
                    "done",
                    100.0,
                    f"uploaded map v{msg.analysis_version} rejected: {reason}",
                )
            return _update(
                msg, "failed", "validating", 100.0, f"the map failed validation: {reason}"
            )
        case AnalysisFailed():
            return _update(msg, "failed", msg.stage, 100.0, msg.reason)
    return None


def _update(
    msg: Any, status: str, stage: str, percent: float, error: str | None = None
) -> dict[str, Any]:
    return {
        "track_id": msg.track_id,
        "version": msg.analysis_version,
        "status": status,
        "stage": stage,
        "percent": float(percent),
        "error": error[:MAX_ERROR_CHARS] if error else None,
    }


class LiveFeed:
    """Applies events to the hub and the read cache (also used directly by tests)."""

    def __init__(self, hub: ProgressHub, cache: ReadCache) -> None:
        self.hub, self.cache = hub, cache

    async def handle(self, msg: Message) -> None:
        update = update_of(msg)
        if update is None:
            return
        self.cache.invalidate(update["track_id"])
        self.hub.publish(update)


def register_feed(broker: Any, feed: LiveFeed) -> None:
    """Subscribe the process's one exclusive broadcast queue to every lifecycle key."""
    queue = broadcast_queue("gateway", [m.routing_key for m in FEED_MODELS])
    subscribe_broadcast(broker, queue, *FEED_MODELS)(feed.handle)
