"""Device tokens: 32 random bytes shown once; only their SHA-256 is stored.

A token is high-entropy, so a plain SHA-256 (no pepper, no slow hash) cannot be brute-forced;
comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "k1d_"


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str | None, stored_hash: str) -> bool:
    if not token or len(token) > 256:
        return False
    return hmac.compare_digest(hash_token(token), stored_hash)
