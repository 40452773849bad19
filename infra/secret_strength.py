"""Is a signing secret strong enough for production? Placeholders, short, repetitive or
low-entropy strings are refused at start-up, before anything is signed with them."""

from __future__ import annotations

import math
import re
from collections import Counter

MIN_SECRET_CHARS = 32
MIN_DISTINCT_CHARS = 10
MIN_ENTROPY_BITS = 128
"""Of the estimate below: ``secrets.token_urlsafe(32)`` (43 characters) gives about 210."""
MAX_RUN_CHARS = 10
"""A run this long of repeated or consecutive characters (``aaaa…``, ``0123…``) is refused."""
PLACEHOLDER_MARKERS = (
    "changeme",
    "replaceme",
    "placeholder",
    "example",
    "insecure",
    "dummy",
    "notsecret",
    "yoursecret",
)
"""Looked for in the secret lower-cased with everything but letters and digits removed."""


def secret_problem(secret: str) -> str | None:
    """Why ``secret`` is too weak to sign tokens and URLs with, or None when it is not."""
    if len(secret) < MIN_SECRET_CHARS:
        return f"it is shorter than {MIN_SECRET_CHARS} characters"
    folded = re.sub(r"[^a-z0-9]", "", secret.lower())
    marker = next((m for m in PLACEHOLDER_MARKERS if m in folded), None)
    if marker is not None:
        return f"it looks like a placeholder (it contains {marker!r})"
    if len(set(secret)) < MIN_DISTINCT_CHARS:
        return f"it has fewer than {MIN_DISTINCT_CHARS} distinct characters"
    steps = [abs(ord(b) - ord(a)) <= 1 for a, b in zip(secret, secret[1:], strict=False)]
    if 2 * sum(steps) > len(steps) or _longest_run(steps) >= MAX_RUN_CHARS - 1:
        return "it is made of repeated or consecutive characters"
    bits = entropy_bits(secret)
    if bits < MIN_ENTROPY_BITS:
        return f"its estimated entropy ({bits:.0f} bits) is below {MIN_ENTROPY_BITS} bits"
    return None


def entropy_bits(secret: str) -> float:
    """Length times the Shannon entropy of the secret's own character frequencies: a
    conservative estimate for random strings, low for repetitive ones."""
    counts, n = Counter(secret), len(secret)
    per_char = -sum(c / n * math.log2(c / n) for c in counts.values())
    return n * per_char


def _longest_run(flags: list[bool]) -> int:
    longest = current = 0
    for flag in flags:
        current = current + 1 if flag else 0
        longest = max(longest, current)
    return longest
