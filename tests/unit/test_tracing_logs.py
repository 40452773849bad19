"""Log lines carry the current trace; tracing is configured from settings; metrics count."""

from __future__ import annotations

import io
import json
import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from contracts.base import TraceContext
from infra.docstore import NewTrack
from infra.docstore_fake import FakeDocStore
from infra.logging import JsonFormatter, TextFormatter, configure_logging
from infra.metrics import TRACKS, count_track_states, observe_analysis
from infra.settings import Settings
from infra.tracing import configure_tracing, continued, current_trace_context, tracing_config

TRACEPARENT = f"00-{'a' * 32}-{'b' * 16}-01"


@pytest.fixture
def tracer() -> trace.Tracer:
    provider = configure_tracing(
        "test", Settings(), exporter=InMemorySpanExporter(), set_global=False
    )
    yield provider.get_tracer("test")
    provider.shutdown()


def _log_through(formatter: logging.Formatter, emit) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    logger = logging.getLogger("k1.test.tracing")
    logger.addHandler(handler)
    logger.propagate, logger.level = False, logging.INFO
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return out.getvalue()


def test_a_json_line_inside_a_span_carries_its_trace_and_span_ids(tracer):
    with tracer.start_as_current_span("work") as span:
        text = _log_through(
            JsonFormatter("analyzer"), lambda log: log.info("handled", extra={"track_id": "t1"})
        )
    line = json.loads(text)
    ctx = span.get_span_context()
    assert line["service"] == "analyzer" and line["track_id"] == "t1"
    assert line["trace_id"] == format(ctx.trace_id, "032x")
    assert line["span_id"] == format(ctx.span_id, "016x")


def test_a_line_outside_any_span_has_no_trace_id():
    line = json.loads(_log_through(JsonFormatter("ingest"), lambda log: log.info("idle")))
    assert "trace_id" not in line and "span_id" not in line


def test_the_terminal_format_shows_a_short_trace_id(tracer):
    with tracer.start_as_current_span("work") as span:
        text = _log_through(TextFormatter("gateway"), lambda log: log.info("hello"))
    short = format(span.get_span_context().trace_id, "032x")[:8]
    assert f"trace_id={short}" in text and "span_id" not in text


def test_server_logs_are_adopted_by_our_handler():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    noisy = logging.getLogger("uvicorn.error")
    noisy.addHandler(logging.NullHandler())
    noisy.propagate = False
    try:
        configure_logging("gateway", fmt="json")
        assert noisy.handlers == [] and noisy.propagate
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:], root.level = saved


def test_published_messages_take_the_current_span_or_continue_their_own(tracer):
    assert current_trace_context() is None
    with tracer.start_as_current_span("consume") as span, continued(TraceContext()) as ctx:
        assert ctx.traceparent.split("-")[1] == format(span.get_span_context().trace_id, "032x")
    with continued(TraceContext(traceparent=TRACEPARENT)) as ctx:
        assert ctx.traceparent == TRACEPARENT
        assert current_trace_context().traceparent == TRACEPARENT  # the publish joins it
    assert current_trace_context() is None


def test_the_exporter_follows_the_settings():
    def processors(settings: Settings) -> list:
        provider = configure_tracing("svc", settings, set_global=False)
        active = provider._active_span_processor._span_processors
        return [p.span_exporter for p in active]

    assert processors(Settings(otel_exporter="none")) == []
    [otlp] = processors(Settings(otel_exporter="otlp", otel_endpoint="http://collector:4318/"))
    assert otlp._endpoint == "http://collector:4318/v1/traces"
    [console] = processors(Settings(otel_exporter="console"))
    assert type(console).__name__ == "ConsoleSpanExporter"


STANDARD_OTEL = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "K1_OTEL_EXPORTER",
    "K1_OTEL_ENDPOINT",
)


@pytest.fixture
def otel_env(monkeypatch):
    for name in STANDARD_OTEL:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_operators_standard_variables_win_over_the_k1_aliases(otel_env):
    otel_env.setenv("K1_OTEL_EXPORTER", "none")  # as the base ConfigMap says
    otel_env.setenv("K1_OTEL_ENDPOINT", "http://k1-collector:4318")
    assert tracing_config(Settings()).exporters == ()
    # what the OpenTelemetry Operator injects: an endpoint alone turns OTLP on
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector:4318/")
    otel_env.setenv("OTEL_SERVICE_NAME", "k1-gateway")
    config = tracing_config(Settings())
    assert config.exporters == ("otlp",) and config.service_name == "k1-gateway"
    assert config.traces_endpoint == "http://otel-collector:4318/v1/traces"
    otel_env.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/custom")
    otel_env.setenv("OTEL_TRACES_EXPORTER", "console,otlp")
    config = tracing_config(Settings())
    assert config.exporters == ("console", "otlp")
    assert config.traces_endpoint == "http://traces:4318/custom"  # used as given
    otel_env.setenv("OTEL_TRACES_EXPORTER", "none")
    assert tracing_config(Settings()).exporters == ()
    otel_env.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(ValueError, match="zipkin"):
        tracing_config(Settings())


def test_the_k1_aliases_alone_still_work(otel_env):
    otel_env.setenv("K1_OTEL_EXPORTER", "otlp")
    otel_env.setenv("K1_OTEL_ENDPOINT", "http://k1-collector:4318")
    config = tracing_config(Settings())
    assert config.exporters == ("otlp",) and config.service_name is None
    assert config.traces_endpoint == "http://k1-collector:4318/v1/traces"


def test_service_name_resource_attributes_and_sampler_come_from_the_environment(otel_env):
    provider = configure_tracing("gateway", Settings(), set_global=False)
    assert provider.resource.attributes["service.name"] == "gateway"
    assert provider.sampler.get_description().startswith("ParentBased")
    otel_env.setenv("OTEL_SERVICE_NAME", "k1-gateway")
    otel_env.setenv("OTEL_RESOURCE_ATTRIBUTES", "k8s.pod.name=gw-0,deployment.environment=prod")
    otel_env.setenv("OTEL_TRACES_SAMPLER", "always_off")
    provider = configure_tracing("gateway", Settings(), set_global=False)
    attributes = provider.resource.attributes
    assert attributes["service.name"] == "k1-gateway" and attributes["k8s.pod.name"] == "gw-0"
    assert attributes["service.namespace"] == "k1"
    assert provider.sampler.get_description() == "AlwaysOffSampler"
    with provider.get_tracer("t").start_as_current_span("dropped") as span:
        assert not span.is_recording()


async def test_tracks_by_state_are_counted_from_the_store():
    docs = FakeDocStore()
    for i in range(3):
        await docs.tracks.create_track(
            NewTrack(
                track_id=f"t{i}",
                audio_sha256=f"{i:064x}",
                audio_key=f"audio/t{i}",
                filename="a.wav",
                content_type="audio/wav",
                size_bytes=1,
                preset="edm_high_energy",
            )
        )
    await count_track_states(docs.tracks, ("uploaded", "ready"))
    assert TRACKS.labels(state="uploaded")._value.get() == 3
    assert TRACKS.labels(state="ready")._value.get() == 0


def test_analysis_metrics_record_duration_and_real_time_factor():
    before = REGISTRY.get_sample_value("k1_analysis_realtime_factor_sum") or 0.0
    observe_analysis(0.5, 240.0)
    after = REGISTRY.get_sample_value("k1_analysis_realtime_factor_sum")
    assert after - before == pytest.approx(0.5 / 240.0)
    assert REGISTRY.get_sample_value("k1_analysis_seconds_count") >= 1


def test_otlp_export_posts_spans_to_the_collector():
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[tuple[str, int]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append((self.path, len(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = Settings(
            otel_exporter="otlp", otel_endpoint=f"http://127.0.0.1:{server.server_port}"
        )
        provider = configure_tracing("svc", settings, set_global=False)
        with provider.get_tracer("t").start_as_current_span("upload"):
            pass
        assert provider.force_flush(5000)
        provider.shutdown()
    finally:
        server.shutdown()
    assert received and received[0][0] == "/v1/traces" and received[0][1] > 0
