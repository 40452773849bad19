"""What the deployer's handlers are given."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from infra.docstore import DocStore
from infra.docstore_devices import DeviceDocs
from infra.objectstore import ObjectStore
from infra.publishing import Publisher
from services.deployer.config import DeployerSettings


@dataclass(frozen=True, slots=True)
class DeployerPorts:
    docs: DocStore
    """Tracks and analyses (where a track's current map is)."""
    devices: DeviceDocs
    objects: ObjectStore
    publisher: Publisher
    settings: DeployerSettings = field(default_factory=DeployerSettings)
    clock: Callable[[], float] = time.time
    """Unix seconds (deadlines are stored as numbers)."""
