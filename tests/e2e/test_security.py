"""Security of the running stack (every service its own process, the local folder store so
signed object URLs are enforced by our own code, distinctive secrets so a leak is findable):

* every operation in the gateway's OpenAPI schema except health/readiness needs a token —
  enumerated from the schema, so a new route is covered without touching this file;
* roles are ordered (viewer < operator < admin) and each operation admits exactly the roles at
  or above one threshold; the known sensitive ones sit where they must;
* expired, tampered, wrong-key, ``alg: none``, wrong-algorithm and unknown-role JWTs are refused;
* a device cannot connect as another device, cannot use its token on the REST API, and cannot
  turn its bundle link into a link to another object; signed links expire;
* the JWT secret, S3 secret, device and user tokens never show up in any log line or error body;
* no secret is a constant of the code: the stack's JWT secret is its own random one, so tokens
  and object URLs signed with the old public dev secret are refused (issue 12, items 1 and 2);
* a stored map altered behind the API's back is refused, not served under its old ETag;
* validly signed tokens with odd claim shapes, a string ``exp`` or a century-long lifetime get
  401, never 500 (items 5 and 10);
* the progress socket closes on any oversize frame, text or binary, with 1009; CORS answers
  carry ``Vary: Origin`` (item 10).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx
import jwt
import pytest
import websockets

from infra.auth import ROLE_RANK, issue_token
from infra.objectstore import derive_url_secret
from infra.objectstore_local import UrlSigner
from k1.cmd_devices import register_devices
from k1.stack import Stack
from tests.e2e.conftest import LogTap, start_stack
from tests.e2e.songs import click_song

pytestmark = pytest.mark.e2e

PUBLIC = {"/health", "/ready"}
ROLES = ("viewer", "operator", "admin")
OFFER_URL_EXPIRY_S = 10
SEEN: list[httpx.Response] = []
"""Every response this module got, for the leak scan at the end."""


@pytest.fixture(scope="module")
def secure(tmp_path_factory, stack_vhost) -> Iterator[tuple[Stack, LogTap, dict]]:
    tap = LogTap()
    secrets_ = {"s3": "s3secret-" + secrets.token_urlsafe(24)}
    # No jwt_secret given: the stack makes its own, as `make run` does (never a constant).
    stack = Stack(
        var_dir=tmp_path_factory.mktemp("secure"),
        amqp_url=stack_vhost,
        database=f"sec_{uuid.uuid4().hex[:8]}",
        log=tap,
        extra_env={
            "K1_S3_SECRET_KEY": secrets_["s3"],
            "K1_LOG_LEVEL": "DEBUG",
            "K1_DEVICE_OFFER_URL_EXPIRY_S": str(OFFER_URL_EXPIRY_S),
            "K1_RETRY_BACKOFF_S": "0.1",
        },
    )
    secrets_["jwt"] = stack.jwt_secret
    yield start_stack(stack, tap), tap, secrets_
    stack.stop()


def _call(stack: Stack, method: str, path: str, token: str | None = None, **kw) -> httpx.Response:
    headers = {**kw.pop("headers", {})}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = httpx.request(method, stack.gateway_url + path, headers=headers, timeout=30, **kw)
    SEEN.append(response)
    return response


def _operations(stack: Stack) -> list[tuple[str, str]]:
    schema = httpx.get(f"{stack.gateway_url}/schema/openapi.json", timeout=10).json()
    ops = [
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(ops) >= 10, ops
    return ops


def _concrete(path: str) -> str:
    """A path with every parameter filled by an id that exists nowhere."""
    parts = [("nope" + uuid.uuid4().hex[:8] if p.startswith("{") else p) for p in path.split("/")]
    return "/".join(parts)


def _probe(stack: Stack, method: str, path: str, token: str | None) -> httpx.Response:
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return _call(stack, method, _concrete(path), token, **body)


# ---------------------------------------------------------------------------- who may call


def test_every_operation_but_health_needs_a_token(secure):
    stack, _, _ = secure
    open_ = []
    for method, path in _operations(stack):
        response = _probe(stack, method, path, None)
        if path in PUBLIC:
            assert response.status_code < 500
            continue
        if response.status_code != 401:
            open_.append((method, path, response.status_code))
        else:
            assert response.headers.get("www-authenticate", "").lower().startswith("bearer")
    assert not open_, f"answer without a token: {open_}"


def test_each_role_is_held_to_its_rights(secure):
    stack, _, _ = secure
    needed: dict[tuple[str, str], str] = {}
    for method, path in _operations(stack):
        if path in PUBLIC:
            continue
        allowed = [
            role
            for role in ROLES
            if _probe(stack, method, path, stack.token(role)).status_code not in (401, 403)
        ]
        assert allowed, f"{method} {path} admits nobody"
        # ordered: once a role may, every higher role may too
        assert allowed == list(ROLES[ROLES.index(allowed[0]) :]), (method, path, allowed)
        needed[(method, path)] = allowed[0]
    expected = {
        ("POST", "/api/v1/tracks"): "operator",
        ("DELETE", "/api/v1/tracks/{track_id}"): "admin",
        ("GET", "/api/v1/tracks"): "viewer",
        ("POST", "/api/v1/devices"): "admin",
        ("POST", "/api/v1/deployments"): "operator",
    }
    for op, role in expected.items():
        if op in needed:
            assert needed[op] == role, (op, needed[op])
    writes = [op for op in needed if op[0] != "GET"]
    assert all(needed[op] != "viewer" for op in writes), {op: needed[op] for op in writes}


# ---------------------------------------------------------------------------------- JWTs


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _bad_tokens(secret: str) -> dict[str, str]:
    now = int(time.time())
    good = issue_token(secret, subject="mallory", role="viewer", ttl_s=600)
    head, payload, sig = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return {
        "expired": issue_token(secret, subject="mallory", role="admin", ttl_s=60, now=now - 3600),
        "tampered role": f"{head}.{_b64({**claims, 'role': 'admin'})}.{sig}",
        "tampered signature": f"{head}.{payload}.{sig[:-4]}AAAA",
        "wrong key": issue_token("another-secret-" + "x" * 32, subject="m", role="admin"),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({**claims, 'role': 'admin'})}.",
        "HS512": jwt.encode({**claims, "role": "admin"}, secret, algorithm="HS512"),
        "no exp": jwt.encode({"sub": "m", "role": "admin"}, secret, algorithm="HS256"),
        "unknown role": jwt.encode({**claims, "role": "root"}, secret, algorithm="HS256"),
        "garbage": "not-a-jwt",
        **{name: _hs256({**claims, **odd}, secret) for name, odd in ODD_CLAIMS.items()},
        "old public dev secret": issue_token(OLD_DEV_SECRET, subject="m", role="admin"),
    }


OLD_DEV_SECRET = "dev-insecure-jwt-secret-change-me-please"
"""The constant the code used to default to: public, so nothing may accept what it signs."""
ODD_CLAIMS = {
    "role list": {"role": ["admin"]},
    "role object": {"role": {"admin": True}},
    "role int": {"role": 2},
    "sub int": {"sub": 7},
    "sub list": {"sub": ["a"]},
    "exp string": {"exp": str(int(time.time()) + 600)},
    "exp bool": {"exp": True},
    "exp a century away": {"exp": int(time.time()) + 100 * 365 * 24 * 3600},
    "viewer for 31 days": {"exp": int(time.time()) + 31 * 24 * 3600},
}


def _hs256(claims: dict, secret: str) -> str:
    """Validly signed, whatever the claims look like (PyJWT's encoder checks some of them)."""
    head, body = _b64({"alg": "HS256", "typ": "JWT"}), _b64(claims)
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"


def test_bad_jwts_are_refused(secure):
    stack, _, keys = secure
    for name, token in _bad_tokens(keys["jwt"]).items():
        response = _call(stack, "GET", "/api/v1/tracks", token)
        assert response.status_code == 401, (name, response.status_code)
        assert "Traceback" not in response.text
    assert _call(stack, "GET", "/api/v1/tracks", stack.token("viewer")).status_code == 200


def test_a_bad_jwt_cannot_open_the_monitor_socket(secure):
    stack, _, keys = secure
    base = stack.gateway_url.replace("http", "ws", 1)

    async def attempt(token: str) -> bool:
        try:
            async with websockets.connect(f"{base}/ws/monitor?token={token}") as ws:
                await asyncio.wait_for(ws.recv(), 5)
                return True
        except (websockets.ConnectionClosed, websockets.InvalidStatus):
            return False

    assert not asyncio.run(attempt(_bad_tokens(keys["jwt"])["alg none"]))
    assert asyncio.run(attempt(stack.token("viewer")))


# ------------------------------------------------------------------------------- devices


@pytest.fixture(scope="module")
def offer(secure) -> dict:
    """Two devices; a ready track deployed to the first; the offer it got."""
    stack, _, _ = secure
    response = _call(
        stack,
        "POST",
        "/api/v1/tracks",
        stack.token("operator"),
        params={"filename": "sec.wav"},
        content=click_song(bpm=120, seed=3),
        headers={"Content-Type": "audio/wav"},
    )
    assert response.status_code == 201, response.text
    track_id = response.json()["track_id"]
    deadline = time.monotonic() + 90
    while _call(stack, "GET", f"/api/v1/tracks/{track_id}", stack.token("viewer")).json()[
        "status"
    ] not in ("ready", "warning"):
        assert time.monotonic() < deadline, "track never ready"
        time.sleep(0.3)
    devices = register_devices(stack.gateway_url, stack.token("admin"), count=2, group="sec")
    (mine, my_token), (other, other_token) = [(d["device_id"], d["token"]) for d in devices]
    url = f"{stack.gateway_url.replace('http', 'ws', 1)}/ws/telemetry/{mine}"

    async def take_offer() -> dict:
        async with websockets.connect(
            url, additional_headers={"Authorization": f"Bearer {my_token}"}
        ) as ws:
            await asyncio.wait_for(ws.recv(), 10)  # hello
            for _ in range(50):  # the bundle may still be building: deploy until offered
                deployed = _call(
                    stack,
                    "POST",
                    "/api/v1/deployments",
                    stack.token("operator"),
                    json={"track_id": track_id, "device_ids": [mine], "timeout_s": 30},
                )
                if deployed.status_code == 202:
                    break
                await asyncio.sleep(0.3)
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 20))
                if msg.get("type") == "offer":
                    return msg

    got = asyncio.run(take_offer())
    return {
        "offer": got,
        "mine": (mine, my_token),
        "other": (other, other_token),
        "received_at": time.monotonic(),
    }


def test_a_device_cannot_connect_as_another_device(secure, offer):
    stack, _, _ = secure
    other_id, _ = offer["other"]
    _, my_token = offer["mine"]
    url = f"{stack.gateway_url.replace('http', 'ws', 1)}/ws/telemetry/{other_id}"

    async def attempt() -> int:
        async with websockets.connect(
            url, additional_headers={"Authorization": f"Bearer {my_token}"}
        ) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            return closed.value.rcvd.code

    assert asyncio.run(attempt()) == 1008


def test_a_device_token_opens_nothing_on_the_api(secure, offer):
    stack, _, _ = secure
    _, my_token = offer["mine"]
    for method, path in _operations(stack):
        if path not in PUBLIC:
            assert _probe(stack, method, path, my_token).status_code == 401, (method, path)


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=path))


def test_a_bundle_link_opens_only_its_own_object_and_expires(secure, offer):
    stack, _, _ = secure
    url = offer["offer"]["bundle_url"]
    assert dict(parse_qsl(urlsplit(url).query)).get("sig"), url  # signed, not public
    assert httpx.get(url, timeout=10).status_code == 200
    path = urlsplit(url).path
    for other in (
        path.replace("/bundles/", "/maps/").replace("bundle.k1b", "map.json"),
        path.rsplit("/", 3)[0] + "/someone-else/v1/bundle.k1b",
        path + "/../../audio",
    ):
        assert httpx.get(_with_path(url, other), timeout=10).status_code in (403, 404), other
    unsigned = urlunsplit(urlsplit(url)._replace(query=""))
    assert httpx.get(unsigned, timeout=10).status_code in (400, 403, 404)
    time.sleep(max(0.0, offer["received_at"] + OFFER_URL_EXPIRY_S + 1.5 - time.monotonic()))
    expired = httpx.get(url, timeout=10)
    SEEN.append(expired)
    assert expired.status_code == 403 and "expired" in expired.text


def test_a_presigned_upload_link_is_bound_to_its_object_and_method(secure):
    stack, _, _ = secure
    grant = _call(
        stack,
        "POST",
        "/api/v1/tracks/presigned",
        stack.token("operator"),
        json={"filename": "p.wav"},
    )
    assert grant.status_code == 201, grant.text
    url = grant.json()["upload_url"]
    assert httpx.get(url, timeout=10).status_code in (403, 404, 405)  # a PUT link, not GET
    moved = _with_path(url, urlsplit(url).path.replace("incoming/", "audio/"))
    assert httpx.put(moved, content=b"x", timeout=10).status_code == 403


# ------------------------------------------------------------------- signed objects, maps


def _ready_track(stack: Stack) -> str:
    page = _call(stack, "GET", "/api/v1/tracks", stack.token("viewer")).json()
    ready = [t["track_id"] for t in page["items"] if t["status"] in ("ready", "warning")]
    assert ready, page
    return ready[0]


def test_an_object_url_signed_with_the_old_public_secret_is_refused(secure, offer):
    """The attack of issue 12: no token, a signature computed from the public dev secret, a
    PUT over a stored map. The stack's own key is random, so the signature is worthless."""
    stack, _, _ = secure
    key = f"maps/{_ready_track(stack)}/v1/map.json"
    forged = UrlSigner(derive_url_secret(OLD_DEV_SECRET), base_url=f"{stack.gateway_url}/objects")
    before = (stack.data_dir / "objects" / key).read_bytes()
    put = httpx.put(
        forged.sign(key, method="PUT", expires_s=600), content=b'{"evil": 1}', timeout=10
    )
    SEEN.append(put)
    assert put.status_code == 403, put.text
    assert (stack.data_dir / "objects" / key).read_bytes() == before
    get = httpx.get(forged.sign(key, method="GET", expires_s=600), timeout=10)
    assert get.status_code == 403


def test_a_map_altered_in_the_store_is_refused_not_served_under_its_old_etag(secure, offer):
    stack, _, _ = secure
    track_id = _ready_track(stack)
    url = f"/api/v1/tracks/{track_id}/genesis-map"
    good = _call(stack, "GET", url, stack.token("viewer"))
    assert good.status_code == 200, good.text
    path = stack.data_dir / "objects" / "maps" / track_id / "v1" / "map.json"
    original = path.read_bytes()
    altered = json.loads(original)
    altered["layers"]["rhythm"]["beat_grid_ms"] = altered["layers"]["rhythm"]["beat_grid_ms"][:2]
    try:
        path.write_bytes(json.dumps(altered).encode())
        bad = _call(stack, "GET", url, stack.token("viewer"))
        assert bad.status_code == 502 and bad.json()["error"] == "map_corrupt", bad.text
        assert bad.headers.get("etag") != good.headers["etag"]
    finally:
        path.write_bytes(original)
    assert _call(stack, "GET", url, stack.token("viewer")).content == good.content


# ------------------------------------------------------------------------ sockets, CORS


def test_the_progress_socket_closes_on_an_oversize_frame_text_or_binary(secure):
    stack, _, _ = secure
    url = (
        f"{stack.gateway_url.replace('http', 'ws', 1)}/api/v1/events?token={stack.token('viewer')}"
    )

    async def close_code(frame: str | bytes) -> int | None:
        async with websockets.connect(url) as ws:
            await ws.send(frame)
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None
            except TimeoutError:
                return None  # still open
        return None

    assert asyncio.run(close_code("x" * 200_000)) == 1009
    assert asyncio.run(close_code(b"x" * 200_000)) == 1009


def test_cors_preflights_vary_on_origin(secure):
    stack, _, _ = secure
    for origin, status in (("http://127.0.0.1:8000", 204), ("http://evil.example", 400)):
        answer = _call(
            stack,
            "OPTIONS",
            "/api/v1/tracks",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert answer.status_code == status, (origin, answer.status_code)
        assert "origin" in answer.headers.get("vary", "").lower(), (origin, answer.headers)
        allowed = answer.headers.get("access-control-allow-origin")
        assert allowed == (origin if status == 204 else None)


# ------------------------------------------------------------------------------- leaks


def test_zz_no_secret_or_token_in_any_log_line_or_error_body(secure, offer):
    """Runs last: scans everything the stack logged while the tests above ran."""
    stack, tap, keys = secure
    _call(stack, "GET", "/api/v1/tracks", "Bearer-garbage-" + keys["jwt"][:12])
    needles = {
        "JWT secret": keys["jwt"],
        "S3 secret key": keys["s3"],
        "device token": offer["mine"][1],
        "other device token": offer["other"][1],
        **{f"{r} token": stack.token(r) for r in ROLE_RANK},
    }
    needles.update(
        {f"bad token: {n}": t for n, t in _bad_tokens(keys["jwt"]).items() if len(t) > 20}
    )
    logged = {line.split("]")[0].strip("[ ") for line in tap.lines if line.startswith("[")}
    assert len(tap.lines) > 40 and {"gateway", "ingest", "analyzer"} <= logged, logged
    for what, needle in needles.items():
        hits = [line for line in tap.lines if needle in line]
        assert not hits, f"{what} leaked into the logs: {hits[:2]}"
        bodies = [r for r in SEEN if needle in r.text and r.status_code >= 400]
        assert not bodies, f"{what} leaked into an error body: {bodies[0].text[:200]}"
