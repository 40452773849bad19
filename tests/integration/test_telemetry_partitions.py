"""Telemetry partitioned by device on real RabbitMQ and nx-27017, with real telemetry processes
(``python -m services.telemetry``): a device's frames always reach the process that owns its
partition, also after that process restarts; a process killed mid-stream (SIGKILL) loses no
frame and counts none twice once another one takes its partitions over."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import msgspec
import pytest
from pymongo import AsyncMongoClient

from contracts.topology import EVENTS_EXCHANGE, telemetry_partition, telemetry_routing_key
from infra.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
DEVICES = [f"part-{i:03d}" for i in range(40)]


class Telemetry:
    """Telemetry processes of one test (a vhost, a database), started and stopped at will."""

    def __init__(self, amqp_url: str, mongo_url: str, database: str, tmp: Path) -> None:
        self.env = {
            **os.environ,
            "K1_AMQP_URL": amqp_url,
            "K1_MONGODB_URL": mongo_url,
            "K1_MONGODB_DATABASE": database,
            "K1_DATA_DIR": str(tmp),
            "K1_JWT_SECRET": secrets.token_urlsafe(48),
            "K1_DEV_MODE": "true",
            "K1_LOG_LEVEL": "WARNING",
            "K1_TELEMETRY_STATS_INTERVAL_S": "0.5",
        }
        self.procs: list[subprocess.Popen] = []

    def start(self, ordinal: int, replicas: int) -> subprocess.Popen:
        return self.start_many([(ordinal, replicas)])[0]

    def start_many(self, shares: list[tuple[int, int]]) -> list[subprocess.Popen]:
        """Start processes with these (ordinal, replicas) at once; return when all are ready."""
        started = []
        for ordinal, replicas in shares:
            port = free_port()
            env = {
                **self.env,
                "K1_HEALTH_PORT": str(port),
                "K1_TELEMETRY_ORDINAL": str(ordinal),
                "K1_TELEMETRY_REPLICAS": str(replicas),
            }
            proc = subprocess.Popen([sys.executable, "-m", "services.telemetry"], cwd=ROOT, env=env)
            self.procs.append(proc)
            started.append((proc, port))
        deadline = time.monotonic() + 60
        for proc, port in started:
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2)
                    break
                except OSError:
                    assert proc.poll() is None, "telemetry exited at start"
                    assert time.monotonic() < deadline, "telemetry not ready in 60 s"
                    time.sleep(0.1)
        return [proc for proc, _ in started]

    @staticmethod
    def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
        proc.send_signal(sig)
        proc.wait(timeout=30)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


class Gateway:
    """Publishes partitioned batches as the gateway's batcher does, and keeps the books."""

    def __init__(self, url: str) -> None:
        self.url, self.sent = url, dict.fromkeys(DEVICES, 0)

    async def stream(self, seconds: float, *, batches_per_s: float = 20) -> None:
        conn = await aio_pika.connect(self.url)
        async with conn:
            channel = await conn.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(EVENTS_EXCHANGE)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                await self._tick(exchange)
                await asyncio.sleep(1 / batches_per_s)

    async def _tick(self, exchange) -> None:
        now, by_part = datetime.now(UTC), dict[int, list[dict]]()
        for device in DEVICES:
            self.sent[device] += 1
            frame = {
                "device_id": device,
                "drift_ms": float(self.sent[device] % 30),
                "cpu_pct": 5.0,
                "temperature_c": 30.0,
                "seq": self.sent[device],
                "received_at": now,
            }
            by_part.setdefault(telemetry_partition(device), []).append(frame)
        for p, frames in by_part.items():
            event_id = uuid.uuid4().hex
            body = msgspec.json.encode(
                {"event_id": event_id, "gateway_id": "gw-t", "frames": frames, "partition": p}
            )
            await exchange.publish(
                aio_pika.Message(body, message_id=event_id, delivery_mode=2),
                routing_key=telemetry_routing_key(p),
            )


async def _books(mongo_url: str, database: str) -> tuple[dict, dict, dict]:
    """Frames stored (raw) and counted (rollups) per device, and who stored each device."""
    client: AsyncMongoClient = AsyncMongoClient(mongo_url)
    db = client[database]
    stored: dict[str, int] = {}
    owners: dict[str, set[str]] = {}
    async for doc in db["telemetry_raw"].find({}):
        for device, count in zip(doc["devices"], doc["device_counts"], strict=True):
            stored[device] = stored.get(device, 0) + count
            owners.setdefault(device, set()).add(doc["stored_by"])
    counted: dict[str, int] = {}
    async for doc in db["drift_rollups"].find({}):
        counted[doc["device_id"]] = counted.get(doc["device_id"], 0) + sum(doc["n"])
    await client.close()
    return stored, counted, owners


async def _until_stored(mongo_url: str, database: str, sent: dict, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while (await _books(mongo_url, database))[0] != sent:
        assert time.monotonic() < deadline, "frames were not all stored in time"
        await asyncio.sleep(0.3)


@pytest.fixture
def telemetry(rabbit_vhost, nx_url, mongo_db_name, tmp_path):
    procs = Telemetry(rabbit_vhost.url, nx_url, mongo_db_name, tmp_path)
    yield procs
    procs.close()


def _pid_of(owner: str) -> int:
    return int(owner.rsplit(":", 1)[1])


async def test_a_devices_frames_reach_its_partitions_owner_also_after_a_restart(
    telemetry, rabbit_vhost, nx_url, mongo_db_name
):
    first = telemetry.start_many([(0, 2), (1, 2)])
    gateway = Gateway(rabbit_vhost.url)
    await gateway.stream(1.0)
    await _until_stored(nx_url, mongo_db_name, gateway.sent)
    _, _, owners = await _books(nx_url, mongo_db_name)
    for device in DEVICES:  # one process each, the one whose share holds the partition
        assert {_pid_of(o) for o in owners[device]} == {first[telemetry_partition(device) % 2].pid}

    telemetry.stop(first[0])
    again = telemetry.start(0, 2)
    await gateway.stream(1.0)
    await _until_stored(nx_url, mongo_db_name, gateway.sent)
    _, _, owners = await _books(nx_url, mongo_db_name)
    for device in DEVICES:
        expected = {first[1].pid} if telemetry_partition(device) % 2 else {first[0].pid, again.pid}
        assert {_pid_of(o) for o in owners[device]} == expected
    for proc in (again, first[1]):
        telemetry.stop(proc)
    stored, counted, _ = await _books(nx_url, mongo_db_name)
    assert stored == counted == gateway.sent


async def test_a_process_killed_mid_stream_loses_nothing_and_counts_nothing_twice(
    telemetry, rabbit_vhost, nx_url, mongo_db_name
):
    victim = telemetry.start(0, 1)
    gateway = Gateway(rabbit_vhost.url)
    streaming = asyncio.create_task(gateway.stream(3.0))
    await asyncio.sleep(1.0)
    telemetry.stop(victim, signal.SIGKILL)  # mid-stream: batches in flight, chunks unwritten
    successor = telemetry.start(0, 1)  # takes every partition over, rebuilding from storage
    await streaming
    await _until_stored(nx_url, mongo_db_name, gateway.sent)
    telemetry.stop(successor)  # writes the chunks it holds
    stored, counted, owners = await _books(nx_url, mongo_db_name)
    assert stored == counted == gateway.sent
    assert {_pid_of(o) for os_ in owners.values() for o in os_} == {victim.pid, successor.pid}
