"""Pure retry / give-up policy of a consumer: no broker, no I/O.

How RabbitMQ counts deliveries (the reason the consumer counts for itself):

* 3.10 (here) quorum queues count every return of a message — ``basic.nack`` and
  ``basic.reject`` with ``requeue=true`` and a consumer whose channel closes alike — in the
  ``x-delivery-count`` header, and dead-letter it once the count exceeds ``x-delivery-limit``
  (so the broker allows ``limit + 1`` deliveries; measured in tests/integration).
* 4.0 made a delivery limit of 20 the default; 4.3 counts only *failed* deliveries:
  ``basic.reject(requeue=true)`` increments ``x-delivery-count`` but ``basic.nack(requeue=true)``
  does not (it only bumps the new ``x-acquired-count``), so a nack loop never reaches the limit.

Hence the consumer returns failed messages with ``reject(requeue=True)`` (counted on every
version), reads the larger of both headers, and gives up itself one delivery before the broker
would, dead-lettering with the reason; the queue's limit stays as the backstop.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from contracts.topology import DELIVERY_LIMIT

MAX_BACKOFF_S = 10.0
"""Longest wait before a failed message is returned (below FastStream's graceful timeout)."""
MAX_ERROR_CHARS = 4096
"""Longest ``x-k1-error`` header value; AMQP headers share one frame with the properties."""
_COUNT_HEADERS = ("x-delivery-count", "x-acquired-count")
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]{0,31}://)[^/\s:@]{0,256}:[^/\s@]{0,256}@"
)  # bounded repeats: linear time even on a huge error text


def delivery_attempt(headers: Mapping[str, object] | None) -> int:
    """1-based number of the current delivery, from the broker's counting headers."""
    previous = 0
    for name in _COUNT_HEADERS:
        value = (headers or {}).get(name)
        if isinstance(value, int | str) and str(value).isdigit():
            previous = max(previous, int(value))
    return previous + 1


def should_give_up(attempt: int, *, limit: int = DELIVERY_LIMIT) -> bool:
    """Whether a failure on delivery ``attempt`` is the last one allowed (``limit`` in all)."""
    return attempt >= limit


def backoff_s(attempt: int, *, base_s: float, cap_s: float = MAX_BACKOFF_S) -> float:
    """Seconds to wait after failed delivery ``attempt``: ``base_s * 2**(attempt-1)``, capped."""
    if attempt < 1 or base_s <= 0:
        return 0.0
    return min(cap_s, base_s * 2.0 ** min(attempt - 1, 30))


def redact(text: str) -> str:
    """``text`` with the credentials of any URL in it replaced by ``***``."""
    return _URL_CREDENTIALS.sub(r"\g<scheme>***@", text)


def truncate(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 15] + "… [truncated]"


def error_text(exc: BaseException) -> str:
    """Header-safe reason of ``exc``: its type and message, credentials redacted, truncated."""
    message = str(exc).strip()[: MAX_ERROR_CHARS * 2]
    return truncate(redact(f"{type(exc).__name__}: {message}" if message else type(exc).__name__))
