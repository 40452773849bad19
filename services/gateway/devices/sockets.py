"""The device WebSocket ``/ws/telemetry/{device_id}`` and the dashboard ``/ws/monitor``.

A device authenticates with its own token (``Authorization: Bearer`` or ``?token=``); any
other token, or none, closes the socket with 1008 before anything is said. Each telemetry frame
is acknowledged at once and forwarded in batches; a malformed, oversize or over-the-rate frame
gets an error frame and counts a strike; ``max_strikes`` strikes close the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from contracts.base import ID_PATTERN
from contracts.events import DeviceBundleAck
from services.gateway.devices import protocol
from services.gateway.devices.hub import REFUSED, DeviceConnection, TokenBucket
from services.gateway.devices.service import DeviceGateway
from services.gateway.devices.tokens import token_matches
from services.gateway.ws import receive_event, until_first_done

log = logging.getLogger("k1.gateway.devices")
_ID = re.compile(ID_PATTERN)
POLICY_VIOLATION, TOO_BIG, GOING_AWAY, TRY_LATER = 1008, 1009, 1001, 1013
SEND_TIMEOUT_S = 5.0


def _token(socket: WebSocket) -> str | None:
    header = socket.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    return socket.query_params.get("token")


async def _authenticate(socket: WebSocket, device_id: str, gw: DeviceGateway):
    if not _ID.match(device_id):
        return None
    device = await gw.devices.devices.get(device_id)
    if device is None or not token_matches(_token(socket), device.token_hash):
        return None
    return device


def _connection(socket: WebSocket, device, gw: DeviceGateway) -> DeviceConnection:
    async def send(text: str) -> None:
        await socket.send({"type": "websocket.send", "bytes": None, "text": text})

    async def close(code: int, reason: str) -> None:
        await socket.close(code=code, reason=reason)

    s = gw.settings
    return DeviceConnection(
        device_id=device.device_id,
        threshold_ms=device.drift_threshold_ms,
        send=send,
        close=close,
        bucket=TokenBucket(s.rate_hz, s.burst),
    )


@websocket("/ws/telemetry/{device_id:str}")
async def device_socket(socket: WebSocket, device_id: str, device_gateway: DeviceGateway) -> None:
    """A device's socket: telemetry in (acked), offers out, bundle acks in."""
    gw = device_gateway
    await socket.accept()
    device = await _authenticate(socket, device_id, gw)
    if device is None:
        REFUSED.labels("auth").inc()
        await socket.close(code=POLICY_VIOLATION, reason="policy violation")
        return
    if gw.hub.full():
        await socket.close(code=TRY_LATER, reason="too many device sockets")
        return
    conn = _connection(socket, device, gw)
    replaced = gw.hub.attach(conn)
    if replaced is not None:
        with contextlib.suppress(Exception):
            await replaced.close(POLICY_VIOLATION, "replaced by a new connection")
    try:
        await conn.push(
            protocol.encode(
                {
                    "type": "hello",
                    "device_id": device.device_id,
                    "gateway_id": gw.gateway_id,
                    "latency_offset_ms": device.latency_offset_ms,
                    "drift_threshold_ms": device.drift_threshold_ms,
                    "max_rate_hz": gw.settings.rate_hz,
                    "max_frame_bytes": gw.settings.max_frame_bytes,
                }
            ).decode()
        )
        gw.announce(device.device_id, connected=True)
        await _receive_loop(socket, conn, gw)
    except (TimeoutError, WebSocketDisconnect, OSError):
        pass  # the device went away (uvicorn's ClientDisconnected is an OSError)
    finally:
        if gw.hub.detach(conn):
            gw.announce(device.device_id, connected=False)
        with contextlib.suppress(Exception):
            await socket.close()


async def _receive_loop(socket: WebSocket, conn: DeviceConnection, gw: DeviceGateway) -> None:
    max_bytes, decode = gw.settings.max_frame_bytes, protocol.decoder.decode
    while True:
        event = await receive_event(socket)
        if event["type"] == "websocket.disconnect":
            return
        now = time.monotonic()
        conn.last_rx = now
        text = event.get("text")
        data: str | bytes = text if text is not None else event.get("bytes") or b""
        if len(data) > max_bytes:
            if await _strike(
                conn, gw, "oversize", f"frames are at most {max_bytes} bytes", TOO_BIG
            ):
                return
            continue
        try:
            msg = decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            if await _strike(conn, gw, "malformed", str(exc), POLICY_VIOLATION):
                return
            continue
        if type(msg) is protocol.Telemetry:
            if not conn.bucket.take(now):
                if await _strike(
                    conn,
                    gw,
                    "rate_limited",
                    f"at most {gw.settings.rate_hz:g} frames/s",
                    POLICY_VIOLATION,
                ):
                    return
                continue
            await conn.push(protocol.ack(msg.seq))
            received = time.time()
            gw.batcher.add(conn.device_id, msg, received)
            gw.hub.observe(conn, msg, received)
        elif type(msg) is protocol.BundleAck:
            await gw.publisher.publish(
                DeviceBundleAck(
                    deployment_id=msg.deployment_id,
                    device_id=conn.device_id,
                    ok=msg.ok,
                    reason=msg.reason,
                )
            )
        else:
            await conn.push('{"type":"pong"}')


async def _strike(
    conn: DeviceConnection, gw: DeviceGateway, code: str, detail: str, close_code: int
) -> bool:
    """Send an error frame; True when this strike closes the socket."""
    REFUSED.labels(code).inc()
    conn.strikes += 1
    await conn.push(protocol.error(code, detail))
    if conn.strikes >= gw.settings.max_strikes:
        await conn.close(close_code, f"too many bad frames ({code})")
        return True
    return False


@websocket("/ws/monitor", opt={"role": "viewer"})
async def monitor_socket(socket: WebSocket, device_gateway: DeviceGateway) -> None:
    """Dashboards: the fleet, then live device status, alerts and finished deployments."""
    gw = device_gateway
    sub = gw.hub.watch()
    try:
        await socket.accept()
        fleet = await gw.devices.devices.list(limit=1000)
        local = gw.hub.devices
        await socket.send_json(
            {
                "type": "fleet",
                "gateway_id": gw.gateway_id,
                "devices": [
                    {
                        "device_id": d.device_id,
                        "name": d.name,
                        "group": d.group,
                        "connected": d.connected,
                        "drift_threshold_ms": d.drift_threshold_ms,
                        "last_drift_ms": local[d.device_id].last_drift_ms
                        if d.device_id in local
                        else None,
                    }
                    for d in fleet
                ],
            }
        )
        await _pump(socket, sub)
    except (TimeoutError, WebSocketDisconnect, OSError):
        pass
    finally:
        gw.hub.unwatch(sub)
        with contextlib.suppress(Exception):
            await socket.close()


async def _pump(socket: WebSocket, sub) -> None:
    async def send() -> None:
        while True:
            for update in await sub.next_batch():
                text = protocol.encode(update).decode()
                await asyncio.wait_for(
                    socket.send({"type": "websocket.send", "bytes": None, "text": text}),
                    SEND_TIMEOUT_S,
                )

    async def drain() -> None:
        while (await socket.receive())["type"] != "websocket.disconnect":
            pass

    await until_first_done(send(), drain())
