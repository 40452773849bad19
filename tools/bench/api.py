"""Gateway read latency under the seeds' load profile, and the highest rate with P95 < 100 ms.

Against the running stack (``var/run.json`` from ``make run``) or, if none answers, a stack of
its own (k1.stack). Seeds ``--tracks`` finished tracks straight into MongoDB through the
document store, then loads GET /api/v1/tracks/{id} and GET /api/v1/tracks from separate
processes on loopback over plain keep-alive HTTP/1.1 connections:

1. profile: ``--users`` concurrent users, each waiting 1–3 s between requests (≈ users/2 req/s);
2. capacity: closed-loop steps of growing concurrency with no think time; the highest
   throughput whose P95 stays under 100 ms.

Every phase is bounded in time. Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing as mp
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a file (make bench-*): the project's imports follow (E402)

from contracts import lifecycle  # noqa: E402
from infra.docstore import MongoDocStore, NewTrack  # noqa: E402

TARGET_P95_MS, CAPACITY_P95_MS = 25.0, 100.0


# ------------------------------------------------------------------------- load generator


async def _request(conn, path: str, token: str) -> int:
    reader, writer = conn
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _user(host, port, token, ids, think, until, lat, errors):
    conn = await asyncio.open_connection(host, port)
    try:
        while (now := time.monotonic()) < until:
            if think:
                await asyncio.sleep(random.uniform(*think))
                if time.monotonic() >= until:
                    break
            path = (
                f"/api/v1/tracks/{random.choice(ids)}"
                if random.random() < 0.5
                else f"/api/v1/tracks?limit=20&offset={random.randrange(0, 180, 20)}"
            )
            start = time.perf_counter()
            try:
                ok = await asyncio.wait_for(_request(conn, path, token), 10) == 200
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                ok = False
                conn[1].close()
                conn = await asyncio.open_connection(host, port)
            (lat if ok else errors).append((time.perf_counter() - start) * 1000)
            del now
    finally:
        conn[1].close()


def _worker(url, token, ids, users, think, duration_s, warmup_s, out) -> None:
    async def main():
        u = urlparse(url)
        until = time.monotonic() + duration_s
        lat: list[float] = []  # ms of each answered request
        errors: list[float] = []  # ms of each failed one
        tasks = []
        for _ in range(users):  # connect gradually, like users arriving
            tasks.append(
                asyncio.create_task(
                    _user(u.hostname, u.port, token, ids, think, until, lat, errors)
                )
            )
            await asyncio.sleep(min(warmup_s, 1.0) / max(users, 1))
        await asyncio.sleep(warmup_s)
        lat.clear()
        errors.clear()
        t0 = time.monotonic()
        await asyncio.gather(*tasks, return_exceptions=True)
        out.put((lat, len(errors), until - t0))

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())


def run_load(url, token, ids, *, users, think, duration_s, warmup_s, procs) -> dict:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    share = [users // procs + (1 if i < users % procs else 0) for i in range(procs)]
    workers = [
        ctx.Process(
            target=_worker, args=(url, token, ids, n, think, duration_s + warmup_s, warmup_s, out)
        )
        for n in share
        if n
    ]
    for w in workers:
        w.start()
    lat, errors, spans = [], 0, []
    for _ in workers:
        part, err, span = out.get(timeout=duration_s + warmup_s + 60)
        lat += part
        errors += err
        spans.append(span)
    for w in workers:
        w.join(timeout=10)
    return summarise(lat, errors, max(spans))


def summarise(lat: list[float], errors: int, span_s: float) -> dict:
    lat.sort()

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p / 100 * len(lat)))], 2) if lat else float("nan")

    return {
        "requests": len(lat),
        "errors": errors,
        "rate_rps": round(len(lat) / span_s, 1),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
    }


# ---------------------------------------------------------------------------- the stack


def find_stack(args):
    """(gateway_url, token, mongodb_url, database, stack-or-None)."""
    run = ROOT / "var" / "run.json"
    if run.exists() and not args.own_stack:
        info = json.loads(run.read_text())
        if info.get("gateway_url") and _answers(info["gateway_url"]):
            return (
                info["gateway_url"],
                info["admin_token"],
                info["mongodb_url"],
                info.get("mongodb_database", "k1"),
                None,
            )
    from k1.stack import Stack

    stack = Stack(
        var_dir=Path(tempfile.mkdtemp(prefix="k1-bench-api-")),
        log=lambda _l: None,
        database=f"bench_{uuid.uuid4().hex[:8]}",
        services=("ingest", "gateway"),
    )
    stack.start(timeout_s=120)
    return stack.gateway_url, stack.token("viewer"), stack.mongodb_url, stack.database, stack


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def seed(mongodb_url: str, database: str, n: int) -> list[str]:
    docs = MongoDocStore.from_url(mongodb_url, database)
    ids = []
    try:
        for i in range(n):
            sha = hashlib.sha256(f"bench-{database}-{i}".encode()).hexdigest()
            tid = f"bench{sha[:27]}"
            got = await docs.tracks.create_track(
                NewTrack(
                    track_id=tid,
                    audio_sha256=sha,
                    audio_key=lifecycle.audio_key(sha, "wav"),
                    filename=f"bench_{i:04d}.wav",
                    content_type="audio/wav",
                    size_bytes=1 << 20,
                    preset="edm_high_energy",
                    duration_ms=240_000.0,
                )
            )
            ids.append(got.track.track_id)
            if got.created:
                await docs.analyses.add(tid, 1, preset="edm_high_energy")
                await docs.tracks.transition(tid, version=1, to="analyzing")
                await docs.analyses.update(
                    tid,
                    1,
                    bpm=120.0 + i % 40,
                    outcome="ready",
                    map_key=lifecycle.map_key(tid, 1),
                    plot_key=lifecycle.plot_key(tid, 1),
                    map_sha256=sha,
                )
                await docs.tracks.transition(
                    tid, version=1, to="mapped", map_key=lifecycle.map_key(tid, 1)
                )
                await docs.tracks.transition(tid, version=1, to="ready")
    finally:
        await docs.close()
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--tracks", type=int, default=200)
    parser.add_argument("--procs", type=int, default=2, help="load generator processes")
    parser.add_argument("--own-stack", action="store_true", help="ignore var/run.json")
    args = parser.parse_args()
    url, token, mongo, database, stack = find_stack(args)
    try:
        ids = asyncio.run(seed(mongo, database, args.tracks))
        print(
            f"gateway {url}: {len(ids)} tracks seeded; profile: {args.users} users, "
            f"1-3 s think time, {args.duration:.0f} s",
            flush=True,
        )
        profile = run_load(
            url,
            token,
            ids,
            users=args.users,
            think=(1.0, 3.0),
            duration_s=args.duration,
            warmup_s=5.0,
            procs=args.procs,
        )
        print(f"profile: {profile}", flush=True)
        steps, best = [], None
        for concurrency in (4, 8, 16, 32, 64, 128):
            step = run_load(
                url,
                token,
                ids,
                users=concurrency,
                think=None,
                duration_s=8.0,
                warmup_s=1.0,
                procs=args.procs,
            )
            steps.append({"concurrency": concurrency, **step})
            print(f"capacity c={concurrency}: {step}", flush=True)
            if step["p95_ms"] < CAPACITY_P95_MS and step["errors"] == 0:
                best = step if best is None or step["rate_rps"] > best["rate_rps"] else best
            elif step["p95_ms"] >= CAPACITY_P95_MS:
                break
    finally:
        if stack is not None:
            stack.stop()
    result = {
        "bench": "api",
        "users": args.users,
        "think_s": [1, 3],
        **profile,
        "target_p95_ms": TARGET_P95_MS,
        "meets_target": profile["p95_ms"] < TARGET_P95_MS,
        "max_rate_rps_p95_under_100ms": best["rate_rps"] if best else None,
        "max_rate_p95_ms": best["p95_ms"] if best else None,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
