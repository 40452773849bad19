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
the logs — and the settings only decide where finished spans go (``tracing_config``): the
standard ``OTEL_TRACES_EXPORTER`` / ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`` /
``OTEL_SERVICE_NAME`` win over their ``K1_OTEL_*`` aliases; ``OTEL_RESOURCE_ATTRIBUTES`` adds to
the resource and ``OTEL_TRACES_SAMPLER(_ARG)`` picks the sampler (the SDK reads both).

Client spans: each database command (``mongo_listener``, PyMongo command monitoring, which the
async client reports too) and each outgoing httpx request (``propagate_to``) inside traced work
is a child span of it. Commands outside any span (start-up, background sweeps) make none.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry import context, trace
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
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


@dataclass(frozen=True, slots=True)
class TracingConfig:
    exporters: tuple[str, ...]
    """Where finished spans go: any of ``console``, ``otlp`` (empty: nowhere)."""
    traces_endpoint: str
    """The URL OTLP/HTTP spans are POSTed to."""
    service_name: str | None
    """``service.name`` of every span (None: the service's own name)."""


def tracing_config(settings: Any) -> TracingConfig:
    """The standard ``OTEL_*`` variables over their ``K1_OTEL_*`` aliases. An OTLP endpoint
    given by the standard variables turns OTLP export on unless ``OTEL_TRACES_EXPORTER`` says
    otherwise (the OpenTelemetry default exporter is ``otlp``)."""
    traces_url = getattr(settings, "otel_exporter_otlp_traces_endpoint", None)
    base_url = getattr(settings, "otel_exporter_otlp_endpoint", None)
    chosen = getattr(settings, "otel_traces_exporter", None)
    if chosen is None:
        chosen = "otlp" if (traces_url or base_url) else getattr(settings, "otel_exporter", "none")
    kinds = [k.strip().lower() for k in chosen.split(",") if k.strip()]
    if unknown := set(kinds) - {"none", "console", "otlp"}:
        raise ValueError(
            f"unsupported trace exporter(s) {sorted(unknown)}: use otlp, console, none"
        )
    if not traces_url:
        traces_url = str(base_url or getattr(settings, "otel_endpoint", "")).rstrip("/")
        if not traces_url.endswith("/v1/traces"):
            traces_url += "/v1/traces"
    return TracingConfig(
        exporters=tuple(dict.fromkeys(k for k in kinds if k != "none")),
        traces_endpoint=traces_url,
        service_name=getattr(settings, "otel_service_name", None) or None,
    )


def configure_tracing(
    service: str, settings: Any, *, exporter: SpanExporter | None = None, set_global: bool = True
) -> TracerProvider:
    """The tracer provider of ``service``, exporting as the settings say (``tracing_config``).

    ``exporter`` (tests: an ``InMemorySpanExporter``) replaces the configured ones and exports
    each span as it ends. With ``set_global`` the provider becomes the process's global one
    (first call wins: one service per process).
    """
    config = tracing_config(settings)
    attributes = {"service.name": config.service_name or service, "service.namespace": "k1"}
    # OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME (the Operator's pod, namespace, ...) win
    provider = TracerProvider(
        resource=Resource.create(attributes).merge(OTELResourceDetector().detect())
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        for configured in _exporters(config):
            provider.add_span_processor(BatchSpanProcessor(configured))
    if set_global and not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(provider)
    return provider


def _exporters(config: TracingConfig) -> list[SpanExporter]:
    out: list[SpanExporter] = []
    if "console" in config.exporters:
        out.append(ConsoleSpanExporter())
    if "otlp" in config.exporters:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        log.info("exporting spans to %s", config.traces_endpoint)
        out.append(OTLPSpanExporter(endpoint=config.traces_endpoint))
    return out


def broker_middleware(tracer_provider: TracerProvider | None = None) -> Any:
    """FastStream's RabbitMQ telemetry middleware: publish and consume spans, context in
    message headers (``None``: the global provider, resolved when first used)."""
    from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware

    return RabbitTelemetryMiddleware(tracer_provider=tracer_provider)


def http_tracing(tracer_provider: Any = None) -> Any:
    """Litestar's OpenTelemetry plugin: a server span per HTTP request (not per WebSocket
    frame, not for probes and scrapes), each request starting from an empty trace context."""
    from litestar.enums import ScopeType
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

    config = OpenTelemetryConfig(
        tracer_provider=tracer_provider,
        scopes={ScopeType.HTTP},
        exclude_spans=["receive", "send"],
        middleware_class=_fresh_context_middleware(),
    )
    plugin = OpenTelemetryPlugin(config)
    plugin._middleware = config.middleware  # it ignores ``middleware_class``; Litestar does this
    return plugin


def _fresh_context_middleware() -> type:
    from litestar.plugins.opentelemetry import OpenTelemetryInstrumentationMiddleware

    untraced = re.compile("|".join(UNTRACED_PATHS))

    class FreshContext(OpenTelemetryInstrumentationMiddleware):
        """uvicorn resumes reading a keep-alive connection from inside the request that paused
        it (a streamed upload), so the connection's next request would start inside that
        request's span — and its own ``traceparent`` would be ignored. Not here."""

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            token = context.attach(context.Context())
            try:
                if untraced.match(scope["path"]):
                    await self.app(scope, receive, send)
                else:
                    await super().__call__(scope, receive, send)
            finally:
                context.detach(token)

    return FreshContext


def propagate_to(client: Any, tracer_provider: Any = None) -> Any:
    """Make an ``httpx.AsyncClient`` open a client span per request and send its trace context
    (``traceparent``) with it (``None``: the global provider)."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=tracer_provider)
    return client


def mongo_listener(tracer_provider: Any = None) -> Any:
    """A PyMongo command listener (``AsyncMongoClient(event_listeners=[...])``) that makes a
    client span per database command issued inside a span (``None``: the global provider).

    OpenTelemetry's own ``CommandTracer`` per client rather than its global instrumentor, so
    each service's client reports to that service's provider."""
    from opentelemetry.instrumentation.pymongo import CommandTracer

    class _InTraceOnly(CommandTracer):
        def started(self, event: Any) -> None:
            if trace.get_current_span().get_span_context().is_valid:
                super().started(event)

    provider = tracer_provider or trace.get_tracer_provider()
    return _InTraceOnly(provider.get_tracer("opentelemetry.instrumentation.pymongo"))


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
