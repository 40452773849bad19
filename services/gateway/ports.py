"""What the gateway's handlers are given: the ports, the ingest client and limits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import httpx

from infra.docstore import DocStore
from infra.docstore_devices import BundleRepo
from infra.objectstore import ObjectStore
from infra.publishing import Publisher
from infra.uploads import UploadSettings

Check = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class GatewayPorts:
    docs: DocStore
    objects: ObjectStore
    publisher: Publisher
    ingest: httpx.AsyncClient
    """Client of the internal ingest service (``base_url`` = ``settings.ingest_url``)."""
    checks: Mapping[str, Check] = field(default_factory=dict)
    """Readiness checks by dependency name; each raises when its dependency is down."""
    bundles: BundleRepo | None = None
    """Device bundle records, so deleting a track removes its bundles too."""


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    jwt_secret: str
    max_upload_bytes: int = 200 * 1024 * 1024
    max_map_upload_bytes: int = 4 * 1024 * 1024
    default_preset: str = "edm_high_energy"
    cors_origins: tuple[str, ...] = ()
    read_cache_ttl_s: float = 1.0
    """How long a read (track, page) may be served from memory; live events invalidate it."""
    ws_queue_size: int = 64
    """Updates kept per socket; older ones are dropped when a socket is slow."""
    max_sockets: int = 5000
    metrics_token: str = ""
    """Bearer token ``/metrics`` requires (empty: open)."""
    uploads: UploadSettings = field(default_factory=UploadSettings)
    """Body rate, idle timeout and in-flight caps of uploads (``K1_UPLOAD_*``)."""


def ingest_client(
    base_url: str, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The client the gateway forwards uploads with (streamed, bounded timeouts)."""
    timeout = httpx.Timeout(connect=5.0, read=300.0, write=300.0, pool=10.0)
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        transport=transport,
        limits=httpx.Limits(max_connections=100),
    )
