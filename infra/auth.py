"""JWT bearer tokens (HS256) and roles, shared by the gateway and the internal HTTP services.

Roles are ordered: ``viewer`` reads, ``operator`` also uploads and analyses, ``admin`` also
deletes and manages devices. Only HS256 is accepted, so ``alg: none`` or a swapped algorithm
is refused. ``sub``, ``role``, ``iat`` and ``exp`` are required and must have their JSON types
(a string ``exp`` or a list ``role`` is an invalid token, never a server error); a token may
live at most ``MAX_TTL_S[role]``. Device tokens are not JWTs (see ``services/gateway/devices``).
"""

from __future__ import annotations

import hmac
import math
import time
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

import jwt

from infra.secret_strength import secret_problem

Role = Literal["viewer", "operator", "admin"]
ROLE_RANK: dict[str, int] = {"viewer": 0, "operator": 1, "admin": 2}
ALGORITHM = "HS256"
DAY_S = 24 * 3600
MAX_TTL_S: dict[str, int] = {"viewer": 30 * DAY_S, "operator": 30 * DAY_S, "admin": 7 * DAY_S}
"""Longest lifetime (``exp - iat``) a token of each role may have; a longer one is refused."""
CLOCK_SKEW_S = 60
"""Tolerance between the clocks of whoever minted a token and of the service checking it."""
MAX_SUBJECT_CHARS = 128
GENERATE_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"


class AuthError(Exception):
    """The token is missing, malformed, expired, or signed with another key."""


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    role: Role

    def may(self, needed: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[needed]


def check_secret(secret: str, *, dev_mode: bool) -> None:
    """Refuse to start without a JWT secret, and outside dev mode with a weak one
    (short, a placeholder, repeated characters, low estimated entropy)."""
    if not secret:
        raise RuntimeError(
            f"K1_JWT_SECRET is not set; generate one with {GENERATE_HINT} "
            "(`make run` keeps its own in var/jwt-secret)"
        )
    if dev_mode:
        return
    problem = secret_problem(secret)
    if problem is not None:
        raise RuntimeError(
            f"K1_JWT_SECRET is refused because {problem} (K1_DEV_MODE is false); "
            f"generate one with {GENERATE_HINT}"
        )


def issue_token(
    secret: str, *, subject: str, role: Role, ttl_s: int = 3600, now: float | None = None
) -> str:
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}; use one of {sorted(ROLE_RANK)}")
    if not 0 < int(ttl_s) <= MAX_TTL_S[role]:
        raise ValueError(f"ttl_s must be within 1..{MAX_TTL_S[role]} s for the {role} role")
    issued = int(now if now is not None else time.time())
    claims = {"sub": subject, "role": role, "iat": issued, "exp": issued + int(ttl_s)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str, *, now: float | None = None) -> Principal:
    """The principal of a valid token; AuthError (with a safe message) otherwise."""
    try:
        # Only the signature and the header here; the claims are checked below, by type.
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "require": []},
        )
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError):
        raise AuthError("invalid token") from None
    return _principal(claims, time.time() if now is None else now)


def _principal(claims: dict[str, Any], now: float) -> Principal:
    sub, role, iat, exp = (claims.get(k) for k in ("sub", "role", "iat", "exp"))
    nbf = claims.get("nbf", iat)
    if not (
        _is_role(role)
        and isinstance(sub, str)
        and 0 < len(sub) <= MAX_SUBJECT_CHARS
        and _is_time(iat)
        and _is_time(exp)
        and _is_time(nbf)
    ):
        raise AuthError("invalid token")
    if exp <= now:
        raise AuthError("token expired")
    if iat > now + CLOCK_SKEW_S or nbf > now + CLOCK_SKEW_S:
        raise AuthError("invalid token")
    if exp - iat > MAX_TTL_S[role]:  # and so exp - now <= the cap + CLOCK_SKEW_S
        raise AuthError("token lifetime is longer than its role allows")
    return Principal(subject=sub, role=role)


def _is_role(value: object) -> TypeGuard[Role]:
    return isinstance(value, str) and value in ROLE_RANK


def _is_time(value: object) -> TypeGuard[int | float]:
    """A JSON NumericDate: an integer or a finite number of seconds, not a string or a bool."""
    return (
        type(value) is int or (type(value) is float and math.isfinite(value))
    ) and 0 <= value < 2**53


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
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )
