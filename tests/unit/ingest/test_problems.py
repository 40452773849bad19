"""Every error ingest answers is an RFC 9457 problem document (``application/problem+json``)."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from infra.auth import issue_token
from infra.docstore_fake import FakeDocStore
from infra.objectstore_fake import FakeObjectStore
from infra.problems import PROBLEM_MEDIA_TYPE, problem, title_of
from infra.publishing import RecordingPublisher
from services.ingest.app import IngestConfig, create_app
from services.ingest.service import IngestPorts

SECRET = "ingest-problem-secret-0123456789abcdef"


@pytest.fixture
async def client():
    ports = IngestPorts(FakeDocStore(), FakeObjectStore(), RecordingPublisher())
    cfg = IngestConfig(
        max_upload_bytes=1024,
        max_duration_s=60,
        default_preset="edm_high_energy",
        jwt_secret=SECRET,
    )
    async with AsyncTestClient(create_app(ports=ports, cfg=cfg)) as client:
        yield client


def _operator() -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, subject='t', role='operator')}"}


def _assert_problem(response, status: int, error: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["type"] == f"urn:k1:problem:{error}" and body["error"] == error
    assert body["status"] == status and body["title"] == title_of(error)
    assert isinstance(body["detail"], str) and body["detail"]
    assert "status_code" not in body
    return body


async def test_a_missing_token_is_a_401_problem_with_a_bearer_challenge(client):
    response = await client.post("/uploads", content=b"RIFF")
    body = _assert_problem(response, 401, "unauthorized")
    assert body["instance"] == "/uploads"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_refused_media_type_is_a_415_problem(client):
    response = await client.post(
        "/uploads", content=b"hello", headers={**_operator(), "Content-Type": "text/plain"}
    )
    _assert_problem(response, 415, "unsupported_media_type")


async def test_a_bad_parameter_is_a_400_problem_naming_the_field(client):
    response = await client.post(
        "/uploads",
        params={"preset": "NOT A PRESET"},
        content=b"RIFF",
        headers={**_operator(), "Content-Type": "audio/wav"},
    )
    body = _assert_problem(response, 400, "bad_request")
    assert [(f["field"], f["source"]) for f in body["fields"]] == [("preset", "query")]
    assert all(f["message"] for f in body["fields"])


async def test_an_unconfigured_feature_and_an_unknown_route_are_problems_too(client):
    presign = await client.post("/uploads/presigned", json={}, headers=_operator())
    _assert_problem(presign, 503, "unavailable")
    _assert_problem(await client.get("/nowhere"), 404, "not_found")


def test_extensions_never_overwrite_the_standard_members():
    body = problem(422, "invalid_map", "bad", extra={"status": 200, "fields": [], "type": "x"})
    assert body["status"] == 422 and body["type"] == "urn:k1:problem:invalid_map"
    assert body["fields"] == [] and title_of("malformed_json") == "Malformed JSON"
