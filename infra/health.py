"""A tiny HTTP endpoint for worker services: ``/healthz``, ``/readyz`` and ``/metrics``.

Workers have no web framework; this serves the three paths Kubernetes and Prometheus need with
asyncio streams. Readiness runs the service's checks (broker, database, object store).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from infra.auth import metrics_allowed

log = logging.getLogger(__name__)
Check = Callable[[], Awaitable[None]]
MAX_REQUEST_LINE = 2048
MAX_HEADERS = 64


async def _authorization(reader: asyncio.StreamReader) -> str | None:
    """Read the request's headers (at most ``MAX_HEADERS`` lines) and return Authorization."""
    found = None
    for _ in range(MAX_HEADERS):
        line = (await reader.readline())[:MAX_REQUEST_LINE].decode("latin-1").strip()
        if not line:
            break
        name, _, value = line.partition(":")
        if name.strip().lower() == "authorization":
            found = value.strip()
    return found


async def run_checks(checks: dict[str, Check], *, timeout_s: float = 3) -> dict[str, str]:
    """Each check's verdict: ``ok`` or ``down: <error type>`` (never the message: no secrets)."""
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(), timeout=timeout_s)
            results[name] = "ok"
        except Exception as exc:  # a failing dependency is reported, not raised
            results[name] = f"down: {type(exc).__name__}"
    return results


class HealthServer:
    def __init__(
        self,
        *,
        checks: dict[str, Check] | None = None,
        host: str = "127.0.0.1",
        port: int = 9100,
        metrics_token: str = "",
    ) -> None:
        self.checks = checks or {}
        self.host, self.port = host, port
        self.metrics_token = metrics_token
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("health endpoint on http://%s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def readiness(self) -> dict[str, str]:
        return await run_checks(self.checks)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=5)
            path = line[:MAX_REQUEST_LINE].decode("latin-1").split(" ")[1:2] or ["/"]
            authorization = await asyncio.wait_for(_authorization(reader), timeout=5)
            if path[0] == "/metrics" and not metrics_allowed(authorization, self.metrics_token):
                status, ctype, body = (
                    "401 Unauthorized",
                    "application/json",
                    b'{"error":"unauthorized"}',
                )
            else:
                status, ctype, body = await self._route(path[0])
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeError, ValueError):
            pass
        finally:
            writer.close()

    async def _route(self, path: str) -> tuple[str, str, bytes]:
        if path == "/healthz":
            return "200 OK", "application/json", b'{"status":"ok"}'
        if path == "/readyz":
            results = await self.readiness()
            ok = all(v == "ok" for v in results.values())
            body = json.dumps({"status": "ok" if ok else "unavailable", "checks": results})
            return (
                ("200 OK" if ok else "503 Service Unavailable"),
                "application/json",
                body.encode(),
            )
        if path == "/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest()
        return "404 Not Found", "application/json", b'{"error":"not found"}'
