"""A device loses its connection in the middle of a deployment — after the offer reached it and
before it acked (its TCP connection just vanishes, no close frame). The deployment times out
for that device only; when the device comes back it is offered the bundle again, verifies and
acks it, and the deployment completes: devices targeted = devices acked."""

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

pytestmark = pytest.mark.faults

DEPLOY_TIMEOUT_S = 3


def _deployment(stack, deployment_id: str) -> dict:
    response = httpx.get(
        f"{stack.gateway_url}/api/v1/deployments/{deployment_id}",
        timeout=10,
        headers={"Authorization": f"Bearer {stack.token('viewer')}"},
    )
    response.raise_for_status()
    return response.json()


def _deploy(stack, track_id: str, device_ids: list[str]) -> str:
    for _ in range(100):  # the bundle is built right after the map is validated
        response = httpx.post(
            f"{stack.gateway_url}/api/v1/deployments",
            timeout=10,
            headers={"Authorization": f"Bearer {stack.token('operator')}"},
            json={"track_id": track_id, "device_ids": device_ids, "timeout_s": DEPLOY_TIMEOUT_S},
        )
        if response.status_code == 202:
            return response.json()["deployment_id"]
        time.sleep(0.2)
    raise AssertionError(f"deployment refused: {response.status_code} {response.text}")


async def _drop_after_offer(url: str, token: str, deploy) -> dict:
    """Connect, start the deployment, take the offer, then vanish without a close frame."""
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=10
    ) as ws:
        await asyncio.wait_for(ws.recv(), 10)  # hello
        deployment_id = await asyncio.to_thread(deploy)
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if msg.get("type") == "offer":
                ws.transport.abort()  # power cut: no ack, no close handshake
                return {"deployment_id": deployment_id, "offer": msg}


def test_device_dropped_mid_deployment_times_out_then_completes_on_reconnect(fault_stack):
    fs = fault_stack
    stack = fs.stack
    track_id = fs.upload("deploy-me.wav", click_song(bpm=122, seconds=8, seed=61))
    assert fs.wait_terminal([track_id])[track_id].status == "ready"

    devices = [
        (d["device_id"], d["token"])
        for d in register_devices(stack.gateway_url, stack.token("admin"), count=3, group="drop")
    ]
    steady, (dropper, dropper_token) = devices[:2], devices[2]
    cfg = SimConfig(api_url=stack.gateway_url, rate_hz=5)
    fleet = FleetThread(steady, cfg).start()
    late = None
    try:
        until(
            lambda: all(s.stats.connects for s in fleet.sims),
            timeout_s=15,
            what="the steady devices to connect",
        )
        url = f"{stack.gateway_url.replace('http', 'ws', 1)}/ws/telemetry/{dropper}"
        dropped = asyncio.run(
            _drop_after_offer(
                url, dropper_token, lambda: _deploy(stack, track_id, [d for d, _ in devices])
            )
        )
        deployment_id = dropped["deployment_id"]
        assert dropped["offer"]["deployment_id"] == deployment_id

        def settled():
            body = _deployment(stack, deployment_id)
            states = {d["device_id"]: d["state"] for d in body.get("devices", [])}
            return (
                states
                if states.get(dropper) == "timed_out"
                and all(states.get(d) == "acked" for d, _ in steady)
                else None
            )

        states = until(settled, timeout_s=30, what="the dropped device to time out")
        assert states == {steady[0][0]: "acked", steady[1][0]: "acked", dropper: "timed_out"}

        late = FleetThread([(dropper, dropper_token)], cfg).start()
        final = until(
            lambda: (
                (b := _deployment(stack, deployment_id))["status"] == "complete"
                and all(d["state"] == "acked" for d in b["devices"])
                and b
            ),
            timeout_s=30,
            what="the deployment to complete after the reconnect",
        )
        attempts = {d["device_id"]: d["attempt"] for d in final["devices"]}
        assert attempts[dropper] == 2, attempts  # offered again on reconnect
        assert late.outcome(dropper, deployment_id)["ok"]
        ledger = {
            "devices": len(devices),
            "acked": sum(d["state"] == "acked" for d in final["devices"]),
        }
        print("ledger", ledger)
        assert ledger["devices"] == ledger["acked"] == 3
        fs.assert_serving()
    finally:
        fleet.stop()
        if late is not None:
            late.stop()
