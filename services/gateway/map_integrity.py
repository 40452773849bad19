"""Is a stored map object the map its analysis recorded? Its bytes are parsed and hashed the
way ``map_sha256`` is defined (``contracts/canonical.py``) and compared with the hash in the
analysis document, so a map altered in the object store is refused, never served under the
old ETag. Digests of bytes already found intact are remembered: a repeat read costs one
SHA-256 of the bytes, not a parse."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict

from contracts.canonical import compute_map_sha256

MAX_REMEMBERED = 4096
_intact: OrderedDict[tuple[str, str], None] = OrderedDict()


async def is_intact(body: bytes, map_sha256: str | None) -> bool:
    """Do these bytes hash (canonically) to the recorded ``map_sha256``?"""
    if not map_sha256:
        return False
    # Maps reach 4 MiB: even the plain digest is hashed off the loop (hashlib frees the GIL).
    key = (await asyncio.to_thread(_digest, body), map_sha256)
    if key in _intact:
        _intact.move_to_end(key)
        return True
    if not await asyncio.to_thread(_canonical_match, body, map_sha256):
        return False
    _intact[key] = None
    if len(_intact) > MAX_REMEMBERED:
        _intact.popitem(last=False)
    return True


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _canonical_match(body: bytes, map_sha256: str) -> bool:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
    return isinstance(document, dict) and compute_map_sha256(document) == map_sha256
