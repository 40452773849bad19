"""The gateway's device side: registry and deployment API, device and monitor WebSockets,
the device hub, telemetry batching and the broadcast feed that routes offers to sockets.

``build_device_gateway`` wires it from the gateway's infra; ``device_router`` gives Litestar
the routes with the ``device_gateway`` dependency.
"""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide

from services.gateway.devices.controllers import DeploymentController, DeviceController
from services.gateway.devices.feed import DeviceFeed, register_device_feed
from services.gateway.devices.service import DeviceGateway
from services.gateway.devices.sockets import device_socket, monitor_socket

__all__ = ["DeviceGateway", "build_device_gateway", "device_router"]


def device_router(gw: DeviceGateway) -> Router:
    def provide() -> DeviceGateway:
        return gw

    return Router(
        path="/",
        route_handlers=[DeviceController, DeploymentController, device_socket, monitor_socket],
        dependencies={"device_gateway": Provide(provide, use_cache=True, sync_to_thread=False)},
    )


def build_device_gateway(infra, *, settings=None) -> DeviceGateway:
    """The device side over the gateway's broker, documents and objects; registers its
    broadcast consumer on ``infra.broker`` (call before the broker starts)."""
    from infra.docstore_devices import DeviceDocStore
    from services.gateway.devices.config import DeviceSettings

    settings = settings or DeviceSettings()
    gw = DeviceGateway(
        docs=infra.docs,
        devices=DeviceDocStore(infra.docs, presence_lease_s=settings.presence_lease_s),
        objects=infra.objects,
        publisher=infra.publisher,
        settings=settings,
    )
    register_device_feed(infra.broker, DeviceFeed(gw))
    return gw
