"""A worker's /readyz stays red until its consumers are attached: its health server starts
first (so liveness answers during a slow start), and readiness must not send it traffic — or
tell an operator a rollout is done — while no consumer is on its queues yet."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid

import httpx
import pytest

from infra.embedded import free_port
from infra.runtime import serve_worker
from infra.settings import Settings

pytestmark = pytest.mark.integration


async def _readyz(port: int) -> httpx.Response | None:
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            return await client.get(f"http://127.0.0.1:{port}/readyz")
    except httpx.HTTPError:
        return None


async def test_readyz_turns_green_only_after_the_consumers_are_attached(
    rabbit_vhost, nx_url, tmp_path
):
    port = free_port()
    settings = Settings(
        amqp_url=rabbit_vhost.url,
        mongodb_url=nx_url,
        mongodb_database=f"ready_{uuid.uuid4().hex[:8]}",
        s3_endpoint=None,
        data_dir=tmp_path / "objects",
        health_host="127.0.0.1",
        health_port=port,
        shutdown_grace_s=5,
        jwt_secret=secrets.token_urlsafe(48),
    )
    attaching, attach = asyncio.Event(), asyncio.Event()

    async def register(infra):
        real_start = infra.broker.start

        async def slow_start():  # the broker is up; the consumers are about to be attached
            await infra.broker.connect()
            attaching.set()
            await attach.wait()
            await real_start()

        infra.broker.start = slow_start
        return None

    stop = asyncio.Event()
    worker = asyncio.create_task(serve_worker("validator", register, settings=settings, stop=stop))
    try:
        await asyncio.wait_for(attaching.wait(), timeout=30)
        before = await _readyz(port)
        assert before is not None and before.status_code == 503
        checks = before.json()["checks"]
        assert checks["consumers"].startswith("down")
        assert checks["rabbitmq"] == checks["mongodb"] == checks["objects"] == "ok"
        attach.set()
        deadline = time.monotonic() + 30
        while (after := await _readyz(port)) is None or after.status_code != 200:
            assert time.monotonic() < deadline, after and after.text
            await asyncio.sleep(0.05)
        assert after.json()["checks"]["consumers"] == "ok"
    finally:
        attach.set()
        stop.set()
        await asyncio.wait_for(worker, timeout=30)
