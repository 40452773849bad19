"""The gateway's CORS: only the configured origins may call it from a browser, and every
answer says it depends on the ``Origin`` header (``Vary: Origin``), preflights and refusals
included, so no shared cache hands one origin's answer to another."""

from __future__ import annotations

from litestar.config.cors import CORSConfig
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import Message, Scope


def cors_config(origins: tuple[str, ...]) -> CORSConfig:
    return CORSConfig(
        allow_origins=list(origins),
        allow_headers=["Authorization", "Content-Type", "If-None-Match"],
        allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        expose_headers=["ETag"],
    )


async def vary_on_origin(message: Message, scope: Scope) -> None:
    """A ``before_send`` hook: it sees every answer, also those the CORS middleware makes."""
    if message["type"] != "http.response.start" or scope["type"] != ScopeType.HTTP:
        return
    headers = MutableScopeHeaders.from_message(message)
    values = [v.strip() for v in (headers.get("vary") or "").split(",") if v.strip()]
    if not any(v.lower() in ("origin", "*") for v in values):
        headers["Vary"] = ", ".join([*values, "Origin"])
