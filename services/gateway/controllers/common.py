"""What several controllers share: request checks and response shapes (not a controller)."""

from __future__ import annotations

from litestar import Response

from contracts.lifecycle import task_id
from contracts.presets import PRESET_NAMES
from infra.web import ApiError
from services.gateway.schemas import TaskAccepted
from services.gateway.views import API


def check_preset(preset: str | None) -> None:
    if preset is not None and preset not in PRESET_NAMES:
        raise ApiError(
            422,
            "unknown_preset",
            f"unknown preset {preset!r}; choose one of {', '.join(sorted(PRESET_NAMES))}",
        )


def accepted(track_id: str, version: int) -> Response[TaskAccepted]:
    """202 with the task of version ``version`` and where to poll it."""
    tid = task_id(track_id, version)
    return Response(
        TaskAccepted(
            task_id=tid,
            track_id=track_id,
            analysis_version=version,
            status_url=f"{API}/tasks/{tid}",
        ),
        status_code=202,
    )
