"""Logging set-up: JSON lines off a terminal, readable text on one.

Every line carries the service and, inside a traced request or message, the current
OpenTelemetry ``trace_id``/``span_id``; uvicorn's and Litestar's loggers go the same way.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from infra.tracing import current_ids

_CONTEXT_KEYS = ("track_id", "event_id", "trace_id", "span_id", "device_id", "queue")
_ADOPTED = ("uvicorn", "uvicorn.error", "uvicorn.access", "litestar")
"""Loggers that libraries give handlers of their own: theirs are removed so lines reach ours."""


def _stamp_trace(record: logging.LogRecord) -> None:
    if getattr(record, "trace_id", None) is None and (ids := current_ids()) is not None:
        record.trace_id, record.span_id = ids


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        _stamp_trace(record)
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in _CONTEXT_KEYS:
            if (value := getattr(record, key, None)) is not None:
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__(
            "%(asctime)s %(levelname).1s " + service + " %(message)s%(ctx)s", datefmt="%H:%M:%S"
        )

    def format(self, record: logging.LogRecord) -> str:
        _stamp_trace(record)
        # On a terminal a trace is told apart by its first 8 hex digits; span ids are noise.
        pairs = [
            f"{k}={str(v)[:8] if k == 'trace_id' else v}"
            for k in _CONTEXT_KEYS
            if k != "span_id" and (v := getattr(record, k, None))
        ]
        record.ctx = ("  " + " ".join(pairs)) if pairs else ""
        return super().format(record)


def configure_logging(service: str, *, fmt: str = "auto", level: str = "INFO") -> None:
    """Route every logger to stderr in the chosen format (``auto``: text on a TTY)."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if use_json else TextFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _ADOPTED:
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for noisy in ("aio_pika", "aiormq", "pymongo", "urllib3", "numba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
