"""The telemetry service alone through RabbitMQ (``make bench-telemetry``).

Starts nx-27017 and, for each process count in ``--procs`` (default 1, 2, 4), a fresh vhost on
the local RabbitMQ, a fresh database and that many ``python -m services.telemetry`` processes
(``K1_TELEMETRY_REPLICAS``/``ORDINAL``: each owns its share of the 16 partitions). This
process plays the gateways: ``--devices`` devices at ``--rate-hz`` each, frames batched per
partition every ``K1_DEVICE_BATCH_INTERVAL_S`` (0.2 s; ``--batch-interval-s``) exactly as
``services.gateway.devices.batcher`` publishes them (persistent, publisher confirms). For
``--seconds`` it offers that load, then stops and waits for the queues
to drain (bounded), stops the processes (SIGTERM: they write what they hold) and checks the
ledger: frames sent = raw frames stored = frames counted in the per-second rollups.

Reported per process count: frames/s stored and counted (frames over first send → drained, or
→ the end of ``--drain-s`` if the queues never drained: then the rest is still queued),
lag from gateway receipt to counted in drift statistics (P50/P99, from the processes'
``k1_telemetry_lag_seconds`` histograms), queue depth over time, RSS and CPU seconds per
process (CPU µs per frame: the per-process cost that predicts scaling). Loopback only.
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import msgspec

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from contracts.topology import (  # noqa: E402
    EVENTS_EXCHANGE,
    TELEMETRY_PARTITIONS,
    telemetry_partition,
    telemetry_routing_key,
)
from infra.embedded import free_port, start_nx27017  # noqa: E402
from services.gateway.devices.config import DeviceSettings  # noqa: E402

DEFAULT_BATCH_INTERVAL_S = DeviceSettings.model_fields["batch_interval_s"].default
BATCH_INTERVAL_S = DEFAULT_BATCH_INTERVAL_S
"""The gateways' ``K1_DEVICE_BATCH_INTERVAL_S`` (``--batch-interval-s``)."""
_encode = msgspec.json.Encoder().encode


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def proc_stat(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return cpu, rss


def lag_histogram(port: int) -> dict[float, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("k1_telemetry_lag_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out


def quantile(hist: dict[float, float], q: float) -> float | None:
    """Upper bound of the bucket holding quantile ``q`` (a histogram's honest answer)."""
    total = max(hist.values(), default=0)
    if not total:
        return None
    for le in sorted(hist):
        if hist[le] >= q * total:
            return le
    return None


class Gateways:
    """Publishes ``devices`` × ``rate_hz`` frames/s as partitioned ``device.telemetry``."""

    def __init__(self, url: str, devices: int, rate_hz: float) -> None:
        self.url, self.rate_hz = url, rate_hz
        self.devices = [f"bench-{i:05d}" for i in range(devices)]
        self.part = {d: telemetry_partition(d) for d in self.devices}
        self.sent = 0
        self.seq = dict.fromkeys(self.devices, 0)

    async def run(self, seconds: float) -> None:
        conn = await aio_pika.connect(self.url)
        async with conn:
            channel = await conn.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(EVENTS_EXCHANGE)
            per_tick = len(self.devices) * self.rate_hz * BATCH_INTERVAL_S
            cursor, owed, start = 0, 0.0, time.monotonic()
            tick = 0
            while time.monotonic() - start < seconds:
                owed += per_tick
                count, owed = int(owed), owed - int(owed)
                chosen = [self.devices[(cursor + i) % len(self.devices)] for i in range(count)]
                cursor = (cursor + count) % len(self.devices)
                await self._publish(exchange, chosen)
                tick += 1
                pause = start + tick * BATCH_INTERVAL_S - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)

    async def _publish(self, exchange, devices: list[str]) -> None:
        now = datetime.now(UTC)
        by_part: dict[int, list[dict]] = {}
        for i, d in enumerate(devices):
            self.seq[d] += 1
            by_part.setdefault(self.part[d], []).append(
                {
                    "device_id": d,
                    "drift_ms": ((i * 37) % 41) - 20.0 + (90.0 if i % 5000 == 7 else 0.0),
                    "cpu_pct": 20.0,
                    "temperature_c": 40.0,
                    "track_id": "bench-track",
                    "position_ms": 1000.0,
                    "seq": self.seq[d],
                    "deployment_id": "bench-deployment",
                    "received_at": now,
                }
            )
        sends = []
        for p, rows in by_part.items():
            event_id = uuid.uuid4().hex
            body = _encode(
                {
                    "event_id": event_id,
                    "schema_version": 1,
                    "occurred_at": now,
                    "trace": {},
                    "gateway_id": "gw-bench",
                    "frames": rows,
                    "partition": p,
                }
            )
            message = aio_pika.Message(
                body,
                message_id=event_id,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            sends.append(exchange.publish(message, routing_key=telemetry_routing_key(p)))
        await asyncio.gather(*sends)
        self.sent += len(devices)


async def queue_depth(vhost: str) -> int:
    """Messages in the partition queues, ready and unacked (what is not done yet)."""
    done = await asyncio.create_subprocess_exec(
        "rabbitmqctl",
        "-q",
        "list_queues",
        "-p",
        vhost,
        "name",
        "messages",
        "--formatter",
        "json",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await done.communicate()
    rows = json.loads(out or b"[]")
    names = {f"telemetry.{telemetry_routing_key(p)}" for p in range(TELEMETRY_PARTITIONS)}
    return sum(int(r["messages"]) for r in rows if r["name"] in names)


def start_procs(n: int, env: dict[str, str]) -> list[tuple[subprocess.Popen, int]]:
    procs = []
    for i in range(n):
        port = free_port()
        e = {
            **env,
            "K1_HEALTH_PORT": str(port),
            "K1_TELEMETRY_REPLICAS": str(n),
            "K1_TELEMETRY_ORDINAL": str(i),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.telemetry"],
            cwd=ROOT,
            env=e,
            stdout=subprocess.DEVNULL,
            stderr=open(env["K1_BENCH_LOG"], "ab"),  # noqa: SIM115
        )
        procs.append((proc, port))
    deadline = time.monotonic() + 60
    for proc, port in procs:
        while True:
            with contextlib.suppress(Exception):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("a telemetry process did not become ready (see the log)")
            time.sleep(0.3)
    return procs


async def ledger(mongo_url: str, database: str) -> dict[str, int]:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient = AsyncMongoClient(mongo_url)
    db = client[database]
    stored = sum([d["n"] async for d in db["telemetry_raw"].find({}, {"n": 1})])
    counted = sum([sum(d["n"]) async for d in db["drift_rollups"].find({}, {"n": 1})])
    await client.close()
    return {"frames_stored": stored, "frames_counted": counted}


async def run_one(args, n: int, mongo_url: str, log: Path) -> dict:
    vhost, database = f"k1bench-{uuid.uuid4().hex[:8]}", f"bench_{uuid.uuid4().hex[:8]}"
    _ctl("add_vhost", vhost)
    _ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    url = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    env = {
        **os.environ,
        "K1_AMQP_URL": url,
        "K1_MONGODB_URL": mongo_url,
        "K1_MONGODB_DATABASE": database,
        "K1_DATA_DIR": tempfile.mkdtemp(prefix="k1-bench-tel-"),
        "K1_JWT_SECRET": secrets.token_urlsafe(48),
        "K1_DEV_MODE": "true",
        "K1_LOG_LEVEL": "WARNING",
        "K1_BENCH_LOG": str(log),
    }
    procs = start_procs(n, env)
    try:
        before = [proc_stat(p.pid) for p, _ in procs]
        gw = Gateways(url, args.devices, args.rate_hz)
        depth: list[tuple[float, int]] = []
        t0 = time.monotonic()

        async def sample() -> None:
            while True:
                depth.append((round(time.monotonic() - t0, 1), await queue_depth(vhost)))
                await asyncio.sleep(1.0)

        sampler = asyncio.create_task(sample())
        await gw.run(args.seconds)
        sent_s = time.monotonic() - t0
        # drained = every frame sent is stored (RabbitMQ's queue figures lag up to 5 s)
        stored = 0
        while time.monotonic() - t0 < args.seconds + args.drain_s:
            stored = (await ledger(mongo_url, database))["frames_stored"]
            if stored >= gw.sent:
                break
            await asyncio.sleep(0.2)
        drained_s = time.monotonic() - t0
        sampler.cancel()
        left = gw.sent - stored
        after = [proc_stat(p.pid) for p, _ in procs]
        hist: dict[float, float] = {}
        for _, port in procs:
            for le, c in lag_histogram(port).items():
                hist[le] = hist.get(le, 0) + c
    finally:
        for proc, _ in procs:
            proc.send_signal(signal.SIGTERM)
        for proc, _ in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        with contextlib.suppress(Exception):
            _ctl("delete_vhost", vhost)
    books = await ledger(mongo_url, database)
    cpu = [round(a[0] - b[0], 2) for a, b in zip(after, before, strict=True)]
    stored, drained = books["frames_stored"], left == 0
    return {
        "procs": n,
        "offered_frames_per_s": round(gw.sent / sent_s),
        "frames_per_s": round(stored / drained_s),
        "kept_up": drained and drained_s - sent_s < 1.0,
        "drain_s": round(drained_s - sent_s, 1),
        "lag_p50_s": quantile(hist, 0.5),
        "lag_p99_s": quantile(hist, 0.99),
        "queue_batches": depth,
        "rss_mb": [round(a[1], 1) for a in after],
        "cpu_s": cpu,
        "cpu_us_per_frame": round(1e6 * sum(cpu) / max(1, stored), 1),
        "frames_sent": gw.sent,
        **books,
        "frames_still_queued": gw.sent - stored,
        # nothing lost or counted twice: every stored frame counted once; once drained,
        # every frame sent stored (else the rest is still queued, durably)
        "nothing_lost": stored == books["frames_counted"] and (not drained or stored == gw.sent),
    }


async def main_async(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="k1-bench-telemetry-"))
    nx = start_nx27017(port=free_port(), data_dir=tmp / "nx", log_file=tmp / "nx.log")
    results = []
    try:
        for n in args.procs:
            result = await run_one(args, n, nx.url, tmp / "telemetry.log")
            print(
                f"[bench] {n} process(es): {result['frames_per_s']} frames/s counted of "
                f"{result['offered_frames_per_s']} offered, lag P50 {result['lag_p50_s']} s "
                f"P99 {result['lag_p99_s']} s, CPU {result['cpu_s']} s, "
                f"RSS {result['rss_mb']} MB, ledger ok={result['nothing_lost']}",
                flush=True,
            )
            results.append(result)
    finally:
        nx.stop()
    one = next((r for r in results if r["procs"] == 1), None)
    two = next((r for r in results if r["procs"] == 2), None)
    return {
        "bench": "telemetry",
        "devices": args.devices,
        "rate_hz": args.rate_hz,
        "batch_interval_s": BATCH_INTERVAL_S,
        "seconds": args.seconds,
        "cores": os.cpu_count(),
        "loadavg_start": os.getloadavg()[0],
        "results": results,
        "scaling_2_vs_1": round(two["frames_per_s"] / one["frames_per_s"], 2)
        if one and two
        else None,
        "nothing_lost": all(r["nothing_lost"] for r in results),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--rate-hz", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=20.0, help="load per process count")
    parser.add_argument("--drain-s", type=float, default=40.0, help="longest wait to drain")
    parser.add_argument(
        "--batch-interval-s",
        type=float,
        default=DEFAULT_BATCH_INTERVAL_S,
        help="how often the simulated gateways publish (their K1_DEVICE_BATCH_INTERVAL_S)",
    )
    parser.add_argument("--procs", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4])
    args = parser.parse_args(argv)
    global BATCH_INTERVAL_S
    BATCH_INTERVAL_S = args.batch_interval_s
    out = asyncio.run(main_async(args))
    print(json.dumps(out, separators=(",", ":")), flush=True)
    return 0 if out["nothing_lost"] else 1


if __name__ == "__main__":
    sys.exit(main())
