import base64
import hashlib
import hmac
import json
import secrets

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.auth import (
    CLOCK_SKEW_S,
    DAY_S,
    MAX_TTL_S,
    ROLE_RANK,
    AuthError,
    bearer,
    check_secret,
    issue_token,
    verify_token,
)
from infra.secret_strength import secret_problem
from infra.settings import Settings

SECRET = "s" * 40


def test_a_valid_token_gives_its_role_and_ranks_compare():
    p = verify_token(SECRET, issue_token(SECRET, subject="ana", role="operator"))
    assert (p.subject, p.role) == ("ana", "operator")
    assert p.may("viewer") and p.may("operator") and not p.may("admin")


def test_expired_token_is_refused():
    token = issue_token(SECRET, subject="a", role="admin", ttl_s=10, now=1_000_000)
    with pytest.raises(AuthError, match="expired"):
        verify_token(SECRET, token)


def test_wrong_key_and_tampered_tokens_are_refused():
    token = issue_token(SECRET, subject="a", role="viewer")
    with pytest.raises(AuthError, match="invalid"):
        verify_token("x" * 40, token)
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["role"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(AuthError):
        verify_token(SECRET, f"{head}.{forged}.{sig}")


def test_alg_none_is_refused():
    token = jwt.encode({"sub": "a", "role": "admin", "exp": 2**40}, None, algorithm="none")
    with pytest.raises(AuthError):
        verify_token(SECRET, token)


def test_unknown_role_is_refused_both_ways():
    with pytest.raises(ValueError):
        issue_token(SECRET, subject="a", role="root")  # type: ignore[arg-type]
    token = jwt.encode({"sub": "a", "role": "root", "exp": 2**40}, SECRET, algorithm="HS256")
    with pytest.raises(AuthError):
        verify_token(SECRET, token)


def test_bearer_header_parsing():
    assert bearer("Bearer abc") == "abc"
    for bad in (None, "", "Basic abc", "Bearer "):
        with pytest.raises(AuthError):
            bearer(bad)


PLACEHOLDERS = [
    "compose-only-jwt-secret-change-me-0123456789",  # the old docker-compose default
    "REPLACE-ME-with-at-least-32-random-bytes",  # the k8s Secret placeholder
    "dev-insecure-jwt-secret-change-me-please",  # the old dev default
    "my-placeholder-value-for-the-jwt-signing-key",
    "an-example-secret-for-the-docs-qwertyuiop",
]
WEAK = [
    "r" * 40,  # repeated
    "ab" * 24,  # too few distinct characters
    "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF",  # consecutive
    "unit-test-secret-0123456789abcdef-xyz",  # a long consecutive run
    "Zq3-x",  # short
    "aaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbcdefgh",  # low entropy
]


@pytest.mark.parametrize("secret", PLACEHOLDERS)
def test_placeholder_secrets_are_refused_at_start_outside_dev_mode(secret):
    with pytest.raises(
        RuntimeError,
        match="K1_JWT_SECRET is refused because it looks like a placeholder.*token_urlsafe",
    ):
        check_secret(secret, dev_mode=False)
    check_secret(secret, dev_mode=True)  # dev mode is explicit: make run and the tests


@pytest.mark.parametrize("secret", WEAK)
def test_weak_secrets_are_refused_with_the_reason(secret):
    with pytest.raises(RuntimeError, match="K1_JWT_SECRET is refused because it (is|has) "):
        check_secret(secret, dev_mode=False)


def test_no_secret_is_refused_even_in_dev_mode():
    for dev_mode in (False, True):
        with pytest.raises(RuntimeError, match="K1_JWT_SECRET is not set.*token_urlsafe"):
            check_secret("", dev_mode=dev_mode)


def test_generated_secrets_pass():
    for _ in range(300):
        for secret in (secrets.token_urlsafe(32), secrets.token_urlsafe(48), secrets.token_hex(32)):
            assert secret_problem(secret) is None, secret
            check_secret(secret, dev_mode=False)
    check_secret("correct horse battery staple, then nine more words", dev_mode=False)


def test_the_settings_default_to_production_and_carry_no_secret(monkeypatch):
    for name in ("K1_DEV_MODE", "K1_JWT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.dev_mode is False and settings.jwt_secret.get_secret_value() == ""
    with pytest.raises(RuntimeError, match="K1_JWT_SECRET is not set"):
        check_secret(settings.jwt_secret.get_secret_value(), dev_mode=settings.dev_mode)


# ------------------------------------------------------------------ claim shapes and lifetimes

NOW = 1_700_000_000


def _b64(raw: bytes) -> str:
    """JWT's base64url without padding."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signed(claims: object, secret: str = SECRET) -> str:
    """A validly signed HS256 token over any JSON payload, whatever its claims look like."""
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
TIMES = (
    st.integers(NOW - 40 * DAY_S, NOW + 40 * DAY_S)
    | st.floats(NOW - 40 * DAY_S, NOW + 40 * DAY_S)
    | st.integers(NOW - 40 * DAY_S, NOW + 40 * DAY_S).map(str)
    | st.sampled_from([NOW + 100 * 365 * DAY_S, 2**63, -1, True, 10**30])
)
CLAIMS = st.fixed_dictionaries(
    {},
    optional={
        "sub": st.text(max_size=140) | JSON,
        "role": st.sampled_from(sorted(ROLE_RANK)) | st.text(max_size=8) | JSON,
        "iat": TIMES | JSON,
        "exp": TIMES | JSON,
        "nbf": TIMES | JSON,
        "aud": JSON,
        "extra": JSON,
    },
)


@settings(max_examples=400, deadline=None)
@given(claims=CLAIMS | JSON)
def test_any_claim_shape_gives_a_principal_or_auth_error_never_a_crash(claims):
    try:
        principal = verify_token(SECRET, _signed(claims), now=NOW)
    except AuthError:
        return
    # accepted: only when every claim had its type and the lifetime was within its role's cap
    assert isinstance(claims, dict) and principal.role == claims["role"]
    assert principal.subject == claims["sub"] and 0 < len(claims["sub"]) <= 128
    iat, exp = claims["iat"], claims["exp"]
    assert type(iat) in (int, float) and type(exp) in (int, float)
    assert iat <= NOW + CLOCK_SKEW_S and exp > NOW
    assert exp - iat <= MAX_TTL_S[principal.role]


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "a", "role": ["admin"]},
        {"sub": "a", "role": {"admin": 1}},
        {"sub": "a", "role": 2},
        {"sub": 7, "role": "admin"},
        {"sub": ["a"], "role": "viewer"},
        {"sub": "", "role": "viewer"},
        {"sub": "a", "role": "viewer", "exp": str(NOW + 600)},
        {"sub": "a", "role": "viewer", "iat": str(NOW)},
        {"sub": "a", "role": "viewer", "exp": True},
        {"sub": "a", "role": "viewer", "exp": NOW + 100 * 365 * DAY_S},
        {"sub": "a", "role": "admin", "exp": NOW + 8 * DAY_S},
        {"sub": "a", "role": "viewer", "iat": NOW + 3600},
        {"sub": "a", "role": "viewer", "iat": None},
    ],
    ids=lambda c: ",".join(f"{k}={v!r}"[:24] for k, v in c.items()),
)
def test_odd_claims_and_overlong_lifetimes_are_refused(claims):
    full = {"iat": NOW, "exp": NOW + 600, **claims}
    with pytest.raises(AuthError):
        verify_token(SECRET, _signed(full), now=NOW)


def test_lifetimes_up_to_the_role_cap_pass_and_the_cap_binds_minting():
    for role, cap in MAX_TTL_S.items():
        verify_token(
            SECRET, issue_token(SECRET, subject="a", role=role, ttl_s=cap, now=NOW), now=NOW
        )
        with pytest.raises(ValueError, match="ttl_s"):
            issue_token(SECRET, subject="a", role=role, ttl_s=cap + 1)
    assert MAX_TTL_S["admin"] <= MAX_TTL_S["operator"] <= MAX_TTL_S["viewer"] <= 30 * DAY_S
