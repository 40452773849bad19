"""The device side of the gateway over fakes: the registry API and its roles, device sockets
(auth, acks, limits, offers, bundle acks), the monitor socket and deployments."""

from __future__ import annotations

import asyncio
import time

import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import AsyncTestClient, TestClient

from contracts.events import (
    DeploymentRequested,
    DeviceBundleAck,
    DeviceConnected,
    DeviceDelivered,
    DeviceDisconnected,
    DeviceOffer,
    DeviceTelemetry,
    TelemetryAlert,
)
from infra.docstore_devices import NewDeployment
from infra.docstore_devices_fake import FakeDeviceDocStore
from infra.docstore_fake import FakeDocStore
from infra.objectstore_fake import FakeObjectStore
from infra.publishing import RecordingPublisher
from services.gateway.app import create_app
from services.gateway.devices import DeviceGateway
from services.gateway.devices.config import DeviceSettings
from services.gateway.devices.feed import DeviceFeed
from services.gateway.ports import GatewayConfig, GatewayPorts, ingest_client
from tests.unit.gateway.conftest import SECRET, seed_track, token


class DevEnv:
    def __init__(self) -> None:
        self.docs, self.objects = FakeDocStore(), FakeObjectStore()
        self.publisher = RecordingPublisher()
        self.gw = DeviceGateway(
            docs=self.docs,
            devices=FakeDeviceDocStore(),
            objects=self.objects,
            publisher=self.publisher,
            settings=DeviceSettings(
                batch_interval_s=0.01,
                rate_hz=10,
                burst=20,
                max_frame_bytes=512,
                status_interval_s=0.05,
            ),
            gateway_id="gw-test",
        )
        ports = GatewayPorts(
            docs=self.docs,
            objects=self.objects,
            publisher=self.publisher,
            ingest=ingest_client("http://ingest"),
        )
        self.app = create_app(
            ports=ports,
            cfg=GatewayConfig(jwt_secret=SECRET),
            devices=self.gw,
            lifespan=[self.gw.lifespan],
        )

    def auth(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {token(role)}"}


@pytest.fixture
async def denv():
    return DevEnv()


async def _register(client, denv, device_id="d1", **extra):
    response = await client.post(
        "/api/v1/devices",
        headers=denv.auth(),
        json={"device_id": device_id, "name": f"bar {device_id}", "group": "stage", **extra},
    )
    assert response.status_code == 201, response.text
    return response.json()["token"]


def _sync(denv, fn):
    """Run ``fn(client)`` with a sync TestClient (WebSockets) in a thread."""

    def run():
        with TestClient(denv.app) as client:
            return fn(client)

    return asyncio.to_thread(run)


def _device_ws(client, device_id, tok):
    return client.websocket_connect(
        f"/ws/telemetry/{device_id}", headers={"Authorization": f"Bearer {tok}"}
    )


# ------------------------------------------------------------------------------- registry API


async def test_an_admin_registers_a_device_and_sees_its_token_once(denv):
    async with AsyncTestClient(denv.app) as client:
        created = await client.post(
            "/api/v1/devices",
            headers=denv.auth(),
            json={"name": "bar", "group": "club", "latency_offset_ms": -25},
        )
        assert created.status_code == 201
        body = created.json()
        assert body["token"].startswith("k1d_") and body["latency_offset_ms"] == -25
        stored = await denv.gw.devices.devices.get(body["device_id"])
        assert body["token"] not in stored.token_hash
        got = await client.get(f"/api/v1/devices/{body['device_id']}", headers=denv.auth("viewer"))
        assert got.status_code == 200 and "token" not in got.json()
        listed = await client.get("/api/v1/devices?group=club", headers=denv.auth("viewer"))
        assert [d["device_id"] for d in listed.json()["items"]] == [body["device_id"]]
        again = await client.post(
            "/api/v1/devices",
            headers=denv.auth(),
            json={"device_id": body["device_id"], "name": "x"},
        )
        assert again.status_code == 409


async def test_only_admins_manage_devices(denv):
    async with AsyncTestClient(denv.app) as client:
        await _register(client, denv)
        for role in ("viewer", "operator"):
            assert (
                await client.post("/api/v1/devices", headers=denv.auth(role), json={"name": "x"})
            ).status_code == 403
            assert (
                await client.patch(
                    "/api/v1/devices/d1", headers=denv.auth(role), json={"group": "x"}
                )
            ).status_code == 403
            assert (
                await client.delete("/api/v1/devices/d1", headers=denv.auth(role))
            ).status_code == 403
        assert (await client.get("/api/v1/devices")).status_code == 401
        patched = await client.patch(
            "/api/v1/devices/d1",
            headers=denv.auth(),
            json={"latency_offset_ms": 40, "drift_threshold_ms": 20},
        )
        assert (patched.json()["latency_offset_ms"], patched.json()["drift_threshold_ms"]) == (
            40,
            20.0,
        )
        assert (
            await client.patch("/api/v1/devices/d1", headers=denv.auth(), json={"token_hash": "x"})
        ).status_code == 400
        assert (await client.delete("/api/v1/devices/d1", headers=denv.auth())).status_code == 204
        assert (await client.get("/api/v1/devices/d1", headers=denv.auth())).status_code == 404


# ----------------------------------------------------------------------------- device socket


async def test_a_device_is_acked_per_frame_and_its_telemetry_forwarded_in_batches(denv):
    async with AsyncTestClient(denv.app) as client:
        tok = await _register(client, denv)

    def run(client):
        with _device_ws(client, "d1", tok) as ws:
            hello = ws.receive_json(timeout=5)
            for seq in range(5):
                ws.send_json(
                    {
                        "type": "telemetry",
                        "seq": seq,
                        "drift_ms": 1.5,
                        "cpu_pct": 20,
                        "temperature_c": 41,
                        "track_id": "t1",
                        "position_ms": 100.0,
                    }
                )
            acks = [ws.receive_json(timeout=5) for _ in range(5)]
            ws.send_json({"type": "ping"})
            pong = ws.receive_json(timeout=5)
            time.sleep(0.1)
            return hello, acks, pong

    hello, acks, pong = await _sync(denv, run)
    assert hello["type"] == "hello" and hello["device_id"] == "d1"
    assert acks == [{"type": "ack", "seq": n} for n in range(5)] and pong == {"type": "pong"}
    batches = [b.to_message() for b in denv.publisher.of(DeviceTelemetry)]  # JSON round trip
    frames = [f for b in batches for f in b.frames]
    assert [f.seq for f in frames] == list(range(5)) and frames[0].device_id == "d1"
    assert frames[0].drift_ms == 1.5 and frames[0].position_ms == 100.0
    assert [
        type(m) for m in denv.publisher.sent if type(m) in (DeviceConnected, DeviceDisconnected)
    ] == [DeviceConnected, DeviceDisconnected]


async def test_a_device_held_longer_than_the_presence_lease_stays_online(denv):
    """The gateway renews the lease of the devices it holds (a killed gateway stops renewing
    and they lapse to offline: the store contract tests that half)."""
    denv.gw.settings.presence_lease_s = denv.gw.devices.devices.presence_lease_s = 1.0
    async with AsyncTestClient(denv.app) as client:
        tok = await _register(client, denv)

    def run(client):
        with _device_ws(client, "d1", tok) as ws:
            ws.receive_json(timeout=5)
            for _ in range(6):  # 2.4 s: more than two leases
                time.sleep(0.4)
                ws.send_json({"type": "ping"})
                assert ws.receive_json(timeout=5) == {"type": "pong"}
            held = client.get("/api/v1/devices/d1", headers=denv.auth("viewer")).json()
        time.sleep(0.1)
        gone = client.get("/api/v1/devices/d1", headers=denv.auth("viewer")).json()
        return held, gone

    held, gone = await _sync(denv, run)
    assert held["connected"] is True and gone["connected"] is False


@pytest.mark.parametrize("how", ["missing", "wrong", "other_device", "query_wrong", "unknown"])
async def test_an_impostor_is_closed_with_policy_violation_before_anything(denv, how):
    async with AsyncTestClient(denv.app) as client:
        await _register(client, denv, "d1")
        other = await _register(client, denv, "d2")

    def run(client):
        path, headers = "/ws/telemetry/d1", {}
        if how == "wrong":
            headers = {"Authorization": "Bearer k1d_nope"}
        elif how == "other_device":
            headers = {"Authorization": f"Bearer {other}"}
        elif how == "query_wrong":
            path += "?token=k1d_nope"
        elif how == "unknown":
            path, headers = "/ws/telemetry/ghost", {"Authorization": f"Bearer {other}"}
        with (
            pytest.raises(WebSocketDisconnect) as closed,
            client.websocket_connect(path, headers=headers) as ws,
        ):
            ws.receive_json(timeout=5)
        return closed.value.code

    assert await _sync(denv, run) == 1008
    assert not denv.publisher.of(DeviceConnected)


async def test_the_token_may_come_in_the_query(denv):
    async with AsyncTestClient(denv.app) as client:
        tok = await _register(client, denv)

    def run(client):
        with client.websocket_connect(f"/ws/telemetry/d1?token={tok}") as ws:
            return ws.receive_json(timeout=5)["type"]

    assert await _sync(denv, run) == "hello"


@pytest.mark.parametrize(
    "bad, code, close",
    [
        ('{"type": "telemetry", "seq": 1}', "malformed", 1008),
        ('{"type": "telemetry", "seq": 1, "drift_ms": 1e9}', "malformed", 1008),
        ("not json", "malformed", 1008),
        (
            '{"type": "telemetry", "seq": 1, "drift_ms": 1, "pad": "' + "x" * 600 + '"}',
            "oversize",
            1009,
        ),
    ],
)
async def test_bad_frames_get_an_error_then_the_socket_closes_on_repeat(denv, bad, code, close):
    async with AsyncTestClient(denv.app) as client:
        tok = await _register(client, denv)

    def run(client):
        with _device_ws(client, "d1", tok) as ws:
            ws.receive_json(timeout=5)
            errors = []
            for _ in range(2):
                ws.send_text(bad)
                errors.append(ws.receive_json(timeout=5))
            ws.send_json({"type": "telemetry", "seq": 7, "drift_ms": 0})
            ack = ws.receive_json(timeout=5)
            ws.send_text(bad)
            errors.append(ws.receive_json(timeout=5))
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json(timeout=5)
            return errors, ack, closed.value.code

    errors, ack, closed = await _sync(denv, run)
    assert [e["code"] for e in errors] == [code] * 3 and ack == {"type": "ack", "seq": 7}
    assert closed == close


async def test_a_flooding_device_is_rate_limited_then_closed(denv):
    async with AsyncTestClient(denv.app) as client:
        tok = await _register(client, denv)

    def run(client):
        with _device_ws(client, "d1", tok) as ws:
            ws.receive_json(timeout=5)
            for seq in range(40):
                ws.send_json({"type": "telemetry", "seq": seq, "drift_ms": 0})
            got = []
            with pytest.raises(WebSocketDisconnect) as closed:
                while True:
                    got.append(ws.receive_json(timeout=5))
            return got, closed.value.code

    got, code = await _sync(denv, run)
    acks = [m for m in got if m["type"] == "ack"]
    assert 20 <= len(acks) <= 22, len(acks)
    assert [m["code"] for m in got if m["type"] == "error"] == ["rate_limited"] * 3
    assert code == 1008


# ------------------------------------------------------------------ offers and bundle answers


async def test_an_offer_reaches_the_socket_holding_the_device_and_its_answer_the_deployer(denv):
    async with AsyncTestClient(denv.app) as client:
        tok = await _register(client, denv, latency_offset_ms=12)
    await denv.objects.put_bytes("bundles/t1/v1/bundle.k1b", b"bundle")
    feed = DeviceFeed(denv.gw)
    offer = DeviceOffer(
        deployment_id="dep1",
        device_id="d1",
        track_id="t1",
        bundle_key="bundles/t1/v1/bundle.k1b",
        crc32=7,
        size_bytes=6,
        latency_offset_ms=12,
    )

    def run(client):
        with _device_ws(client, "d1", tok) as ws:
            ws.receive_json(timeout=5)
            missed = client.blocking_portal.call(
                feed.offer, offer.model_copy(update={"device_id": "elsewhere"})
            )
            sent = client.blocking_portal.call(feed.offer, offer)
            frame = ws.receive_json(timeout=5)
            ws.send_json(
                {
                    "type": "bundle_ack",
                    "deployment_id": "dep1",
                    "ok": False,
                    "reason": "CRC mismatch",
                }
            )
            ws.send_json({"type": "ping"})
            ws.receive_json(timeout=5)
            return missed, sent, frame

    missed, sent, frame = await _sync(denv, run)
    assert (missed, sent) == (False, True)
    assert (
        frame["type"],
        frame["deployment_id"],
        frame["crc32"],
        frame["size"],
        frame["latency_offset_ms"],
    ) == ("offer", "dep1", 7, 6, 12)
    assert frame["bundle_url"]
    [delivered] = denv.publisher.of(DeviceDelivered)
    assert (delivered.device_id, delivered.gateway_id) == ("d1", "gw-test")
    [answer] = denv.publisher.of(DeviceBundleAck)
    assert (answer.device_id, answer.ok, answer.reason) == ("d1", False, "CRC mismatch")


# ----------------------------------------------------------------------------- monitor socket


async def test_dashboards_see_the_fleet_and_a_drift_alert_at_once(denv):
    async with AsyncTestClient(denv.app) as client:
        tok = await _register(client, denv, drift_threshold_ms=30)

    def run(client):
        with (
            client.websocket_connect(f"/ws/monitor?token={token('viewer')}") as mon,
            _device_ws(client, "d1", tok) as ws,
        ):
            fleet = mon.receive_json(timeout=5)
            ws.receive_json(timeout=5)
            ws.send_json({"type": "telemetry", "seq": 1, "drift_ms": 10})
            ws.send_json({"type": "telemetry", "seq": 2, "drift_ms": -45})
            ws.send_json({"type": "telemetry", "seq": 3, "drift_ms": -47})  # same episode
            sent = time.monotonic()
            seen = []
            while not any(m["type"] == "alert" for m in seen):
                seen.append(mon.receive_json(timeout=5))
            latency = time.monotonic() - sent
            while not any(m["type"] == "status" and m["devices"] for m in seen):
                seen.append(mon.receive_json(timeout=5))
            return fleet, seen, latency

    fleet, seen, latency = await _sync(denv, run)
    assert fleet["type"] == "fleet" and [d["device_id"] for d in fleet["devices"]] == ["d1"]
    alerts = [m for m in seen if m["type"] == "alert"]
    assert [(a["device_id"], a["drift_ms"], a["seq"], a["threshold_ms"]) for a in alerts] == [
        ("d1", -45.0, 2, 30.0)
    ]
    assert latency < 1.0
    status = [m for m in seen if m["type"] == "status" and m["devices"]][0]
    assert status["devices"]["d1"]["connected"] is True


async def test_a_devices_drift_per_second_is_read_from_the_rollups(denv):
    await denv.gw.devices.telemetry.put_rollups(
        [
            {
                "_id": "d1:1000",
                "device_id": "d1",
                "partition": 3,
                "t0_s": 1000.0,
                "sec": [0, 7],
                "n": [10, 9],
                "p50": [2.0, 3.0],
                "p95": [4.0, 6.0],
                "max": [5.0, 7.5],
                "last": [-1.0, 2.5],
            }
        ]
    )
    async with AsyncTestClient(denv.app) as client:
        await _register(client, denv, "d1")
        url = "/api/v1/devices/d1/drift"
        got = await client.get(
            url, headers=denv.auth("viewer"), params={"since_s": 1001, "until_s": 1100}
        )
        assert got.status_code == 200, got.text
        assert got.json()["points"] == [
            {
                "t_s": 1007.0,
                "count": 9,
                "p50_ms": 3.0,
                "p95_ms": 6.0,
                "max_ms": 7.5,
                "last_drift_ms": 2.5,
            }
        ]
        too_long = {"since_s": 0, "until_s": 7 * 3600}
        assert (
            await client.get(url, headers=denv.auth("viewer"), params=too_long)
        ).status_code == 400
        assert (
            await client.get("/api/v1/devices/zz/drift", headers=denv.auth("viewer"))
        ).status_code == 404


async def test_alerts_from_the_telemetry_service_reach_dashboards_unless_already_shown(denv):
    feed = DeviceFeed(denv.gw)
    sub = denv.gw.hub.watch()
    alert = TelemetryAlert(
        device_id="d9",
        drift_ms=80,
        threshold_ms=50,
        frame_received_at="2030-01-01T00:00:00Z",
        gateway_id="gw-other",
    )
    await feed.handle(alert)
    await feed.handle(alert.model_copy(update={"gateway_id": "gw-test"}))
    await feed.handle(alert)  # the same alert again: a redelivered batch raised it twice
    [update] = await sub.next_batch()
    assert (update["type"], update["device_id"], update["source"]) == ("alert", "d9", "telemetry")


# -------------------------------------------------------------------------------- deployments


async def test_an_operator_deploys_a_ready_track_and_reads_per_device_state(denv):
    tid = await seed_track(denv.docs, status="ready")
    unready = await seed_track(denv.docs, n=2, status="analyzing")
    async with AsyncTestClient(denv.app) as client:
        await _register(client, denv, "d1")
        await _register(client, denv, "d2")
        url = "/api/v1/deployments"
        assert (
            await client.post(
                url, headers=denv.auth("viewer"), json={"track_id": tid, "group": "stage"}
            )
        ).status_code == 403
        assert (
            await client.post(
                url, headers=denv.auth("operator"), json={"track_id": "nope", "group": "stage"}
            )
        ).status_code == 404
        assert (
            await client.post(
                url, headers=denv.auth("operator"), json={"track_id": unready, "group": "stage"}
            )
        ).status_code == 409
        assert (
            await client.post(url, headers=denv.auth("operator"), json={"track_id": tid})
        ).status_code == 422
        unknown = await client.post(
            url,
            headers=denv.auth("operator"),
            json={"track_id": tid, "device_ids": ["d1", "ghost"]},
        )
        assert unknown.status_code == 422 and unknown.json()["device_ids"] == ["ghost"]
        accepted = await client.post(
            url,
            headers=denv.auth("operator"),
            json={"track_id": tid, "device_ids": ["d1", "d2"], "timeout_s": 5},
        )
        assert accepted.status_code == 202
        dep = accepted.json()["deployment_id"]
        [cmd] = denv.publisher.of(DeploymentRequested)
        assert (cmd.deployment_id, cmd.device_ids, cmd.timeout_s) == (dep, ["d1", "d2"], 5.0)
        early = await client.get(f"{url}/{dep}", headers=denv.auth("viewer"))
        assert early.json()["status"] == "requested"
        await denv.gw.devices.deployments.create(
            NewDeployment(dep, tid, "bundles/x", 1, 2, ("d1", "d2"), 5.0), deadline_s=1e12
        )
        await denv.gw.devices.deployments.move(dep, "d1", to="acked", from_states=["pending"])
        later = (await client.get(f"{url}/{dep}", headers=denv.auth("viewer"))).json()
        assert later["status"] == "in_progress" and later["counts"] == {"acked": 1, "pending": 1}
        assert [(d["device_id"], d["state"]) for d in later["devices"]] == [
            ("d1", "acked"),
            ("d2", "pending"),
        ]
        assert (await client.get(f"{url}/nope", headers=denv.auth())).status_code == 404


async def test_the_dashboard_page_carries_the_fleet_panel(denv):
    async with AsyncTestClient(denv.app) as client:
        page = await client.get("/")
        assert 'id="fleet"' in page.text and "/static/fleet.js" in page.text
        script = await client.get("/static/fleet.js")
        assert script.status_code == 200 and "/ws/monitor" in script.text
