"""JWT bearer tokens (HS256) and roles, shared by the gateway and the internal HTTP services.

Roles are ordered: ``viewer`` reads, ``operator`` also uploads and analyses, ``admin`` also
deletes and manages devices. Only HS256 is accepted, so ``alg: none`` or a swapped algorithm
is refused; ``exp`` is required.
"""
from __future__ import annotations

import hmac

import time
from dataclasses import dataclass
from typing import Literal

import jwt

Role = Literal["viewer", "operator", "admin"]
ROLE_RANK: dict[str, int] = {"viewer": 0, "operator": 1, "admin": 2}
ALGORITHM = "HS256"
DEV_SECRET = "dev-insecure-jwt-secret-change-me-please"
MIN_SECRET_CHARS = 32


class AuthError(Exception):
    """The token is missing, malformed, expired, or signed with another key."""


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    role: Role

    def may(self, needed: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[needed]


def check_secret(secret: str, *, dev_mode: bool) -> None:
    """Refuse to run outside dev mode with the default or a short secret."""
    if dev_mode:
        return
    if secret == DEV_SECRET or len(secret) < MIN_SECRET_CHARS:
        raise RuntimeError(
            "K1_JWT_SECRET must be set to a random string of at least "
            f"{MIN_SECRET_CHARS} characters when K1_DEV_MODE is false"
        )


def issue_token(secret: str, *, subject: str, role: Role, ttl_s: int = 3600,
                now: float | None = None) -> str:
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}; use one of {sorted(ROLE_RANK)}")
    issued = int(now if now is not None else time.time())
    claims = {"sub": subject, "role": role, "iat": issued, "exp": issued + int(ttl_s)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str) -> Principal:
    """The principal of a valid token; AuthError (with a safe message) otherwise."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM],
                            options={"require": ["exp", "sub", "role"]})
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.PyJWTError:
        raise AuthError("invalid token") from None
    role = claims.get("role")
    if role not in ROLE_RANK or not isinstance(claims.get("sub"), str):
        raise AuthError("invalid token")
    return Principal(subject=claims["sub"], role=role)


def bearer(header_value: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header value."""
    if not header_value:
        raise AuthError("missing bearer token")
    scheme, _, token = header_value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("missing bearer token")
    return token.strip()


def metrics_allowed(authorization: str | None, token: str) -> bool:
    """May a scrape with this ``Authorization`` header read ``/metrics``? Always when no
    metrics token is configured; else only with ``Bearer <token>`` (compared in constant time)."""
    if not token:
        return True
    scheme, _, given = (authorization or "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.encode())
