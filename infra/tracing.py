"""OpenTelemetry tracing: one trace per upload, across every service.

How the context travels:

* HTTP — Litestar's OpenTelemetry plugin (``http_tracing``) opens a server span per request
  from the incoming ``traceparent``; the gateway's httpx client to ingest injects the current
  context into each request (``propagate_to``);
* RabbitMQ — FastStream's ``RabbitTelemetryMiddleware`` on every broker (``broker_middleware``)
  injects ``traceparent`` into published message headers and opens a consume span from them;
  handlers publish inside that span, so the next event continues the same trace. The message
  body's ``trace`` field is set from the publishing span too (``current_trace_context``).

``configure_tracing`` always installs an SDK tracer provider — spans exist and trace ids reach
the logs — and ``K1_OTEL_EXPORTER`` only decides where finished spans go: ``none`` (nowhere),
``console`` or ``otlp`` (OTLP/HTTP to ``K1_OTEL_ENDPOINT``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from contracts.base import TraceContext

log = logging.getLogger("k1.tracing")

_W3C = TraceContextTextMapPropagator()
UNTRACED_PATHS = ["^/metrics", "^/health", "^/ready", "^/static"]
"""Probes, scrapes and static files make no spans: they would bury the uploads' traces."""


def configure_tracing(
    service: str, settings: Any, *, exporter: SpanExporter | None = None, set_global: bool = True
) -> TracerProvider:
    """The tracer provider of ``service``, exporting as ``settings.otel_exporter`` says.

    ``exporter`` (tests: an ``InMemorySpanExporter``) replaces the configured one and exports
    each span as it ends. With ``set_global`` the provider becomes the process's global one
    (first call wins: one service per process).
    """
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.namespace": "k1"})
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif (configured := _exporter(settings)) is not None:
        provider.add_span_processor(BatchSpanProcessor(configured))
    if set_global and not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(provider)
    return provider


def _exporter(settings: Any) -> SpanExporter | None:
    kind = getattr(settings, "otel_exporter", "none")
    if kind == "console":
        return ConsoleSpanExporter()
    if kind == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otel_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        log.info("exporting spans to %s", endpoint)
        return OTLPSpanExporter(endpoint=endpoint)
    return None


def broker_middleware(tracer_provider: TracerProvider | None = None) -> Any:
    """FastStream's RabbitMQ telemetry middleware: publish and consume spans, context in
    message headers (``None``: the global provider, resolved when first used)."""
    from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware

    return RabbitTelemetryMiddleware(tracer_provider=tracer_provider)


def http_tracing(tracer_provider: TracerProvider | None = None) -> Any:
    """Litestar's OpenTelemetry plugin: a server span per HTTP request (not per WebSocket
    frame, not for probes and scrapes)."""
    from litestar.enums import ScopeType
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

    return OpenTelemetryPlugin(
        OpenTelemetryConfig(
            tracer_provider=tracer_provider,
            scopes={ScopeType.HTTP},
            exclude=UNTRACED_PATHS,
            exclude_spans=["receive", "send"],
        )
    )


def propagate_to(client: Any) -> Any:
    """Make an ``httpx.AsyncClient`` send the current trace context with every request."""

    async def inject(request: Any) -> None:
        propagate.inject(request.headers)

    hooks = dict(client.event_hooks)
    hooks["request"] = [*hooks.get("request", []), inject]
    client.event_hooks = hooks
    return client


def current_trace_context() -> TraceContext | None:
    """The current span as a W3C carrier, or None outside any valid span."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    if "traceparent" not in carrier:
        return None
    return TraceContext(
        traceparent=carrier["traceparent"], tracestate=carrier.get("tracestate") or None
    )


@contextlib.contextmanager
def continued(carrier: TraceContext) -> Iterator[TraceContext]:
    """The trace a message being published belongs to: the current span's when there is one;
    otherwise ``carrier``'s, made current meanwhile so the publish spans join that trace."""
    if (current := current_trace_context()) is not None:
        yield current
        return
    if not carrier.traceparent:
        yield carrier
        return
    headers = {"traceparent": carrier.traceparent}
    if carrier.tracestate:
        headers["tracestate"] = carrier.tracestate
    token = context.attach(_W3C.extract(headers))
    try:
        yield carrier
    finally:
        context.detach(token)


def current_ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` of the current span as lowercase hex, or None."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return trace.format_trace_id(ctx.trace_id), trace.format_span_id(ctx.span_id)
