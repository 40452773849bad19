"""Live progress: events become updates, the hub fans out without blocking, sockets get them."""

from __future__ import annotations

import asyncio
import time

import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

from contracts.events import (
    AnalysisFailed,
    AnalysisProgress,
    MapRejected,
    MapValidated,
    TrackUploaded,
    ValidationIssue,
)
from services.gateway.cache import ReadCache
from services.gateway.feed import LiveFeed, update_of
from services.gateway.live import HubFull, ProgressHub
from tests.unit.gateway.conftest import expired_token, seed_track, token

SHA = "a" * 64


def test_events_map_to_updates():
    assert update_of(
        AnalysisProgress(track_id="t1", analysis_version=2, stage="rhythm", percent=30)
    ) == {
        "track_id": "t1",
        "version": 2,
        "status": "analyzing",
        "stage": "rhythm",
        "percent": 30.0,
        "error": None,
    }
    assert (
        update_of(MapValidated(track_id="t1", map_key="k", map_sha256=SHA, outcome="warning"))[
            "status"
        ]
        == "warning"
    )
    rejected = update_of(
        MapRejected(
            track_id="t1",
            map_key="k",
            reasons=[ValidationIssue(field="layers.rhythm", message="not increasing")],
        )
    )
    assert rejected["status"] == "failed" and "layers.rhythm" in rejected["error"]
    failed = update_of(
        AnalysisFailed(track_id="t1", stage="decoding", error_code="x", reason="no audio")
    )
    assert (failed["status"], failed["error"]) == ("failed", "no audio")
    uploaded = update_of(
        TrackUploaded(
            track_id="t1",
            audio_key="a",
            audio_sha256=SHA,
            filename="f",
            content_type="audio/wav",
            size_bytes=1,
        )
    )
    assert uploaded["status"] == "uploaded"


async def test_slow_subscriber_drops_oldest_and_never_blocks_others():
    hub = ProgressHub(queue_size=3)
    slow, fast, other = hub.subscribe(None), hub.subscribe("t1"), hub.subscribe("t2")
    for i in range(10):
        hub.publish({"track_id": "t1", "percent": i})
        assert [u["percent"] for u in await fast.next_batch()] == [i]
    assert [u["percent"] for u in await slow.next_batch()] == [7, 8, 9]
    assert slow.dropped == 7
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(other.next_batch(), 0.05)
    for sub in (slow, fast, other):
        hub.unsubscribe(sub)
    assert hub.subscribers == 0


def test_hub_refuses_beyond_its_bound():
    hub = ProgressHub(max_subscribers=1)
    hub.subscribe()
    with pytest.raises(HubFull):
        hub.subscribe()


async def test_feed_invalidates_the_read_cache():
    cache, hub = ReadCache(60), ProgressHub()
    loads = []

    async def load():
        loads.append(1)
        return "value"

    await cache.get(("track", "t1"), load)
    await cache.get(("track", "t1"), load)
    assert len(loads) == 1
    await LiveFeed(hub, cache).handle(AnalysisProgress(track_id="t1", stage="genesis", percent=70))
    await cache.get(("track", "t1"), load)
    assert len(loads) == 2


def _ws_client(env) -> TestClient:
    return TestClient(env.app)


async def test_track_socket_sends_the_current_state_then_updates(env):
    tid = await seed_track(env.docs, status="analyzing")
    hub = env.app.state.hub

    def run():
        with (
            _ws_client(env) as client,
            client.websocket_connect(f"/api/v1/tracks/{tid}/events?token={token('viewer')}") as ws,
        ):
            first = ws.receive_json(timeout=5)
            client.blocking_portal.call(
                _publish,
                hub,
                {
                    "track_id": tid,
                    "version": 1,
                    "status": "mapped",
                    "stage": "validating",
                    "percent": 80.0,
                    "error": None,
                },
            )
            return first, ws.receive_json(timeout=5)

    first, second = await asyncio.to_thread(run)
    assert (first["track_id"], first["status"], first["stage"]) == (tid, "analyzing", "rhythm")
    assert (second["status"], second["percent"]) == ("mapped", 80.0)


async def _publish(hub, update):
    hub.publish(update)


async def test_all_tracks_socket_gets_every_track(env):
    hub = env.app.state.hub

    def run():
        with (
            _ws_client(env) as client,
            client.websocket_connect(f"/api/v1/events?token={token('viewer')}") as ws,
        ):
            deadline = time.monotonic() + 5
            while hub.subscribers < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            for tid in ("a1", "b2"):
                client.blocking_portal.call(
                    _publish,
                    hub,
                    {
                        "track_id": tid,
                        "version": 1,
                        "status": "ready",
                        "stage": "done",
                        "percent": 100.0,
                        "error": None,
                    },
                )
            return [ws.receive_json(timeout=5)["track_id"] for _ in range(2)]

    assert await asyncio.to_thread(run) == ["a1", "b2"]


@pytest.mark.parametrize("query", ["", "?token=garbage", f"?token={expired_token()}"])
async def test_sockets_refuse_missing_or_bad_tokens(env, query):
    def run():
        with (
            _ws_client(env) as client,
            pytest.raises(WebSocketDisconnect),
            client.websocket_connect(f"/api/v1/events{query}") as ws,
        ):
            ws.receive_json(timeout=5)

    await asyncio.to_thread(run)


async def test_socket_for_an_unknown_track_closes(env):
    def run():
        with (
            _ws_client(env) as client,
            pytest.raises(WebSocketDisconnect) as closed,
            client.websocket_connect(f"/api/v1/tracks/nope/events?token={token()}") as ws,
        ):
            ws.receive_json(timeout=5)
        return closed.value.code

    assert await asyncio.to_thread(run) == 4404


@pytest.mark.parametrize("frame", ["text", "binary"])
async def test_an_oversize_frame_closes_the_socket_as_too_big_whatever_its_kind(env, frame):
    def run():
        with (
            _ws_client(env) as client,
            pytest.raises(WebSocketDisconnect) as closed,
            client.websocket_connect(f"/api/v1/events?token={token('viewer')}") as ws,
        ):
            if frame == "text":
                ws.send_text("x" * 200_000)
            else:
                ws.send_bytes(b"x" * 200_000)
            ws.receive_json(timeout=5)
        return closed.value.code

    assert await asyncio.to_thread(run) == 1009


async def test_small_frames_of_either_kind_keep_the_socket_open(env):
    hub = env.app.state.hub

    def run():
        with (
            _ws_client(env) as client,
            client.websocket_connect(f"/api/v1/events?token={token('viewer')}") as ws,
        ):
            ws.send_text("ping")
            ws.send_bytes(b"\x00" * 1024)
            deadline = time.monotonic() + 5
            while hub.subscribers < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            client.blocking_portal.call(
                _publish,
                hub,
                {
                    "track_id": "c3",
                    "version": 1,
                    "status": "ready",
                    "stage": "done",
                    "percent": 100.0,
                    "error": None,
                },
            )
            return ws.receive_json(timeout=5)["track_id"]

    assert await asyncio.to_thread(run) == "c3"
