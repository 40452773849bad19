"""Devices end to end over real RabbitMQ, nx-27017, S3 (moto) and WebSockets: a map deployed
to simulated devices (every one acks; an offline one times out and gets it on reconnect; a
corrupt download is recorded as failed), an impostor refused with 1008, a drifting device
raising an alert on a monitor socket, drift statistics stored by the telemetry service."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets

from k1.cmd_devices import register_devices
from k1.device_sim import FleetThread, SimConfig
from tests.e2e.songs import click_song
from tests.e2e.waiting import until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ready_track(e2e_stack) -> str:
    stack, _ = e2e_stack
    response = httpx.post(
        f"{stack.ingest_url}/uploads",
        params={"filename": "devices.wav"},
        content=click_song(bpm=124, seed=6),
        timeout=60,
        headers={"Authorization": f"Bearer {stack.token('operator')}", "Content-Type": "audio/wav"},
    )
    assert response.status_code == 201, response.text
    track_id = response.json()["track_id"]
    until(
        lambda: _get(stack, f"/api/v1/tracks/{track_id}")["status"] in ("ready", "warning"),
        timeout_s=90,
        what="the track to be ready",
    )
    return track_id


def _get(stack, path: str) -> dict:
    response = httpx.get(
        stack.gateway_url + path,
        timeout=10,
        headers={"Authorization": f"Bearer {stack.token('viewer')}"},
    )
    response.raise_for_status()
    return response.json()


def _devices(stack, n: int, group: str) -> list[tuple[str, str]]:
    got = register_devices(stack.gateway_url, stack.token("admin"), count=n, group=group)
    return [(d["device_id"], d["token"]) for d in got]


def _deploy(stack, track_id: str, device_ids, timeout_s: float = 30) -> str:
    response = httpx.post(
        f"{stack.gateway_url}/api/v1/deployments",
        timeout=10,
        headers={"Authorization": f"Bearer {stack.token('operator')}"},
        json={"track_id": track_id, "device_ids": list(device_ids), "timeout_s": timeout_s},
    )
    assert response.status_code == 202, response.text
    return response.json()["deployment_id"]


def _states(stack, deployment_id: str) -> dict[str, tuple[str, int]]:
    body = _get(stack, f"/api/v1/deployments/{deployment_id}")
    return {d["device_id"]: (d["state"], d["attempt"]) for d in body.get("devices", [])}


def test_every_device_acks_and_an_offline_one_gets_it_when_it_reconnects(e2e_stack, ready_track):
    stack, _ = e2e_stack
    online, offline = _devices(stack, 2, "stage"), _devices(stack, 1, "late")
    cfg = SimConfig(api_url=stack.gateway_url, rate_hz=5)
    fleet = FleetThread(online, cfg).start()
    try:
        until(
            lambda: all(s.stats.connects for s in fleet.sims),
            timeout_s=10,
            what="devices to connect",
        )
        deployment = _deploy(stack, ready_track, [d for d, _ in online + offline], timeout_s=3)
        settled = until(
            lambda: (
                (s := _states(stack, deployment))
                and all(st not in ("pending", "delivered") for st, _ in s.values())
                and s
            ),
            timeout_s=20,
            what="every device to settle",
        )
        assert {d: st for d, (st, _) in settled.items()} == {
            online[0][0]: "acked",
            online[1][0]: "acked",
            offline[0][0]: "timed_out",
        }
        assert all(fleet.outcome(d, deployment)["ok"] for d, _ in online)

        late = FleetThread(offline, cfg).start()
        try:
            final = until(
                lambda: (s := _states(stack, deployment))[offline[0][0]][0] == "acked" and s,
                timeout_s=20,
                what="the reconnecting device's ack",
            )
            assert final[offline[0][0]][1] == 2  # offered again on reconnect
            assert late.outcome(offline[0][0], deployment)["ok"]
            assert _get(stack, f"/api/v1/deployments/{deployment}")["status"] == "complete"
        finally:
            late.stop()
    finally:
        fleet.stop()


def test_a_corrupt_download_fails_its_crc_check_and_is_recorded(e2e_stack, ready_track):
    stack, _ = e2e_stack
    devices = _devices(stack, 1, "broken")
    fleet = FleetThread(devices, SimConfig(api_url=stack.gateway_url, corrupt=True)).start()
    try:
        until(lambda: fleet.sims[0].stats.connects, timeout_s=10, what="connect")
        deployment = _deploy(stack, ready_track, [devices[0][0]])
        body = until(
            lambda: (
                (b := _get(stack, f"/api/v1/deployments/{deployment}")).get("status") == "complete"
                and b
            ),
            timeout_s=20,
            what="the failure",
        )
        [device] = body["devices"]
        assert device["state"] == "failed" and "CRC mismatch" in device["reason"]
    finally:
        fleet.stop()


def test_an_impostor_is_closed_with_policy_violation(e2e_stack):
    stack, _ = e2e_stack
    (victim, _), (_, other_token) = _devices(stack, 2, "imp")
    url = stack.gateway_url.replace("http", "ws", 1) + f"/ws/telemetry/{victim}"

    async def attempt(headers: dict) -> int:
        async with websockets.connect(url, additional_headers=headers) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            return closed.value.rcvd.code

    assert asyncio.run(attempt({"Authorization": f"Bearer {other_token}"})) == 1008
    assert asyncio.run(attempt({})) == 1008


def test_a_drifting_device_raises_an_alert_on_a_monitor_socket(e2e_stack):
    stack, _ = e2e_stack
    [(device_id, tok)] = _devices(stack, 1, "drift")
    base = stack.gateway_url.replace("http", "ws", 1)

    async def run() -> tuple[dict, float]:
        async with websockets.connect(f"{base}/ws/monitor?token={stack.token('viewer')}") as mon:
            assert json.loads(await mon.recv())["type"] == "fleet"
            async with websockets.connect(
                f"{base}/ws/telemetry/{device_id}",
                additional_headers={"Authorization": f"Bearer {tok}"},
            ) as dev:
                await dev.recv()  # hello
                await dev.send(json.dumps({"type": "telemetry", "seq": 1, "drift_ms": 3}))
                sent = time.perf_counter()
                await dev.send(json.dumps({"type": "telemetry", "seq": 2, "drift_ms": 180}))
                while True:
                    msg = json.loads(await asyncio.wait_for(mon.recv(), 10))
                    if msg["type"] == "alert" and msg["device_id"] == device_id:
                        return msg, time.perf_counter() - sent

    alert, latency_s = asyncio.run(run())
    assert (alert["drift_ms"], alert["threshold_ms"], alert["seq"]) == (180, 50, 2)
    assert latency_s < 1.0
    stats = until(
        lambda: _get(stack, f"/api/v1/devices/{device_id}")["drift"],
        timeout_s=15,
        what="the telemetry service's drift statistics",
    )
    assert stats["max_ms"] == 180 and stats["count"] == 2


def test_make_runs_example_devices_are_registered_once_and_reused(e2e_stack, tmp_path):
    """``make run`` keeps its example devices' tokens in ``var/``: a second run reuses them
    instead of registering three more; if they were deleted, it registers new ones."""
    from k1.run_devices import DEVICES, example_devices

    stack, _ = e2e_stack
    saved, admin = tmp_path / "example-devices.json", stack.token("admin")
    first = example_devices(stack.gateway_url, admin, saved)
    assert len(first) == DEVICES and saved.stat().st_mode & 0o777 == 0o600
    before = len(_get(stack, "/api/v1/devices?group=example&limit=1000")["items"])
    assert example_devices(stack.gateway_url, admin, saved) == first
    assert len(_get(stack, "/api/v1/devices?group=example&limit=1000")["items"]) == before
    removed = httpx.delete(
        f"{stack.gateway_url}/api/v1/devices/{first[0]['device_id']}",
        headers={"Authorization": f"Bearer {admin}"},
        timeout=10,
    )
    assert removed.status_code == 204
    renewed = example_devices(stack.gateway_url, admin, saved)
    assert {d["device_id"] for d in renewed}.isdisjoint(d["device_id"] for d in first)
    assert json.loads(saved.read_text()) == renewed
