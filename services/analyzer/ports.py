"""What the analyzer's handlers are given: ports, the process pool and limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from infra.docstore import DocStore
from infra.objectstore import ObjectStore
from infra.publishing import Publisher


class Runner(Protocol):
    async def run(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class AnalyzerPorts:
    docs: DocStore
    objects: ObjectStore
    publisher: Publisher
    runner: Runner
    """Runs CPU work off the event loop (the process pool; inline in unit tests)."""
    max_duration_s: float = 20 * 60
