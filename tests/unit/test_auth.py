import base64
import json

import jwt
import pytest

from infra.auth import AuthError, bearer, check_secret, issue_token, verify_token

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


def test_default_secret_refused_outside_dev_mode():
    with pytest.raises(RuntimeError, match="K1_JWT_SECRET"):
        check_secret("dev-insecure-jwt-secret-change-me-please", dev_mode=False)
    check_secret("dev-insecure-jwt-secret-change-me-please", dev_mode=True)
    check_secret("r" * 40, dev_mode=False)
