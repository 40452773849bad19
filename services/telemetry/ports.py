"""What the telemetry handlers are given."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from infra.docstore import EventLedger
from infra.docstore_devices import DeviceDocs
from infra.publishing import Publisher
from services.telemetry.config import TelemetrySettings


@dataclass(frozen=True, slots=True)
class TelemetryPorts:
    devices: DeviceDocs
    ledger: EventLedger
    publisher: Publisher
    settings: TelemetrySettings = field(default_factory=TelemetrySettings)
    clock: Callable[[], float] = time.time
