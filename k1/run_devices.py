"""``make run``'s last act: deploy the example's bundle to a few simulated devices.

Registers three devices through the API the first time (their one-time tokens are kept in
``var/example-devices.json``, mode 0600, so later runs reuse the same devices rather than adding
three more each time), runs them (real WebSocket clients, in a background thread), deploys the
track to them and prints each device's outcome; the devices keep streaming telemetry while the
stack serves.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from k1.cmd_devices import register_devices
from k1.device_sim import FleetThread, SimConfig
from k1.stack import Stack

DEVICES = 3
WAIT_S = 60.0


def deploy_example(
    stack: Stack, track_id: str, *, say: Callable[[str], None]
) -> FleetThread | None:
    if "gateway" not in stack.services or "deployer" not in stack.services:
        return None
    api = stack.gateway_url
    devices = example_devices(api, stack.token("admin"), stack.var_dir / SAVED, say=say)
    fleet = FleetThread(
        [(d["device_id"], d["token"]) for d in devices],
        SimConfig(api_url=api, rate_hz=2.0, jitter_ms=3.0),
    ).start()
    say(
        f"[devices] {DEVICES} simulated devices connected: "
        f"{', '.join(d['device_id'] for d in devices)}"
    )
    headers = {"Authorization": f"Bearer {stack.token('operator')}"}
    response = httpx.post(
        f"{api}/api/v1/deployments",
        headers=headers,
        timeout=10,
        json={
            "track_id": track_id,
            "device_ids": [d["device_id"] for d in devices],
            "timeout_s": 30,
        },
    )
    if response.status_code != 202:
        say(f"[devices] deployment refused: HTTP {response.status_code} {response.text[:200]}")
        return fleet
    deployment_id = response.json()["deployment_id"]
    say(f"[devices] deploying track {track_id} as deployment {deployment_id}")
    body = _wait_complete(api, deployment_id, headers)
    for device in body.get("devices", []):
        reason = f" — {device['reason']}" if device["reason"] else ""
        say(f"[devices] {device['device_id']}: {device['state']}{reason}")
    say(f"  deployment {api}/api/v1/deployments/{deployment_id}")
    say(f"  monitor    ws{api[4:]}/ws/monitor?token=<viewer token>")
    return fleet


SAVED = "example-devices.json"


def example_devices(
    api: str, admin_token: str, saved: Path, *, say: Callable[[str], None] = lambda _: None
) -> list[dict]:
    """The example's devices: those saved by an earlier run while they are all still
    registered, else ``DEVICES`` new ones (saved for the next run)."""
    try:
        devices = json.loads(saved.read_text())
        ids = [d["device_id"] for d in devices]
        tokens = [d["token"] for d in devices]
    except (OSError, ValueError, KeyError, TypeError):
        devices, ids, tokens = [], [], []
    headers = {"Authorization": f"Bearer {admin_token}"}
    if (
        len(ids) == DEVICES
        and all(isinstance(t, str) and t for t in tokens)
        and all(
            httpx.get(f"{api}/api/v1/devices/{d}", headers=headers, timeout=10).status_code == 200
            for d in ids
        )
    ):
        say(f"[devices] reusing the {DEVICES} example devices of an earlier run ({saved})")
        return devices
    devices = register_devices(api, admin_token, count=DEVICES, group="example")
    saved.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:  # device tokens: readable by this user only
        json.dump(devices, out)
    return devices


def _wait_complete(api: str, deployment_id: str, headers: dict) -> dict:
    deadline, body = time.monotonic() + WAIT_S, {}
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{api}/api/v1/deployments/{deployment_id}", headers=headers, timeout=10
        )
        if response.status_code == 200:
            body = response.json()
            if body.get("status") == "complete":
                break
        time.sleep(0.3)
    return body
