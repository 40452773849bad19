"""Device WebSockets on one gateway process vs a bare Litestar echo endpoint (``make bench-ws``).

Starts nx-27017, a private RabbitMQ vhost and ONE gateway process (``python -m
services.gateway``), registers ``--devices`` devices straight into the document store, and
connects them from ``--procs`` load-generator processes (one asyncio loop each, a minimal
asyncio-protocol WebSocket client costing a few µs per frame) on loopback:

1. rate phase: every device sends telemetry so the fleet offers ``--rate`` frames/s in all;
   sustained frames/s (acks received), ack latency P50/P99 (send → ack, per client clock), and
   — from a probe device and a ``/ws/monitor`` client in this process — drift-alert latency
   (frame sent → alert received on the dashboard socket);
2. saturation phase: every device keeps one frame in flight (send, wait for its ack, repeat):
   the most frames/s the endpoint sustains.

The same two phases then run against ``tools/bench/echo_app.py`` (a bare Litestar echo on the
same uvicorn settings) as the ceiling; the ratio is gateway saturation / echo saturation.
Gateway memory per connection is the rise of its RSS while the devices connect. Every phase is
bounded in time. Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import multiprocessing as mp
import os
import random
import resource
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a file (make bench-*): the project's imports follow (E402)

from infra.auth import issue_token  # noqa: E402

SECRET = secrets.token_urlsafe(48)
"""A fresh JWT secret per run: the gateway runs with production settings (no K1_DEV_MODE)."""
THRESHOLD_MS = 50.0


# ---------------------------------------------------------------------------- load generator


class _Client(asyncio.Protocol):
    """A minimal WebSocket client (RFC 6455 text frames, zero mask key) on an asyncio
    protocol: a few microseconds per frame, so the load generator is not what limits the
    figure. Only what the bench needs: handshake, text frames out, text/ping/close in."""

    def __init__(self, host, path, token, on_text):
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            + (f"Authorization: Bearer {token}\r\n" if token else "")
            + "\r\n"
        ).encode()
        self.on_text = on_text
        self.buffer = bytearray()
        self.opened = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc):
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))

    def data_received(self, data):
        self.buffer += data
        if not self.opened.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            del self.buffer[: end + 4]
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                self.opened.set_exception(ConnectionError(head[:80].decode(errors="replace")))
                return
            self.opened.set_result(None)
        self._frames()

    def _frames(self):
        buf = self.buffer
        while len(buf) >= 2:
            opcode, length, offset = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, offset = struct.unpack_from(">H", buf, 2)[0], 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, offset = struct.unpack_from(">Q", buf, 2)[0], 10
            if len(buf) < offset + length:
                return
            payload = bytes(buf[offset : offset + length])
            del buf[: offset + length]
            if opcode == 1:
                self.on_text(payload)
            elif opcode == 9:
                self._send(0x8A, payload)
            elif opcode == 8 and self.transport is not None:
                self.transport.close()

    def _send(self, first, data):
        assert self.transport is not None, "frames are sent only once the connection is made"
        n = len(data)
        head = (
            bytes((first, 0x80 | n))
            if n < 126
            else bytes((first, 0x80 | 126)) + struct.pack(">H", n)
        )
        self.transport.write(head + b"\0\0\0\0" + data)

    def send_text(self, data: bytes):
        self._send(0x81, data)

    def close(self):
        if self.transport is not None and not self.transport.is_closing():
            self._send(0x88, struct.pack(">H", 1000))
            self.transport.close()


def _seq_of(payload: bytes):
    at = payload.find(b'"seq":')
    if at < 0:
        return None
    end = at + 6
    while end < len(payload) and 48 <= payload[end] <= 57:
        end += 1
    return int(payload[at + 6 : end])


async def _device(base, device_id, token, plan, out, sem):
    host, port = base.removeprefix("ws://").split(":")
    sent_at: dict[int, float] = {}
    acked = asyncio.Event()
    seq = 0
    first: dict[str, int] = {}  # first seq sent in each labelled phase

    def on_text(payload: bytes):
        got = _seq_of(payload)
        if got is None:
            if b'"error"' in payload:
                out["errors"] += 1
            return
        now = time.perf_counter()
        t = sent_at.pop(got, None)
        label = plan["label"]
        start = first.get(label)
        if start is not None and got >= start:  # only frames sent in this phase: no backlog
            out["acks"][label] = out["acks"].get(label, 0) + 1
            if label == "rate" and t is not None and len(out["lat"]) < 200_000:
                out["lat"].append(now - t)
        acked.set()

    loop = asyncio.get_running_loop()
    async with sem:  # connect a few at a time, like a fleet coming online
        _, client = await loop.create_connection(
            lambda: _Client(f"{host}:{port}", f"/ws/telemetry/{device_id}", token, on_text),
            host,
            int(port),
        )
        await asyncio.wait_for(client.opened, 60)
    out["connected"] += 1

    def frame():
        nonlocal seq
        seq += 1
        sent_at[seq] = time.perf_counter()
        first.setdefault(plan["label"], seq)
        return (
            b'{"type":"telemetry","seq":%d,"drift_ms":%.2f,"cpu_pct":20.0,'
            b'"temperature_c":40.0}' % (seq, random.gauss(0, 3))
        )

    period = plan["devices"] / plan["rate"]
    try:
        while (label := plan["label"]) != "done":
            if label in ("warm", "rate"):  # open loop at the offered rate, warm-up included
                next_at = time.monotonic() + random.random() * period
                while plan["label"] in ("warm", "rate"):
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                    next_at += period
                    if plan["label"] in ("warm", "rate"):
                        client.send_text(frame())
            elif label.startswith("sat"):  # closed loop: one frame in flight
                while plan["label"] == label:
                    acked.clear()
                    client.send_text(frame())
                    await asyncio.wait_for(acked.wait(), 10)
            else:
                await plan["changed"].wait()
    except Exception:
        out["failed"] += 1
    finally:
        client.close()


class _Counts(TypedDict):
    """What one load process measured, sent back to the parent."""

    connected: int
    acks: dict[str, int]
    lat: list[float]
    errors: int
    failed: int


async def _load(base, devices, plan_args, conn):
    plan = {"label": "idle", "changed": asyncio.Event(), **plan_args}
    out: _Counts = {"connected": 0, "acks": {}, "lat": [], "errors": 0, "failed": 0}
    sem = asyncio.Semaphore(50)

    tasks = [asyncio.create_task(_device(base, d, t, plan, out, sem)) for d, t in devices]
    while out["connected"] + out["failed"] < len(devices):
        await asyncio.sleep(0.05)
        if any(t.done() and t.exception() for t in tasks):
            out["failed"] = sum(1 for t in tasks if t.done() and t.exception())
    conn.send(("connected", out["connected"]))
    loop = asyncio.get_running_loop()
    while plan["label"] != "done":
        label = await loop.run_in_executor(None, conn.recv)  # the parent names each phase
        changed, plan["changed"] = plan["changed"], asyncio.Event()
        plan["label"] = label
        changed.set()
    await asyncio.wait(tasks, timeout=15)
    conn.send(("result", out))


def _load_main(base, devices, plan_args, conn):
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536))
    asyncio.run(_load(base, devices, plan_args, conn))


class Fleet:
    """``procs`` load processes driving ``devices`` against ``base`` (ws://host:port)."""

    def __init__(self, base, devices, *, procs, rate):
        ctx = mp.get_context("spawn")
        self.pipes, self.procs = [], []
        for i in range(procs):
            parent, child = ctx.Pipe()
            share = devices[i::procs]
            proc = ctx.Process(
                target=_load_main,
                daemon=True,
                args=(
                    base,
                    share,
                    {"rate": rate * len(share) / len(devices), "devices": len(share)},
                    child,
                ),
            )
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)

    def wait_connected(self, timeout_s):
        total = 0
        for pipe in self.pipes:
            if not pipe.poll(timeout_s):
                raise TimeoutError("devices did not connect in time")
            total += pipe.recv()[1]
        return total

    def phase(self, label):
        for pipe in self.pipes:
            pipe.send(label)

    def results(self, timeout_s=30):
        out = []
        for pipe, proc in zip(self.pipes, self.procs, strict=False):
            out.append(pipe.recv()[1] if pipe.poll(timeout_s) else {})
            proc.join(5)
            if proc.is_alive():
                proc.kill()
        return out


# ------------------------------------------------------------------------- alert probe


async def _alert_probe(base, device_id, token, viewer, until_s, samples):
    import websockets

    async with (
        websockets.connect(
            f"{base}/ws/monitor?token={viewer}", max_size=None, open_timeout=60
        ) as mon,
        websockets.connect(
            f"{base}/ws/telemetry/{device_id}",
            open_timeout=60,
            additional_headers={"Authorization": f"Bearer {token}"},
        ) as dev,
    ):
        await mon.recv()
        await dev.recv()
        sent: dict[int, float] = {}

        async def watch():
            async for raw in mon:
                msg = json.loads(raw)
                if msg.get("type") == "alert" and msg.get("device_id") == device_id:
                    t = sent.pop(msg.get("seq"), None)
                    if t is not None:
                        samples.append(time.perf_counter() - t)

        watcher = asyncio.create_task(watch())
        seq = 0
        while time.monotonic() < until_s:
            for drift in (1.0, 4 * THRESHOLD_MS):  # back in range, then out: a new episode
                seq += 1
                if drift > THRESHOLD_MS:
                    sent[seq] = time.perf_counter()
                await dev.send(json.dumps({"type": "telemetry", "seq": seq, "drift_ms": drift}))
                await asyncio.sleep(0.25)
        await asyncio.sleep(0.5)
        watcher.cancel()


# --------------------------------------------------------------------------------- set-up


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port, proc, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"port {port} did not open")


def _vhost():
    name = f"k1bench-{uuid.uuid4().hex[:8]}"
    try:
        subprocess.run(
            ["rabbitmqctl", "-q", "add_vhost", name], check=True, capture_output=True, timeout=60
        )
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return name, f"amqp://guest:guest@127.0.0.1:5672/{name}"
    except (OSError, subprocess.SubprocessError):
        return None, "amqp://guest:guest@127.0.0.1:5672/"


async def _register(mongo_url, database, n):
    from infra.docstore import MongoDocStore, utcnow_ms
    from infra.docstore_devices import DEVICES, NewDevice, new_device_doc

    docs = MongoDocStore.from_url(mongo_url, database)
    devices, rows = [], []
    now = utcnow_ms()
    for i in range(n + 1):
        device_id, token = f"bench-{i:05d}", f"k1d_bench_{uuid.uuid4().hex}"
        rows.append(
            new_device_doc(
                NewDevice(
                    device_id,
                    f"bench {i}",
                    "bench",
                    hashlib.sha256(token.encode()).hexdigest(),
                    drift_threshold_ms=THRESHOLD_MS,
                ),
                now,
            )
        )
        devices.append((device_id, token))
    collection = docs._client[database][DEVICES]
    for start in range(0, len(rows), 500):
        await collection.insert_many(rows[start : start + 500])
    await docs.close()
    return devices[:-1], devices[-1]


def _rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _pct(values, p):
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p / 100 * len(values)))] * 1000, 2)


# ------------------------------------------------------------------------------- one target


class Target:
    """One endpoint under load: its fleet, connection figures and per-phase durations."""

    def __init__(self, name, base, devices, args, pid=None):
        self.name, self.base, self.args, self.pid = name, base, args, pid
        rss0 = _rss_kb(pid) if pid else 0
        t0 = time.monotonic()
        self.fleet = Fleet(base, devices, procs=args.procs, rate=args.rate)
        self.connected = self.fleet.wait_connected(args.connect_timeout)
        self.connect_s = time.monotonic() - t0
        time.sleep(1.0)
        self.rss1 = _rss_kb(pid) if pid else 0
        self.rss_per_conn = (self.rss1 - rss0) / max(1, self.connected) if pid else None
        self.durations: dict[str, float] = {}
        print(
            f"  {name}: {self.connected}/{len(devices)} connected in {self.connect_s:.1f} s",
            flush=True,
        )

    def run(self, label, seconds, during=None):
        self.fleet.phase(label)
        started = time.monotonic()
        if during is not None:
            during()
        time.sleep(max(0.0, seconds - (time.monotonic() - started)))
        self.fleet.phase("idle")
        self.durations[label] = time.monotonic() - started

    def figures(self):
        self.fleet.phase("done")
        results = self.fleet.results()
        acks: dict[str, int] = {}
        for r in results:
            for label, n in r.get("acks", {}).items():
                acks[label] = acks.get(label, 0) + n
        fps = {label: acks.get(label, 0) / d for label, d in self.durations.items()}
        rounds = [v for k, v in fps.items() if k.startswith("sat")]
        lat = [x for r in results for x in r.get("lat", [])]
        return {
            "connected": self.connected,
            "connect_s": round(self.connect_s, 1),
            "sustained_fps": round(fps.get("rate", 0)),
            "ack_p50_ms": _pct(lat, 50),
            "ack_p99_ms": _pct(lat, 99),
            "max_fps": round(max(rounds, default=0)),
            "rounds_fps": [round(v) for v in rounds],
            "errors": sum(r.get("errors", 0) for r in results),
            "rss_kb_per_conn": (
                round(self.rss_per_conn, 1) if self.rss_per_conn is not None else None
            ),
            "rss_mb": round(self.rss1 / 1024, 1) if self.pid else None,
        }


def _probe(
    base: str, probe: tuple[str, str, str], seconds: float, alerts: list[float]
) -> Callable[[], None]:
    def run():
        try:
            asyncio.run(_alert_probe(base, *probe, time.monotonic() + seconds - 1, alerts))
        except Exception as exc:  # reported as no samples
            print(f"  alert probe failed: {type(exc).__name__}: {exc}", flush=True)

    return run


def _stop(proc, wait_s=15):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=5000, help="aggregate frames/s")
    parser.add_argument("--procs", type=int, default=3, help="load generator processes")
    parser.add_argument("--duration", type=float, default=15, help="rate phase, seconds")
    parser.add_argument("--saturate", type=float, default=4, help="saturation round, seconds")
    parser.add_argument("--rounds", type=int, default=3, help="saturation rounds per endpoint")
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--connect-timeout", type=float, default=120)
    parser.add_argument(
        "--profile", type=Path, help="run the gateway under cProfile into this file"
    )
    args = parser.parse_args()
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    from infra.embedded import start_nx27017

    tmp = Path(tempfile.mkdtemp(prefix="k1-bench-ws-"))
    vhost, amqp = _vhost()
    nx = start_nx27017(port=_free_port(), data_dir=tmp / "mongo", log_file=tmp / "nx.log")
    gateway = echo = None
    try:
        database = "benchws"
        devices, probe = asyncio.run(_register(nx.url, database, args.devices))
        port = _free_port()
        env = {
            **os.environ,
            "K1_AMQP_URL": amqp,
            "K1_MONGODB_URL": nx.url,
            "K1_MONGODB_DATABASE": database,
            "K1_DATA_DIR": str(tmp / "data"),
            "K1_GATEWAY_PORT": str(port),
            "K1_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "K1_JWT_SECRET": SECRET,
            "K1_LOG_LEVEL": "WARNING",
            "K1_LOG_FORMAT": "text",
            "K1_DEVICE_RATE_HZ": "1000",
            "K1_DEVICE_BURST": "1000",
            "K1_DEVICE_STATUS_INTERVAL_S": "1.0",
            "PYTHONUNBUFFERED": "1",
        }
        profile = ["-m", "cProfile", "-o", str(args.profile)] if args.profile else []
        gateway = subprocess.Popen(
            [sys.executable, *profile, "-m", "services.gateway"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        _wait_port(port, gateway)
        time.sleep(1.0)
        viewer = issue_token(SECRET, subject="bench", role="viewer")
        eport = _free_port()
        echo = subprocess.Popen(
            [sys.executable, str(ROOT / "tools/bench/echo_app.py"), "--port", str(eport)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        _wait_port(eport, echo)
        print(
            f"{args.devices} devices on the gateway (pid {gateway.pid}) and on a bare echo "
            f"(pid {echo.pid}); {args.rate:g} frames/s offered; {args.procs} load processes "
            "per endpoint",
            flush=True,
        )
        gw_target = Target("gateway", f"ws://127.0.0.1:{port}", devices, args, pid=gateway.pid)
        ec_target = Target("echo", f"ws://127.0.0.1:{eport}", devices, args, pid=echo.pid)
        alerts: list[float] = []
        for target in (gw_target, ec_target):
            probing = _probe(target.base, (probe[0], probe[1], viewer), args.duration, alerts)
            target.fleet.phase("warm")
            time.sleep(args.warmup)
            target.run("rate", args.duration, during=probing if target is gw_target else None)
        # Saturation rounds alternate between the two, so both see the same machine.
        for i in range(args.rounds):
            for target in (gw_target, ec_target):
                target.run(f"sat{i}", args.saturate)
        gw, ec = gw_target.figures(), ec_target.figures()
        gw.update(alert_p50_ms=_pct(alerts, 50), alert_max_ms=_pct(alerts, 100), alerts=len(alerts))
        print(f"  gateway: {json.dumps(gw)}", flush=True)
        print(f"  echo:    {json.dumps(ec)}", flush=True)
    finally:
        _stop(gateway, 60 if args.profile else 15)
        _stop(echo)
        nx.stop()
        if vhost:
            subprocess.run(
                ["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True, timeout=60
            )
        shutil.rmtree(tmp, ignore_errors=True)

    ratio = gw["max_fps"] / ec["max_fps"] if ec["max_fps"] else None
    figures = {
        "bench": "ws",
        "devices": args.devices,
        "offered_fps": args.rate,
        "connected": gw["connected"],
        "sustained_fps": gw["sustained_fps"],
        "ack_p50_ms": gw["ack_p50_ms"],
        "ack_p99_ms": gw["ack_p99_ms"],
        "alert_p50_ms": gw["alert_p50_ms"],
        "alert_max_ms": gw["alert_max_ms"],
        "alerts": gw["alerts"],
        "rss_kb_per_conn": gw["rss_kb_per_conn"],
        "gateway_rss_mb": gw["rss_mb"],
        "gateway_max_fps": gw["max_fps"],
        "echo_sustained_fps": ec["sustained_fps"],
        "echo_ack_p99_ms": ec["ack_p99_ms"],
        "echo_max_fps": ec["max_fps"],
        "ratio_vs_echo": round(ratio, 3) if ratio else None,
        "errors": gw["errors"],
    }
    ok = (
        gw["connected"] >= args.devices
        and gw["sustained_fps"] >= 0.95 * args.rate
        and (gw["ack_p99_ms"] or 1e9) < 50
        and (gw["alert_max_ms"] or 1e9) < 100
        and (ratio or 0) >= 0.7
    )
    print(
        f"targets: {args.devices} connections, {args.rate:g} frames/s, ack P99 < 50 ms, "
        f"alerts < 100 ms, >= 70 % of echo: {'met' if ok else 'NOT all met'}"
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
