"""The ceiling for ``make bench-ws``: a bare Litestar WebSocket endpoint that echoes every text
frame back, served by uvicorn with the gateway's uvicorn and GC settings — no auth, no
validation, no broker.

    python tools/bench/echo_app.py --port 8765
"""

from __future__ import annotations

import argparse
import gc

import uvicorn
from litestar import Litestar, WebSocket, websocket


@websocket("/ws/telemetry/{device_id:str}")
async def echo(socket: WebSocket, device_id: str) -> None:
    await socket.accept()
    while True:
        event = await socket.receive()
        if event["type"] == "websocket.disconnect":
            return
        text = event.get("text")
        await socket.send(
            {"type": "websocket.send", "bytes": None, "text": text if isinstance(text, str) else ""}
        )


async def _tune_gc() -> None:
    gc.freeze()  # as the gateway's device side does at start (GC_THRESHOLDS there)
    gc.set_threshold(20_000, 20, 100)


app = Litestar(route_handlers=[echo], debug=False, logging_config=None, on_startup=[_tune_gc])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        log_config=None,
        ws_max_size=256 * 1024,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
    )


if __name__ == "__main__":
    main()
