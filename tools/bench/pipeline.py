"""Pipeline benchmark: upload → ``ready`` latency of a 4-minute track and tracks per minute,
with one and with two analyzer processes, on the real stack (every service its own process,
nx-27017, local object folder, RabbitMQ in a throw-away vhost).

Ends with one JSON line of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a file (make bench-*): the project's imports follow (E402)

from infra.docstore import MongoDocStore  # noqa: E402
from k1.stack import Stack  # noqa: E402
from tools.bench.analyzer import make_track  # noqa: E402

TERMINAL = ("ready", "warning", "failed")


def variant(base: bytes, i: int) -> bytes:
    """The same WAV with its last sample nudged: new bytes, new sha256, same music."""
    data = bytearray(base)
    data[-2:] = (i % 65536).to_bytes(2, "little")
    return bytes(data)


def vhost() -> tuple[str, str]:
    name = f"k1bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"], check=True
    )
    return name, f"amqp://guest:guest@127.0.0.1:5672/{name}"


class Bench:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.loop = asyncio.new_event_loop()
        self.docs = MongoDocStore.from_url(stack.mongodb_url, stack.database)
        self.auth = {
            "Authorization": f"Bearer {stack.token('operator')}",
            "Content-Type": "audio/wav",
        }

    def upload(self, data: bytes, name: str) -> str:
        r = httpx.post(
            f"{self.stack.ingest_url}/uploads",
            params={"filename": name},
            content=data,
            headers=self.auth,
            timeout=120,
        )
        r.raise_for_status()
        return r.json()["track_id"]

    def wait(self, ids: list[str], timeout_s: float = 600) -> dict[str, str]:
        deadline = time.monotonic() + timeout_s
        done: dict[str, str] = {}
        while len(done) < len(ids) and time.monotonic() < deadline:
            for tid in ids:
                if tid not in done:
                    track = self.loop.run_until_complete(self.docs.tracks.get_track(tid))
                    if track is not None and track.status in TERMINAL:
                        done[tid] = track.status
            time.sleep(0.02)
        return done

    def latency_s(self, data: bytes, runs: int, tag: str) -> list[float]:
        out = []
        for i in range(runs):
            t0 = time.perf_counter()
            tid = self.upload(variant(data, hash((tag, i)) & 0xFFFF), f"{tag}-{i}.wav")
            status = self.wait([tid])[tid]
            out.append(time.perf_counter() - t0)
            assert status == "ready", f"bench track ended {status}"
        return out

    def throughput_per_min(self, data: bytes, n: int, tag: str) -> float:
        t0 = time.perf_counter()
        ids = [
            self.upload(variant(data, 1000 + hash((tag, i)) & 0xFFFF), f"{tag}-b{i}.wav")
            for i in range(n)
        ]
        statuses = self.wait(ids)
        elapsed = time.perf_counter() - t0
        assert len(statuses) == n and set(statuses.values()) == {"ready"}, statuses
        return n / elapsed * 60.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="latency runs per configuration")
    ap.add_argument("--batch", type=int, default=6, help="tracks in the throughput batch")
    args = ap.parse_args(argv)
    track = make_track(ROOT / ".bench-cache")["wav"].read_bytes()
    name, url = vhost()
    results: dict = {"track_s": 240, "track_bytes": len(track)}
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(
            var_dir=Path(tmp),
            amqp_url=url,
            database="bench",
            log=lambda s: None,
            services=("ingest", "analyzer", "validator"),
        )
        try:
            stack.start()
            bench = Bench(stack)
            bench.latency_s(track, 1, "warm")  # first track warms every process
            for workers in (1, 2):
                if workers == 2:
                    stack.start_service("analyzer", label="analyzer-2")
                    stack.wait_ready(timeout_s=60, names=("analyzer-2",))
                lat = bench.latency_s(track, args.runs, f"w{workers}")
                tpm = bench.throughput_per_min(track, args.batch, f"w{workers}")
                results[f"workers_{workers}"] = {
                    "latency_s_median": round(statistics.median(lat), 3),
                    "latency_s_max": round(max(lat), 3),
                    "tracks_per_min": round(tpm, 2),
                }
                print(
                    f"{workers} analyzer(s): upload→ready median {statistics.median(lat):.2f} s"
                    f" (max {max(lat):.2f} s), {tpm:.1f} tracks/min",
                    flush=True,
                )
            bench.loop.run_until_complete(bench.docs.close())
        finally:
            stack.stop()
            subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], check=False)
    results["target_latency_s"] = 5.0
    results["latency_target_met"] = results["workers_1"]["latency_s_median"] < 5.0
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
