"""The real stack (every service its own process) on a private RabbitMQ node, nx-27017 and moto
S3 behind a proxy the tests can cut — one fresh stack per test, so a fault never leaks into the
next test. Each test keeps a ledger of what went in and what came out."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from minio import Minio

from infra.docstore import FINISHED, MongoDocStore, Track
from k1.stack import Stack
from tests.e2e.conftest import LogTap, s3_env, start_stack
from tests.faults.infra import PrivateRabbit, ToggleProxy

STUCK_AFTER_S = 8.0
RETRY_BACKOFF_S = 1.0
"""Five deliveries wait 1+2+4+8 s: an outage shorter than ~15 s is ridden through."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def private_rabbit() -> Iterator[PrivateRabbit]:
    if shutil.which("rabbitmq-server") is None:
        pytest.skip("rabbitmq-server is not installed")
    node = PrivateRabbit().start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def s3_proxy(moto_s3) -> Iterator[ToggleProxy]:
    proxy = ToggleProxy(moto_s3.port).start()
    yield proxy
    proxy.cut()


@dataclass
class Ledger:
    """What went in and what came out of one fault test."""

    sent: dict[str, str] = field(default_factory=dict)
    """song name -> track id the stack accepted it as."""
    attempts: int = 0
    refused: int = 0
    """Upload attempts answered 5xx or not at all during the fault (then retried)."""

    def summary(self, tracks: dict[str, Track]) -> dict:
        return {
            "songs": len(self.sent),
            "attempts": self.attempts,
            "refused": self.refused,
            "tracks": len(tracks),
            "ready": sum(t.status == "ready" for t in tracks.values()),
            "failed": sum(t.status == "failed" for t in tracks.values()),
        }


class FaultStack:
    def __init__(self, stack: Stack, tap: LogTap, bucket: str, moto) -> None:
        self.stack, self.tap, self.bucket = stack, tap, bucket
        self.ledger = Ledger()
        self.loop = asyncio.new_event_loop()
        self.docs = MongoDocStore.from_url(
            stack.mongodb_url, stack.database, serverSelectionTimeoutMS=2000
        )
        self.s3 = Minio(
            moto.endpoint,
            access_key=moto.access_key,
            secret_key=moto.secret_key,
            secure=False,
            region=moto.region,
        )

    def run(self, coro_fn, *, retry_s: float = 30.0):
        """Run a document-store read, retried while nx-27017 is down."""
        deadline = time.monotonic() + retry_s
        while True:
            try:
                return self.loop.run_until_complete(coro_fn())
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def upload(self, name: str, data: bytes, *, deadline_s: float = 90.0) -> str:
        """Upload through the gateway like a client that retries until the song is accepted."""
        deadline = time.monotonic() + deadline_s
        headers = {
            "Authorization": f"Bearer {self.stack.token('operator')}",
            "Content-Type": "audio/wav",
        }
        while True:
            self.ledger.attempts += 1
            try:
                response = httpx.post(
                    f"{self.stack.gateway_url}/api/v1/tracks",
                    params={"filename": name},
                    content=data,
                    headers=headers,
                    timeout=60,
                )
                if response.status_code in (200, 201):
                    track_id = response.json()["track_id"]
                    self.ledger.sent[name] = track_id
                    return track_id
                assert response.status_code >= 500, response.text
            except httpx.HTTPError:
                pass
            self.ledger.refused += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} was never accepted")
            time.sleep(0.5)

    def track(self, track_id: str) -> Track | None:
        return self.run(lambda: self.docs.tracks.get_track(track_id))

    def all_tracks(self) -> dict[str, Track]:
        page = self.run(lambda: self.docs.tracks.list_tracks(limit=1000))
        return {t.track_id: t for t in page.items}

    def wait_terminal(self, track_ids, *, timeout_s: float = 120.0) -> dict[str, Track]:
        deadline = time.monotonic() + timeout_s
        pending = set(track_ids)
        done: dict[str, Track] = {}
        while pending and time.monotonic() < deadline:
            for track_id in list(pending):
                track = self.track(track_id)
                if track is not None and track.status in FINISHED:
                    done[track_id] = track
                    pending.discard(track_id)
            time.sleep(0.3)
        assert not pending, {t: (self.track(t) or "missing") for t in pending}
        return done

    def map_objects(self, track_id: str) -> list[str]:
        return sorted(
            o.object_name
            for o in self.s3.list_objects(self.bucket, prefix=f"maps/{track_id}/", recursive=True)
        )

    def assert_nothing_lost(self, *, expect_ready: bool = True) -> dict:
        """Every song accepted is exactly one track; every track is finished, ready, with one
        current map; the services are all still up and ready."""
        ids = set(self.ledger.sent.values())
        finished = self.wait_terminal(ids)
        tracks = self.all_tracks()
        summary = self.ledger.summary(tracks)
        print("ledger", summary)
        assert len(ids) == len(self.ledger.sent), "two songs became one track"
        assert set(tracks) == ids, f"tracks in, tracks out differ: {summary}"
        if expect_ready:
            bad = {
                t.track_id: (t.status, t.error_reason)
                for t in finished.values()
                if t.status != "ready"
            }
            assert not bad, bad
            for track_id in ids:
                assert self.map_objects(track_id) == [
                    f"maps/{track_id}/v1/map.json",
                    f"maps/{track_id}/v1/map.png",
                ]
        self.assert_serving()
        return summary

    def assert_serving(self) -> None:
        dead = {n: p.returncode for n, p in self.stack.procs.items() if p.poll() is not None}
        assert not dead, f"services exited: {dead}"
        self.stack.wait_ready(timeout_s=60)

    def close(self) -> None:
        self.loop.run_until_complete(self.docs.close())
        self.loop.close()


@pytest.fixture
def fault_stack(request, tmp_path, private_rabbit, s3_proxy, moto_s3) -> Iterator[FaultStack]:
    tap = LogTap()
    bucket = f"faults-{uuid.uuid4().hex[:8]}"
    stack = Stack(
        var_dir=tmp_path / "stack",
        amqp_url=private_rabbit.add_vhost(),
        database=f"faults_{uuid.uuid4().hex[:8]}",
        log=tap,
        extra_env={
            **s3_env(moto_s3, bucket=bucket, endpoint=s3_proxy.endpoint),
            "K1_RETRY_BACKOFF_S": str(RETRY_BACKOFF_S),
            "K1_RECONCILE_INTERVAL_S": "1",
            "K1_STUCK_AFTER_S": str(STUCK_AFTER_S),
            "K1_SHUTDOWN_GRACE_S": "5",
        },
    )
    harness = FaultStack(start_stack(stack, tap), tap, bucket, moto_s3)
    yield harness
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        print("\n".join(tap.lines[-200:]))
    harness.close()
    stack.stop()


def pytest_configure(config):
    config.addinivalue_line("markers", "faults: breaks real infrastructure on purpose")
