"""Forwarding uploads to the internal ingest service and mapping its answers back."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import httpx

from infra.web import ApiError

log = logging.getLogger("k1.gateway")
MAX_DETAIL_CHARS = 1000
BUSY_RETRY_AFTER_S = 5
_PATH = re.compile(r"""(?:\b[A-Za-z]:)?[\\/](?:[^\s'"\\/]+[\\/])+[^\s'"]*""")
"""Something that looks like a file-system path (``/a/b``, ``C:\\a\\b``): never shown."""


async def forward(
    client: httpx.AsyncClient, method: str, path: str, *, headers: dict[str, str], **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    """Send one request to ingest; its 2xx body, or its error re-raised as an ApiError."""
    try:
        response = await client.request(method, path, headers=headers, **kwargs)
    except ApiError:
        raise
    except httpx.PoolTimeout:
        raise ApiError(
            503,
            "busy",
            "too many uploads are in progress; try again shortly",
            headers={"Retry-After": str(BUSY_RETRY_AFTER_S)},
        ) from None
    except httpx.TimeoutException:
        raise ApiError(504, "ingest_timeout", "the ingest service did not answer in time") from None
    except httpx.HTTPError as exc:
        log.warning("ingest unreachable: %s", type(exc).__name__)
        raise ApiError(503, "ingest_unavailable", "the ingest service is unavailable") from None
    body = _json(response)
    if response.is_success:
        return response.status_code, body
    raise _mapped_error(response.status_code, body)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _mapped_error(status: int, body: dict[str, Any]) -> ApiError:
    if status >= 500 or status < 400:
        log.warning("ingest answered %s", status)
        return ApiError(502, "ingest_error", "the ingest service failed; try again later")
    code = str(body.get("error") or "rejected")[:64]
    detail = body.get("detail")
    detail = (
        _PATH.sub("(a file)", str(detail))[:MAX_DETAIL_CHARS]
        if detail is not None
        else "the upload was refused"
    )
    extra = {"fields": body["fields"]} if isinstance(body.get("fields"), list) else None
    return ApiError(status, code, detail, extra=extra)
