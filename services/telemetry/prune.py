"""Background work of the telemetry service: the periodic flush (rollup chunks close and
statistics are written even when no frame comes) and retention (raw batches after
``raw_retention_s``, rollups after ``retention_s``; numbers of Unix seconds, so it works on
nx-27017, which has no TTL indexes, as on MongoDB)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from services.telemetry.ports import TelemetryPorts

log = logging.getLogger("k1.telemetry")


async def prune_once(ports: TelemetryPorts) -> int:
    """Delete what is past retention; returns how many raw frames went."""
    now, s, repo = ports.clock(), ports.settings, ports.devices.telemetry
    await repo.prune_rollups(now - s.retention_s)
    return await repo.prune(now - s.raw_keep_s)


def start_background(state):
    from services.telemetry.when_telemetry_received_store import flush_all

    ports = state.ports

    async def pruner() -> None:
        while True:
            try:
                if removed := await prune_once(ports):
                    log.info("pruned %d raw telemetry frames past retention", removed)
            except Exception:
                log.exception("telemetry prune failed; retrying next interval")
            await asyncio.sleep(ports.settings.prune_interval_s)

    async def flusher() -> None:
        while True:
            await asyncio.sleep(max(0.2, ports.settings.stats_interval_s))
            try:
                await flush_all(state)
            except Exception:
                log.exception("telemetry flush failed; retrying")

    tasks = [
        asyncio.create_task(pruner(), name="telemetry-prune"),
        asyncio.create_task(flusher(), name="telemetry-flush"),
    ]

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await flush_all(state, final=True)

    stop.started_s = time.time()  # type: ignore[attr-defined]
    return stop


start_pruner = start_background
