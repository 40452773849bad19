"""The timeout sweep: devices that did not answer within their deployment's timeout are
``timed_out`` (guarded, so several deployers may sweep at once); their deployments complete."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.deployer.offers import complete_if_settled
from services.deployer.ports import DeployerPorts

log = logging.getLogger("k1.deployer")
WAITING = ("pending", "delivered")


async def sweep_once(ports: DeployerPorts) -> int:
    """Time out every expired device; returns how many moved."""
    repo = ports.devices.deployments
    moved, touched = 0, set()
    for target in await repo.expired(ports.clock(), WAITING):
        done = await repo.move(
            target.deployment_id,
            target.device_id,
            to="timed_out",
            from_states=[target.state],
            reason=f"no answer within the deployment's timeout (attempt {target.attempt})",
        )
        if done is not None:
            moved += 1
            touched.add(target.deployment_id)
    for deployment_id in sorted(touched):
        await complete_if_settled(ports, deployment_id)
    return moved


async def sweep_forever(ports: DeployerPorts) -> None:
    while True:
        await asyncio.sleep(ports.settings.sweep_interval_s)
        try:
            if moved := await sweep_once(ports):
                log.info("timed out %d device deliveries", moved)
        except Exception:  # the next sweep tries again; nothing is lost
            log.exception("timeout sweep failed")


def start_sweeper(ports: DeployerPorts):
    """Start the sweep loop; returns an async ``stop``."""
    task = asyncio.create_task(sweep_forever(ports), name="deployer-timeouts")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop
