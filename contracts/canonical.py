"""Canonical JSON and the map hash.

Canonical form: UTF-8 JSON with keys sorted, no insignificant whitespace
(``separators=(",", ":")``), non-ASCII kept as-is, NaN/Infinity forbidden; numbers as a JSON
parser returns them (an integer stays an integer, a float is written in Python's shortest
round-trip form). ``map_sha256`` is the SHA-256 of the canonical form of the map with the key
``metadata.hashes.map_sha256`` removed.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any


def canonical_json(document: Any) -> bytes:
    """The canonical byte form of a JSON-compatible value."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def compute_map_sha256(genesis_map: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical map without ``metadata.hashes.map_sha256``."""
    stripped = copy.copy(genesis_map)
    metadata = dict(stripped.get("metadata") or {})
    hashes = dict(metadata.get("hashes") or {})
    hashes.pop("map_sha256", None)
    metadata["hashes"] = hashes
    stripped["metadata"] = metadata
    return hashlib.sha256(canonical_json(stripped)).hexdigest()


def seal_map(genesis_map: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of the map with ``metadata.hashes.map_sha256`` set to its hash."""
    sealed = copy.copy(genesis_map)
    metadata = dict(sealed["metadata"])
    metadata["hashes"] = {**metadata.get("hashes", {}), "map_sha256": ""}
    sealed["metadata"] = metadata
    metadata["hashes"]["map_sha256"] = compute_map_sha256(sealed)
    return sealed
