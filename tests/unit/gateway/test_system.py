"""Presets, health, readiness, metrics, the OpenAPI document and the token command."""

from __future__ import annotations

import subprocess
import sys

from contracts.presets import PRESETS
from infra.auth import verify_token
from services.analyzer.domain.presets import PRESETS as ANALYZER_PRESETS
from tests.unit.gateway.conftest import seed_track


def test_contract_presets_agree_with_the_analyzers():
    assert {p.name: p.description for p in PRESETS} == {
        name: p.description for name, p in ANALYZER_PRESETS.items()
    }


async def test_presets_endpoint(env):
    r = await env.client.get("/api/v1/presets", headers=env.auth("viewer"))
    assert r.status_code == 200
    assert [p["name"] for p in r.json()] == ["edm_high_energy", "chill", "rock", "hiphop"]
    assert all(p["description"] for p in r.json())


async def test_health_and_readiness(env):
    assert (await env.client.get("/health")).json() == {"status": "ok"}
    ok = await env.client.get("/ready")
    assert ok.status_code == 200 and ok.json()["checks"] == {
        "rabbitmq": "ok",
        "mongodb": "ok",
        "objects": "ok",
    }

    async def down() -> None:
        raise ConnectionError("amqp://guest:guest@127.0.0.1 refused")

    env.checks["rabbitmq"] = down
    r = await env.client.get("/ready")
    assert r.status_code == 503 and r.json()["status"] == "unavailable"
    assert r.json()["checks"]["rabbitmq"] == "down: ConnectionError" and "guest" not in r.text


async def test_metrics_count_requests_and_sockets(env):
    await seed_track(env.docs)
    await env.client.get("/api/v1/tracks/t0001", headers=env.auth("viewer"))
    text = (await env.client.get("/metrics")).text
    assert "k1_gateway_requests_total" in text and "k1_gateway_request_duration_seconds" in text
    assert "/api/v1/tracks/{track_id}" in text, "paths are grouped by template"
    assert "k1_gateway_websocket_connections" in text


async def test_metrics_need_the_metrics_token_when_one_is_set(env):
    """The gateway is the public door: with K1_METRICS_TOKEN set, /metrics is not for all."""
    env.app.state.metrics_token = "scrape-secret"
    for headers in ({}, {"Authorization": "Bearer wrong"}, env.auth("admin")):
        refused = await env.client.get("/metrics", headers=headers)
        assert refused.status_code == 401 and "k1_gateway" not in refused.text
    allowed = await env.client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert allowed.status_code == 200 and "k1_gateway_requests_total" in allowed.text


async def test_openapi_documents_every_model_field(env):
    doc = (await env.client.get("/schema/openapi.json")).json()
    paths = doc["paths"]
    for path in (
        "/api/v1/tracks",
        "/api/v1/tracks/{track_id}",
        "/api/v1/tracks/{track_id}/analysis",
        "/api/v1/tasks/{task_id}",
        "/api/v1/tracks/{track_id}/genesis-map",
        "/api/v1/tracks/{track_id}/picture.png",
        "/api/v1/presets",
        "/health",
        "/ready",
    ):
        assert path in paths, path
    undocumented = [
        f"{name}.{field}"
        for name, schema in doc["components"]["schemas"].items()
        if name
        in {
            "TrackDetail",
            "TrackPage",
            "TrackSummary",
            "TaskStatus",
            "TaskAccepted",
            "TrackAccepted",
            "AnalysisSummary",
            "PresetOut",
            "Readiness",
            "PresignedUpload",
            "TaskResult",
        }
        for field, prop in schema.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert undocumented == []
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


async def test_openapi_documents_the_errors_each_route_answers(env):
    """A client generator sees every error a route gives, all as one RFC 9457 problem shape."""
    doc = (await env.client.get("/schema/openapi.json")).json()
    for path, item in doc["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, op in item.items():
            codes = {c for c in op["responses"] if c.startswith(("4", "5"))}
            assert {"401", "403"} <= codes, (method, path, sorted(codes))
            for code in codes:
                content = op["responses"][code]["content"]
                assert list(content) == ["application/problem+json"], (method, path, code)
                schema = content["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}, (method, path, code)
    delete = doc["paths"]["/api/v1/tracks/{track_id}"]["delete"]["responses"]
    assert {"401", "403", "404", "409"} <= set(delete)
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "error"}
    assert {"instance", "fields"} <= set(problem["properties"])
    assert all(prop.get("description") for prop in problem["properties"].values())
    # and a real error answer has that shape
    answer = await env.client.delete("/api/v1/tracks/nope", headers=env.auth("admin"))
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json() == {
        "type": "urn:k1:problem:not_found",
        "title": "Not found",
        "status": 404,
        "detail": answer.json()["detail"],
        "instance": "/api/v1/tracks/nope",
        "error": "not_found",
    }


async def test_the_asyncapi_document_is_served_beside_openapi_without_a_token(env):
    from contracts.asyncapi import asyncapi_document

    r = await env.client.get("/schema/asyncapi.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert r.json() == asyncapi_document() and r.json()["asyncapi"].startswith("3.")
    assert (await env.client.get("/schema/openapi.json")).status_code == 200


def test_token_command_prints_a_token_of_the_role(monkeypatch):
    secret = "cli-test-secret-0123456789abcdef-xyz"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "k1.cli",
            "token",
            "--role",
            "admin",
            "--subject",
            "me",
            "--ttl",
            "60",
        ],
        capture_output=True,
        text=True,
        env={"K1_JWT_SECRET": secret, "PATH": "/usr/bin:/bin"},
        check=True,
    )
    principal = verify_token(secret, out.stdout.strip())
    assert (principal.subject, principal.role) == ("me", "admin")
    bad = subprocess.run(
        [sys.executable, "-m", "k1.cli", "token", "--ttl", "0"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "ttl" in bad.stderr


def test_refuses_to_start_without_a_secret_or_with_a_placeholder_outside_dev_mode():
    import pytest

    from infra.settings import Settings
    from services.gateway.__main__ import build_app

    with pytest.raises(RuntimeError, match="K1_JWT_SECRET is not set"):
        build_app(Settings(_env_file=None, jwt_secret=""))
    with pytest.raises(RuntimeError, match="K1_JWT_SECRET is refused.*placeholder"):
        build_app(Settings(_env_file=None, jwt_secret="REPLACE-ME-with-at-least-32-random-bytes"))


def test_every_service_refuses_the_compose_placeholder_at_start_with_a_clear_message():
    env = {
        "PATH": "/usr/bin:/bin",
        "K1_JWT_SECRET": "compose-only-jwt-secret-change-me-0123456789",
        "K1_LOG_FORMAT": "text",
    }  # and no K1_DEV_MODE: production is the default
    for service in ("gateway", "ingest", "validator"):
        out = subprocess.run(
            [sys.executable, "-m", f"services.{service}"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert out.returncode != 0, (service, out.stdout, out.stderr)
        assert "K1_JWT_SECRET is refused because it looks like a placeholder" in out.stderr, (
            service,
            out.stderr[-500:],
        )
        assert "Traceback" not in out.stderr and "token_urlsafe" in out.stderr


def test_token_lifetimes_are_capped_by_role_when_minting():
    secret = "cli-test-secret-0123456789abcdef-xyz"
    env = {"K1_JWT_SECRET": secret, "PATH": "/usr/bin:/bin"}
    week, month = 7 * 24 * 3600, 30 * 24 * 3600
    ok = subprocess.run(
        [sys.executable, "-m", "k1.cli", "token", "--role", "viewer", "--ttl", str(month)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert verify_token(secret, ok.stdout.strip()).role == "viewer"
    too_long = subprocess.run(
        [sys.executable, "-m", "k1.cli", "token", "--role", "admin", "--ttl", str(week + 1)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert too_long.returncode == 2 and f"1..{week} seconds for the admin role" in too_long.stderr


def test_gateway_imports_no_other_service():
    from pathlib import Path

    root = Path(__file__).parents[3] / "services" / "gateway"
    for path in root.rglob("*.py"):
        text = path.read_text()
        for other in ("analyzer", "validator", "ingest", "deployer", "telemetry"):
            assert f"services.{other}" not in text, f"{path} imports services.{other}"
