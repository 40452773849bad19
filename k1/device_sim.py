"""Simulated K1 devices: real WebSocket clients of ``/ws/telemetry/{device_id}``.

Each device authenticates with its token, sends telemetry at ``rate_hz`` (drift = the
configured drift plus Gaussian jitter; position = its local play clock), and on an offer
downloads the bundle, verifies it (``decode_bundle``: magic, length, CRC32; and the offer's CRC
and size), answers ``bundle_ack`` and starts "playing" it. It reconnects when its socket drops.
One asyncio loop runs many devices; ``run_fleet_processes`` splits a big fleet over processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import random
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
import websockets

from contracts.bundle import BundleError, decode_bundle


@dataclass
class SimConfig:
    api_url: str
    rate_hz: float = 2.0
    drift_ms: float = 0.0
    jitter_ms: float = 2.0
    duration_s: float | None = None
    reconnect: bool = True
    corrupt: bool = False
    """Flip a byte of every downloaded bundle (the CRC check must fail)."""
    send_telemetry: bool = True

    @property
    def ws_base(self) -> str:
        return self.api_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)


@dataclass
class DeviceStats:
    sent: int = 0
    acked: int = 0
    errors: list[str] = field(default_factory=list)
    ack_latencies_s: list[float] = field(default_factory=list)
    connects: int = 0
    closes: list[int] = field(default_factory=list)
    deployments: dict[str, dict] = field(default_factory=dict)
    """deployment id -> {ok, reason, track_id, crc32}."""


class SimDevice:
    def __init__(self, device_id: str, token: str, cfg: SimConfig, http: httpx.AsyncClient) -> None:
        self.device_id, self.token, self.cfg, self.http = device_id, token, cfg, http
        self.stats = DeviceStats()
        self.playing: dict | None = None
        self.latency_offset_ms = 0
        self.drift_ms = cfg.drift_ms
        self._seq = 0
        self._sent_at: dict[int, float] = {}

    @property
    def url(self) -> str:
        return f"{self.cfg.ws_base}/ws/telemetry/{self.device_id}"

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        while not stop.is_set():
            try:
                async with websockets.connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {self.token}"},
                    open_timeout=20,
                    ping_interval=20,
                    ping_timeout=20,
                    max_size=1 << 20,
                    compression=None,
                ) as ws:
                    self.stats.connects += 1
                    backoff = 0.2
                    await self._session(ws, stop)
            except websockets.ConnectionClosed as exc:
                self.stats.closes.append(exc.rcvd.code if exc.rcvd else 1006)
                if exc.rcvd and exc.rcvd.code == 1008:
                    return  # refused: retrying cannot help
            except (TimeoutError, OSError, websockets.InvalidStatus):
                pass
            if not self.cfg.reconnect:
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, 5.0)

    async def _session(self, ws, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(self._reader(ws))]
        if self.cfg.send_telemetry:
            tasks.append(asyncio.create_task(self._sender(ws)))
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                failure = None if task is stopper else task.exception()
                if failure is not None:
                    raise failure
        finally:
            for task in (*tasks, stopper):
                task.cancel()
            if stop.is_set():
                await ws.close()

    async def _sender(self, ws) -> None:
        period = 1.0 / self.cfg.rate_hz
        await asyncio.sleep(random.random() * period)
        next_at = time.monotonic()
        while True:
            await ws.send(self.frame())
            next_at += period
            delay = next_at - time.monotonic()
            if delay < -1.0:
                next_at = time.monotonic()
            await asyncio.sleep(max(0.0, delay))

    def frame(self, drift_ms: float | None = None) -> str:
        self._seq += 1
        self._sent_at[self._seq] = time.perf_counter()
        self.stats.sent += 1
        drift = self.drift_ms if drift_ms is None else drift_ms
        drift += random.gauss(0.0, self.cfg.jitter_ms) if self.cfg.jitter_ms else 0.0
        body = {
            "type": "telemetry",
            "seq": self._seq,
            "drift_ms": round(drift, 3),
            "cpu_pct": round(20 + random.random() * 10, 1),
            "temperature_c": round(40 + random.random() * 5, 1),
        }
        if self.playing:
            body.update(
                track_id=self.playing["track_id"],
                deployment_id=self.playing["deployment_id"],
                position_ms=self._position_ms(),
            )
        return json.dumps(body)

    def _position_ms(self) -> float:
        assert self.playing is not None
        elapsed = (time.monotonic() - self.playing["started"]) * 1000.0
        return round(elapsed % max(1.0, self.playing["duration_ms"]), 1)

    async def _reader(self, ws) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            kind = msg.get("type")
            if kind == "ack":
                sent = self._sent_at.pop(msg["seq"], None)
                self.stats.acked += 1
                if sent is not None:
                    self.stats.ack_latencies_s.append(time.perf_counter() - sent)
            elif kind == "hello":
                self.latency_offset_ms = int(msg.get("latency_offset_ms", 0))
            elif kind == "offer":
                asyncio.create_task(self._take_offer(ws, msg))
            elif kind == "error":
                self.stats.errors.append(msg.get("code", "?"))

    async def _take_offer(self, ws, offer: dict) -> None:
        ok, reason, bundle = await self._fetch(offer)
        self.stats.deployments[offer["deployment_id"]] = {
            "ok": ok,
            "reason": reason,
            "track_id": offer["track_id"],
            "crc32": offer["crc32"],
        }
        if ok:
            self.latency_offset_ms = int(offer.get("latency_offset_ms", 0))
            self.playing = {
                "deployment_id": offer["deployment_id"],
                "track_id": offer["track_id"],
                "started": time.monotonic(),
                "duration_ms": bundle.duration_ms,
            }
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send(
                json.dumps(
                    {
                        "type": "bundle_ack",
                        "deployment_id": offer["deployment_id"],
                        "ok": ok,
                        "reason": reason[:500],
                    }
                )
            )

    async def _fetch(self, offer: dict):
        try:
            response = await self.http.get(offer["bundle_url"], timeout=30)
            response.raise_for_status()
            data = bytearray(response.content)
        except httpx.HTTPError as exc:
            return False, f"download failed: {type(exc).__name__}", None
        if self.cfg.corrupt and len(data) > 100:
            data[len(data) // 2] ^= 0xFF
        try:
            bundle = decode_bundle(bytes(data))
        except BundleError as exc:
            return False, str(exc), None
        (crc,) = struct.unpack_from("<I", data, len(data) - 4)
        if crc != offer["crc32"] or len(data) != offer["size"]:
            return False, f"not the offered bundle: crc {crc:08x} size {len(data)}", None
        return True, "", bundle


async def run_fleet(
    devices: list[tuple[str, str]],
    cfg: SimConfig,
    *,
    stop: asyncio.Event | None = None,
    on_start=None,
) -> list[SimDevice]:
    """Run ``(device_id, token)`` devices until ``stop`` is set or ``cfg.duration_s`` passes."""
    stop = stop or asyncio.Event()
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=50)) as http:
        sims = [SimDevice(d, t, cfg, http) for d, t in devices]
        tasks = [asyncio.create_task(s.run(stop)) for s in sims]
        if on_start is not None:
            on_start(sims)
        if cfg.duration_s is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), cfg.duration_s)
            stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    return sims


def summary(sims: Sequence[SimDevice]) -> dict:
    lat = sorted(x for s in sims for x in s.stats.ack_latencies_s)

    def pct(p: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000, 2) if lat else None

    return {
        "devices": len(sims),
        "sent": sum(s.stats.sent for s in sims),
        "acked": sum(s.stats.acked for s in sims),
        "errors": sum(len(s.stats.errors) for s in sims),
        "ack_p50_ms": pct(50),
        "ack_p99_ms": pct(99),
        "deployments": {s.device_id: s.stats.deployments for s in sims if s.stats.deployments},
    }


def _process_main(devices, cfg, queue) -> None:
    sims = asyncio.run(run_fleet(devices, cfg))
    queue.put(summary(sims))


def run_fleet_processes(
    devices: list[tuple[str, str]], cfg: SimConfig, *, processes: int
) -> list[dict]:
    """Split the fleet over ``processes`` processes (one loop each); their summaries."""
    if processes <= 1:
        return [summary(asyncio.run(run_fleet(devices, cfg)))]
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_process_main, args=(devices[i::processes], cfg, queue))
        for i in range(processes)
    ]
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    return results


class FleetThread:
    """A fleet running on its own event loop in a background thread (``make run``, tests)."""

    def __init__(self, devices: list[tuple[str, str]], cfg: SimConfig) -> None:
        import threading

        self.devices, self.cfg = devices, cfg
        self.sims: list[SimDevice] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True, name="k1-fleet")

    def _main(self) -> None:
        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()

            def started(sims: list[SimDevice]) -> None:
                self.sims = sims
                self._started.set()

            await run_fleet(self.devices, self.cfg, stop=self._stop, on_start=started)

        asyncio.run(main())

    def start(self) -> FleetThread:
        self._thread.start()
        self._started.wait(10)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)

    def outcome(self, device_id: str, deployment_id: str) -> dict | None:
        for sim in self.sims:
            if sim.device_id == device_id:
                return sim.stats.deployments.get(deployment_id)
        return None
