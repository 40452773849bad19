"""Every /api/v1 route needs a valid token of the right role; errors leak nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from tests.unit.gateway.conftest import SECRET, expired_token, seed_track, token

T = "t0001"
ROUTES = [  # method, path, least role
    ("GET", "/api/v1/tracks", "viewer"),
    ("POST", "/api/v1/tracks", "operator"),
    ("POST", "/api/v1/tracks/presigned", "operator"),
    ("POST", f"/api/v1/tracks/uploads/{'a' * 32}/complete", "operator"),
    ("GET", f"/api/v1/tracks/{T}", "viewer"),
    ("DELETE", f"/api/v1/tracks/{T}", "admin"),
    ("POST", f"/api/v1/tracks/{T}/analysis", "operator"),
    ("GET", f"/api/v1/tasks/{T}.v1", "viewer"),
    ("GET", f"/api/v1/tracks/{T}/genesis-map", "viewer"),
    ("POST", f"/api/v1/tracks/{T}/genesis-map", "operator"),
    ("GET", f"/api/v1/tracks/{T}/picture.png", "viewer"),
    ("GET", "/api/v1/presets", "viewer"),
]
LOWER = {"viewer": [], "operator": ["viewer"], "admin": ["viewer", "operator"]}


def _b64(raw: bytes) -> str:
    """JWT's base64url without padding."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64_json(part: dict[str, object]) -> str:
    return _b64(json.dumps(part).encode())


def _alg_none() -> str:
    header = _b64_json({"alg": "none", "typ": "JWT"})
    claims = _b64_json({"sub": "x", "role": "admin", "exp": 4102444800})
    return f"{header}.{claims}."


BAD_TOKENS = {
    "missing": None,
    "garbage": "Bearer not-a-jwt",
    "wrong scheme": f"Basic {token()}",
    "expired": f"Bearer {expired_token()}",
    "alg none": f"Bearer {_alg_none()}",
    "wrong key": f"Bearer {token(secret='another-secret-0123456789abcdef-xyz')}",
    "tampered": f"Bearer {token('viewer')[:-4]}AAAA",
}


@pytest.mark.parametrize("method,path,role", ROUTES)
@pytest.mark.parametrize("case", list(BAD_TOKENS))
async def test_bad_tokens_are_401(env, method, path, role, case):
    headers = {} if BAD_TOKENS[case] is None else {"Authorization": BAD_TOKENS[case]}
    r = await env.client.request(method, path, headers=headers)
    assert r.status_code == 401, (case, r.text)
    assert r.json()["error"] == "unauthorized" and r.headers["www-authenticate"] == "Bearer"
    assert SECRET not in r.text


@pytest.mark.parametrize("method,path,role", [r for r in ROUTES if LOWER[r[2]]])
async def test_lower_roles_are_403(env, method, path, role):
    await seed_track(env.docs, objects=env.objects)
    for lower in LOWER[role]:
        r = await env.client.request(method, path, headers=env.auth(lower))
        assert r.status_code == 403, (lower, r.text)
        assert role in r.json()["detail"]
    assert await env.docs.tracks.get_track(T) is not None


@pytest.mark.parametrize("method,path,role", ROUTES)
async def test_the_right_role_gets_past_auth(env, method, path, role):
    await seed_track(env.docs, objects=env.objects)
    r = await env.client.request(method, path, headers=env.auth(role))
    assert r.status_code not in (401, 403), r.text


async def test_public_routes_need_no_token(env):
    for path in (
        "/health",
        "/ready",
        "/metrics",
        "/schema/openapi.json",
        "/schema/swagger",
        "/schema/redoc",
        "/",
    ):
        r = await env.client.get(path)
        assert r.status_code == 200, path


async def test_cors_allows_only_configured_origins(env):
    ok = await env.client.options(
        "/api/v1/tracks",
        headers={"Origin": "http://dash.example", "Access-Control-Request-Method": "GET"},
    )
    assert ok.headers.get("access-control-allow-origin") == "http://dash.example"
    evil = await env.client.get("/health", headers={"Origin": "http://evil.example"})
    assert evil.headers.get("access-control-allow-origin") is None


async def test_every_cors_answer_varies_on_origin(env):
    """Preflights (allowed or refused) and plain answers all depend on Origin: caches must
    key them on it."""
    answers = [
        await env.client.options(
            path, headers={"Origin": origin, "Access-Control-Request-Method": "GET"}
        )
        for path in ("/api/v1/tracks", "/health")
        for origin in ("http://dash.example", "http://evil.example")
    ]
    answers += [
        await env.client.get("/health", headers={"Origin": "http://evil.example"}),
        await env.client.get("/health"),
    ]
    assert [a.status_code for a in answers] == [204, 400, 204, 400, 200, 200]
    for answer in answers:
        assert "origin" in answer.headers.get("vary", "").lower(), dict(answer.headers)


def _signed(claims: dict) -> str:
    head, body = _b64(b'{"alg":"HS256","typ":"JWT"}'), _b64(json.dumps(claims).encode())
    sig = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}"


ODD_CLAIMS = {
    "role list": {"role": ["admin"]},
    "role object": {"role": {"name": "admin"}},
    "role int": {"role": 2},
    "role null": {"role": None},
    "sub int": {"sub": 42},
    "sub object": {"sub": {"id": "x"}},
    "exp string": {"exp": str(int(time.time()) + 600)},
    "exp list": {"exp": [1]},
    "iat string": {"iat": str(int(time.time()))},
    "exp a century away": {"exp": int(time.time()) + 100 * 365 * 24 * 3600},
    "admin for 8 days": {"role": "admin", "exp": int(time.time()) + 8 * 24 * 3600},
}


@pytest.mark.parametrize("case", list(ODD_CLAIMS))
async def test_a_signed_token_with_odd_claims_is_401_not_500(env, case):
    now = int(time.time())
    claims = {"sub": "mallory", "role": "viewer", "iat": now, "exp": now + 600, **ODD_CLAIMS[case]}
    for method, path in (("GET", "/api/v1/tracks"), ("DELETE", f"/api/v1/tracks/{T}")):
        r = await env.client.request(
            method, path, headers={"Authorization": f"Bearer {_signed(claims)}"}
        )
        assert r.status_code == 401, (case, r.status_code, r.text)
        assert r.json()["error"] == "unauthorized"
