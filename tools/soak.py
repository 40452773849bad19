"""``make soak``: a bounded soak of the whole stack, ending with a ledger.

Starts the stack (every service its own process, nx-27017, the local object folder, a fresh
vhost on the local RabbitMQ), registers simulated devices that stream telemetry the whole time
(in a process of their own), uploads songs spread over the first part of the run, deploys a
finished track to the whole fleet, then checks the books:

* uploads accepted = tracks terminal (ready / warning / failed with a reason);
* frames sent = frames acknowledged (devices stop sending, then wait for their last acks)
  = frames counted by the telemetry service (its per-second rollups: none lost, none twice);
* devices deployed to = devices that acked the bundle;
* RSS of every service (process group: the analyzer's pool included) at start and end.

The last line printed is one JSON object; the exit status is 1 if anything was lost.

    python tools/soak.py [--minutes 10] [--uploads N] [--devices 500]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from k1.stack import Stack

FINISHED = ("ready", "warning", "failed")
SR = 22050


def song(i: int, seconds: float = 6.0) -> bytes:
    """A distinct click song: kick on the beat, noise hat off the beat, a hum."""
    rng = np.random.default_rng(i)
    n, bpm = int(seconds * SR), 80 + (i * 7) % 90
    x = 0.05 * np.sin(2 * np.pi * (100 + i % 50) * np.arange(n) / SR)
    kick = np.sin(2 * np.pi * 55 * np.arange(2000) / SR) * np.exp(-np.arange(2000) / 300)
    for k, t in enumerate(np.arange(0.2, seconds - 0.2, 60.0 / bpm)):
        j = int(t * SR)
        x[j : j + 2000] += kick[: n - j] * (1.0 if k % 4 == 0 else 0.6)
    x += 0.01 * rng.standard_normal(n)
    buf = io.BytesIO()
    sf.write(buf, (0.5 * x / np.abs(x).max()).astype(np.float32), SR, format="WAV")
    return buf.getvalue()


# ------------------------------------------------------------------------------ memory


def rss_mb(pgid: int) -> float:
    """Resident memory of every process in the process group ``pgid``, in MB."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return round(total / 1024, 1)


def memory(stack: Stack) -> dict[str, float]:
    return {name: rss_mb(proc.pid) for name, proc in stack.procs.items()}


# ------------------------------------------------------------------------------ devices


def _fleet_main(devices, api_url: str, seconds: float, rate_hz: float, queue) -> None:
    """Devices that stream for ``seconds``, then stop sending and wait for their last acks."""
    from k1.device_sim import SimConfig, SimDevice, summary

    class Drainable(SimDevice):
        draining = False

        async def _sender(self, ws) -> None:
            period = 1.0 / self.cfg.rate_hz
            await asyncio.sleep(np.random.random() * period)
            while not self.draining:
                await ws.send(self.frame())
                await asyncio.sleep(period)
            await asyncio.Event().wait()  # keep the session open for the acks

    async def main() -> dict:
        cfg = SimConfig(api_url=api_url, rate_hz=rate_hz)
        stop = asyncio.Event()
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=50)) as http:
            sims = [Drainable(d, t, cfg, http) for d, t in devices]
            tasks = [asyncio.create_task(s.run(stop)) for s in sims]
            await asyncio.sleep(seconds)
            for sim in sims:
                sim.draining = True
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and any(s.stats.acked < s.stats.sent for s in sims):
                await asyncio.sleep(0.2)
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        out = summary(sims)
        out["connected"] = sum(1 for s in sims if s.stats.connects)
        out["reconnects"] = sum(max(0, s.stats.connects - 1) for s in sims)
        out["bundles_ok"] = sum(1 for s in sims for d in s.stats.deployments.values() if d["ok"])
        out.pop("deployments", None)
        return out

    queue.put(asyncio.run(main()))


def frames_counted(stack: Stack, device_ids: set[str], acked: int, wait_s: float = 45.0) -> int:
    """Frames of the fleet in the telemetry service's per-second rollups, once they are all
    written (a partition without frames closes its last chunks within ~15 s) or ``wait_s``."""
    from pymongo import MongoClient

    if not device_ids:
        return 0
    client: MongoClient = MongoClient(stack.mongodb_url)
    rollups = client[stack.database]["drift_rollups"]
    deadline, counted = time.monotonic() + wait_s, 0
    try:
        while True:
            counted = sum(
                sum(doc["n"])
                for doc in rollups.find({}, {"device_id": 1, "n": 1})
                if doc["device_id"] in device_ids
            )
            if counted >= acked or time.monotonic() > deadline:
                return counted
            time.sleep(1)
    finally:
        client.close()


# ------------------------------------------------------------------------------ uploads


class Uploads:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.accepted: dict[int, str] = {}
        self.refused: dict[int, str] = {}
        self.retries = 0

    def upload(self, i: int) -> None:
        headers = {
            "Authorization": f"Bearer {self.stack.token('operator')}",
            "Content-Type": "audio/wav",
        }
        data = song(i)
        for _ in range(20):
            try:
                r = httpx.post(
                    f"{self.stack.gateway_url}/api/v1/tracks",
                    content=data,
                    params={"filename": f"soak-{i}.wav"},
                    headers=headers,
                    timeout=60,
                )
            except httpx.HTTPError:
                self.retries += 1
                time.sleep(1)
                continue
            if r.status_code in (200, 201):
                self.accepted[i] = r.json()["track_id"]
                return
            if r.status_code < 500:
                self.refused[i] = f"{r.status_code} {r.text[:200]}"
                return
            self.retries += 1
            time.sleep(1)
        self.refused[i] = "never accepted"


def statuses(stack: Stack, track_ids) -> dict[str, dict]:
    out = {}
    with httpx.Client(
        timeout=10, headers={"Authorization": f"Bearer {stack.token('viewer')}"}
    ) as client:
        for track_id in track_ids:
            r = client.get(f"{stack.gateway_url}/api/v1/tracks/{track_id}")
            out[track_id] = (
                r.json() if r.status_code == 200 else {"status": f"http {r.status_code}"}
            )
    return out


# ------------------------------------------------------------------------------ rabbit


def _vhost(create: bool, name: str) -> None:
    cmd = ["add_vhost", name] if create else ["delete_vhost", name]
    subprocess.run(["rabbitmqctl", "-q", *cmd], check=create, capture_output=True, timeout=60)
    if create:
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
            timeout=60,
        )


# ------------------------------------------------------------------------------ the soak


def register(stack: Stack, count: int, group: str) -> list[tuple[str, str]]:
    from k1.cmd_devices import register_devices

    return [
        (d["device_id"], d["token"])
        for d in register_devices(stack.gateway_url, stack.token("admin"), count=count, group=group)
    ]


def deploy(stack: Stack, track_id: str, group: str) -> str | None:
    r = httpx.post(
        f"{stack.gateway_url}/api/v1/deployments",
        timeout=30,
        headers={"Authorization": f"Bearer {stack.token('operator')}"},
        json={"track_id": track_id, "group": group, "timeout_s": 120},
    )
    return r.json()["deployment_id"] if r.status_code == 202 else None


def deployment(stack: Stack, deployment_id: str) -> dict:
    r = httpx.get(
        f"{stack.gateway_url}/api/v1/deployments/{deployment_id}",
        timeout=30,
        headers={"Authorization": f"Bearer {stack.token('viewer')}"},
    )
    return r.json() if r.status_code == 200 else {}


def soak(args: argparse.Namespace) -> dict:
    seconds = args.minutes * 60.0
    uploads_n = args.uploads if args.uploads is not None else int(20 * args.minutes)
    vhost, group = f"k1soak-{uuid.uuid4().hex[:8]}", f"soak-{uuid.uuid4().hex[:6]}"
    _vhost(True, vhost)
    var = Path(tempfile.mkdtemp(prefix="k1-soak-"))
    lines: list[str] = []
    stack = Stack(
        var_dir=var,
        amqp_url=f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        database=f"soak_{uuid.uuid4().hex[:8]}",
        log=lines.append,
        extra_env={"K1_LOG_LEVEL": "WARNING"},
    )
    started = time.monotonic()
    try:
        stack.start(timeout_s=120)
        mem_start = memory(stack)
        print(
            f"[soak] stack up; {uploads_n} uploads and {args.devices} devices over "
            f"{args.minutes:g} min",
            flush=True,
        )
        devices = register(stack, args.devices, group) if args.devices else []
        fleet_queue = multiprocessing.get_context("spawn").Queue()
        fleet = None
        if devices:
            fleet = multiprocessing.get_context("spawn").Process(
                target=_fleet_main,
                args=(
                    devices,
                    stack.gateway_url,
                    max(10.0, seconds - (time.monotonic() - started)),
                    args.rate_hz,
                    fleet_queue,
                ),
            )
            fleet.start()
        uploads = Uploads(stack)
        upload_window = 0.6 * seconds
        for i in range(uploads_n):
            uploads.upload(i)
            pause = started + (i + 1) * upload_window / max(1, uploads_n) - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        print(
            f"[soak] uploads done: {len(uploads.accepted)} accepted, "
            f"{len(uploads.refused)} refused",
            flush=True,
        )

        deployment_id, final = None, {}
        ids = set(uploads.accepted.values())
        deadline = started + seconds + args.grace_s
        while time.monotonic() < deadline:
            final = statuses(stack, ids)
            done = [t for t, s in final.items() if s.get("status") in FINISHED]
            if devices and deployment_id is None:
                ready = [t for t, s in final.items() if s.get("status") == "ready"]
                if ready:
                    deployment_id = deploy(stack, ready[0], group)
            if len(done) == len(ids) and time.monotonic() > started + seconds - 25:
                break
            time.sleep(2)
        fleet_summary = {}
        if fleet is not None:
            with contextlib.suppress(Exception):
                fleet_summary = fleet_queue.get(timeout=max(30, deadline - time.monotonic()))
            fleet.join(timeout=30)
        deployed = deployment(stack, deployment_id) if deployment_id else {}
        counted = frames_counted(stack, {d for d, _ in devices}, fleet_summary.get("acked", 0))
        mem_end = memory(stack)
    finally:
        stack.stop()
        _vhost(False, vhost)
        shutil.rmtree(var, ignore_errors=True)

    terminal = {t: s for t, s in final.items() if s.get("status") in FINISHED}
    failed_without_reason = [
        t for t, s in terminal.items() if s.get("status") == "failed" and not s.get("error_reason")
    ]
    by_status: dict[str, int] = {}
    for s in final.values():
        by_status[s.get("status", "?")] = by_status.get(s.get("status", "?"), 0) + 1
    targets = deployed.get("devices", [])
    ledger = {
        "minutes": round((time.monotonic() - started) / 60, 2),
        "uploads_sent": uploads_n,
        "uploads_accepted": len(uploads.accepted),
        "uploads_refused": len(uploads.refused),
        "upload_retries": uploads.retries,
        "tracks_terminal": len(terminal),
        "tracks_by_status": by_status,
        "failed_without_reason": len(failed_without_reason),
        "devices": len(devices),
        "devices_connected": fleet_summary.get("connected", 0),
        "frames_sent": fleet_summary.get("sent", 0),
        "frames_acked": fleet_summary.get("acked", 0),
        "frames_counted": counted,
        "ack_p50_ms": fleet_summary.get("ack_p50_ms"),
        "ack_p99_ms": fleet_summary.get("ack_p99_ms"),
        "device_reconnects": fleet_summary.get("reconnects", 0),
        "deployment_devices": len(targets),
        "deployment_acked": sum(1 for d in targets if d.get("state") == "acked"),
        "deployment_status": deployed.get("status"),
        "rss_mb_start": mem_start,
        "rss_mb_end": mem_end,
    }
    ledger["nothing_lost"] = (
        ledger["uploads_accepted"] == ledger["tracks_terminal"]
        and not failed_without_reason
        and ledger["frames_sent"] == ledger["frames_acked"] == ledger["frames_counted"]
        and (
            not devices
            or ledger["deployment_acked"] == ledger["deployment_devices"] == len(devices)
        )
    )
    return ledger


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the run")
    parser.add_argument("--uploads", type=int, default=None, help="songs (20 per minute)")
    parser.add_argument("--devices", type=int, default=500, help="simulated devices")
    parser.add_argument("--rate-hz", type=float, default=1.0, help="frames/s per device")
    parser.add_argument(
        "--grace-s",
        type=float,
        default=180.0,
        help="longest wait past --minutes for the last tracks",
    )
    args = parser.parse_args(argv)
    ledger = soak(args)
    for key, value in ledger.items():
        if key not in ("rss_mb_start", "rss_mb_end"):
            print(f"[ledger] {key:22s} {value}")
    for name in ledger["rss_mb_end"]:
        print(
            f"[ledger] rss {name:18s} {ledger['rss_mb_start'].get(name)} MB -> "
            f"{ledger['rss_mb_end'][name]} MB"
        )
    print(json.dumps(ledger, separators=(",", ":")), flush=True)
    return 0 if ledger["nothing_lost"] else 1


if __name__ == "__main__":
    sys.exit(main())
