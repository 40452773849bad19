"""Live progress WebSockets: one track, or every track. Browsers pass ``?token=``."""

from __future__ import annotations

import asyncio
import contextlib
from typing import cast

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.types.asgi_types import WebSocketDisconnectEvent, WebSocketReceiveEvent

from services.gateway.live import HubFull, ProgressHub, Subscription
from services.gateway.ports import GatewayPorts
from services.gateway.views import API, check_track_id

SEND_TIMEOUT_S = 5.0
"""A socket that cannot take a message for this long is closed."""
MAX_INBOUND_BYTES = 1024
"""Clients have nothing to say; a bigger frame, text or binary, closes the socket."""
TOO_BIG = 1009
"""Close code for an oversize frame (RFC 6455 "message too big"), as on the device socket."""


async def receive_event(socket: WebSocket) -> WebSocketReceiveEvent | WebSocketDisconnectEvent:
    """The next event of an accepted socket: a frame or the disconnect.

    Litestar types ``receive`` with every ASGI message, HTTP ones too; on an accepted
    WebSocket only these two arrive (Litestar's own ``receive_data`` casts alike)."""
    return cast("WebSocketReceiveEvent | WebSocketDisconnectEvent", await socket.receive())


async def until_first_done(*coros) -> None:
    """Run a socket's sender and receiver together; when one ends (disconnect, slow client,
    oversize frame) cancel the other and swallow its ending."""
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await task


async def _pump(socket: WebSocket, sub: Subscription) -> None:
    async def send() -> None:
        while True:
            for update in await sub.next_batch():
                await asyncio.wait_for(socket.send_json(update), timeout=SEND_TIMEOUT_S)

    async def drain() -> None:
        while True:
            event = await receive_event(socket)
            if event["type"] == "websocket.disconnect":
                return
            text = event.get("text")
            size = len(text.encode()) if text is not None else len(event.get("bytes") or b"")
            if size > MAX_INBOUND_BYTES:
                await socket.close(
                    code=TOO_BIG, reason=f"frames are at most {MAX_INBOUND_BYTES} bytes"
                )
                return

    await until_first_done(send(), drain())


async def _serve(
    socket: WebSocket, hub: ProgressHub, track_id: str | None, ports: GatewayPorts
) -> None:
    try:
        sub = hub.subscribe(track_id)
    except HubFull:
        await socket.close(code=1013, reason="too many live sockets")
        return
    try:
        await socket.accept()
        if track_id is not None:
            track = await ports.docs.tracks.get_track(track_id)
            if track is None:
                await socket.close(code=4404, reason="no such track")
                return
            sub.push(
                {
                    "track_id": track.track_id,
                    "version": track.analysis_version,
                    "status": track.status,
                    "stage": track.stage,
                    "percent": track.progress_pct,
                    "error": track.error_reason,
                }
            )
        await _pump(socket, sub)
    finally:
        hub.unsubscribe(sub)
        with contextlib.suppress(Exception):
            await socket.close()


@websocket(f"{API}/tracks/{{track_id:str}}/events", opt={"role": "viewer"})
async def track_events(
    socket: WebSocket, track_id: str, hub: ProgressHub, ports: GatewayPorts
) -> None:
    """Where one track is, then every change: {track_id, version, status, stage, percent, error}."""
    try:
        check_track_id(track_id)
    except Exception:
        await socket.close(code=4404, reason="no such track")
        return
    await _serve(socket, hub, track_id, ports)


@websocket(f"{API}/events", opt={"role": "viewer"})
async def all_events(socket: WebSocket, hub: ProgressHub, ports: GatewayPorts) -> None:
    """Every change of every track: {track_id, version, status, stage, percent, error}."""
    await _serve(socket, hub, None, ports)
