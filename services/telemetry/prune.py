"""Retention: frames older than ``retention_s`` are deleted by a periodic prune (numbers of
Unix seconds, so it works on nx-27017, which has no TTL indexes, as on MongoDB)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.telemetry.ports import TelemetryPorts

log = logging.getLogger("k1.telemetry")


async def prune_once(ports: TelemetryPorts) -> int:
    return await ports.devices.telemetry.prune(ports.clock() - ports.settings.retention_s)


def start_pruner(ports: TelemetryPorts):
    async def loop() -> None:
        while True:
            try:
                if removed := await prune_once(ports):
                    log.info("pruned %d telemetry frames past retention", removed)
            except Exception:
                log.exception("telemetry prune failed; retrying next interval")
            await asyncio.sleep(ports.settings.prune_interval_s)

    task = asyncio.create_task(loop(), name="telemetry-prune")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop
