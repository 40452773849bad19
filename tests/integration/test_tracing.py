"""One upload is one connected trace: gateway → ingest → analyzer → genesis → validator.

Every service runs in this test's process — the gateway and ingest as real uvicorn servers on
free ports, the analyzer (with genesis) and the validator as their real subscribers on real
brokers in a fresh RabbitMQ vhost, nx-27017 for documents, a local folder for objects — each
with its own tracer provider (its ``service.name``) exporting into one in-memory exporter.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from infra.auth import issue_token
from infra.broker_consume import QUEUE_SPAN_ATTRIBUTE
from infra.docstore import FINISHED, MongoDocStore
from infra.embedded import free_port
from infra.runtime import Infra, build_infra
from infra.settings import Settings
from infra.tracing import configure_tracing
from services.analyzer.ports import AnalyzerPorts
from services.analyzer.router import register as register_analyzer
from services.gateway.__main__ import build_app as build_gateway
from services.ingest.__main__ import build_app as build_ingest
from services.validator.router import setup as setup_validator
from tests.e2e.songs import click_song

pytestmark = pytest.mark.integration

SERVICES = ("gateway", "ingest", "analyzer", "validator")
QUEUES = {
    "analyzer": "analyzer.track.uploaded",
    "genesis": "genesis.beats.detected",
    "validator": "validator.map.generated",
}
WAIT_S = 45.0


class InlineRunner:
    """The analyzer's pool replaced by a thread: same work, no spawned processes."""

    async def run(self, fn, /, *args, **kwargs):
        return await asyncio.to_thread(fn, *args, **kwargs)


@pytest.fixture
def settings(rabbit_vhost, nx_url, tmp_path) -> Settings:
    ingest_port, gateway_port = free_port(), free_port()
    return Settings(
        amqp_url=rabbit_vhost.url,
        mongodb_url=nx_url,
        mongodb_database=f"trace_{uuid.uuid4().hex[:8]}",
        s3_endpoint=None,
        data_dir=tmp_path / "objects",
        http_host="127.0.0.1",
        health_port=0,
        ingest_port=ingest_port,
        ingest_url=f"http://127.0.0.1:{ingest_port}",
        gateway_port=gateway_port,
        public_url=f"http://127.0.0.1:{gateway_port}",
        retry_backoff_s=0.1,
        shutdown_grace_s=5,
        dev_mode=True,
        jwt_secret=secrets.token_urlsafe(48),
    )


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    yield memory
    memory.shutdown()


@pytest.fixture
def providers(settings, exporter) -> Iterator[dict]:
    """A tracer provider per service; the analyzer's is also the process's global one while
    the test runs (its ``analysis`` span comes from the global tracer), restored after."""
    made = {
        name: configure_tracing(name, settings, exporter=exporter, set_global=False)
        for name in SERVICES
    }
    saved = trace._TRACER_PROVIDER
    trace._TRACER_PROVIDER = made["analyzer"]
    try:
        yield made
    finally:
        trace._TRACER_PROVIDER = saved
        for provider in made.values():
            provider.shutdown()


async def _start_worker(infra: Infra) -> None:
    await infra.docs.ensure_indexes()
    await infra.objects.ensure_ready()
    await infra.broker.start()


async def _serve(app, port: int) -> tuple[uvicorn.Server, asyncio.Task]:
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, log_level="warning", lifespan="on"
        )
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError(f"server on port {port} did not start")
        await asyncio.sleep(0.02)
    return server, task


@asynccontextmanager
async def _http_services(settings: Settings, providers) -> AsyncIterator[None]:
    """Ingest and the gateway served on their ports, stopped (gateway first) on exit."""
    ingest_app, _ = build_ingest(settings, tracer_provider=providers["ingest"])
    gateway_app = build_gateway(settings, tracer_provider=providers["gateway"])
    servers = [await _serve(ingest_app, settings.ingest_port)]
    try:
        servers.append(await _serve(gateway_app, settings.gateway_port))
        yield
    finally:
        for server, task in reversed(servers):
            server.should_exit = True
            await asyncio.wait_for(task, 15)


@pytest.fixture
async def stack(settings, providers) -> AsyncIterator[Settings]:
    analyzer = build_infra(settings, service="analyzer", tracer_provider=providers["analyzer"])
    register_analyzer(
        analyzer,
        AnalyzerPorts(
            docs=analyzer.docs,
            objects=analyzer.objects,
            publisher=analyzer.publisher,
            runner=InlineRunner(),
            max_duration_s=settings.max_duration_s,
        ),
        analysis_slots=1,
    )
    validator = build_infra(settings, service="validator", tracer_provider=providers["validator"])
    cleanup = await setup_validator(validator)
    for infra in (analyzer, validator):
        await _start_worker(infra)
    try:
        async with _http_services(settings, providers):
            yield settings
    finally:
        for infra in (analyzer, validator):
            await infra.broker.stop()
        if cleanup is not None:
            await cleanup()
        for infra in (analyzer, validator):
            await infra.objects.close()
            await infra.docs.close()


async def _wait_finished(settings: Settings, track_id: str) -> str:
    docs = MongoDocStore.from_url(
        settings.mongodb_url.get_secret_value(), settings.mongodb_database
    )
    deadline = time.monotonic() + WAIT_S
    try:
        while (
            track := await docs.tracks.get_track(track_id)
        ) is None or track.status not in FINISHED:
            if time.monotonic() > deadline:
                raise AssertionError(f"track stuck at {track and track.status}")
            await asyncio.sleep(0.1)
        return track.status
    finally:
        await docs.close()


async def _wait_for_span(exporter: InMemorySpanExporter, queue: str) -> None:
    deadline = time.monotonic() + 10
    while not any(
        s.attributes.get(QUEUE_SPAN_ATTRIBUTE) == queue for s in exporter.get_finished_spans()
    ):
        if time.monotonic() > deadline:
            raise AssertionError(f"no consume span for {queue}")
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # the last publishes' spans (map.validated) end right after


def _service(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"])


async def test_one_upload_is_one_connected_trace_across_every_service(stack, exporter):
    settings = stack
    token = issue_token(settings.jwt_secret.get_secret_value(), subject="t", role="operator")
    async with httpx.AsyncClient(base_url=settings.public_url, timeout=30) as client:
        response = await client.post(
            "/api/v1/tracks",
            params={"filename": "click.wav"},
            content=click_song(bpm=120, seconds=6.0),
            headers={"authorization": f"Bearer {token}", "content-type": "audio/wav"},
        )
    assert response.status_code == 201, response.text
    assert await _wait_finished(settings, response.json()["track_id"]) in ("ready", "warning")
    await _wait_for_span(exporter, QUEUES["validator"])

    spans = exporter.get_finished_spans()
    assert {format(s.context.trace_id, "032x") for s in spans} == {
        format(spans[0].context.trace_id, "032x")
    }, "spans of more than one trace"
    ids = {s.context.span_id for s in spans}
    roots = [s for s in spans if s.parent is None]
    assert [(_service(r), r.kind.name) for r in roots] == [("gateway", "SERVER")]
    orphans = [s.name for s in spans if s.parent is not None and s.parent.span_id not in ids]
    assert not orphans, f"spans whose parent is not in the trace: {orphans}"

    assert set(SERVICES) <= {_service(s) for s in spans}
    consumed = {s.attributes.get(QUEUE_SPAN_ATTRIBUTE) for s in spans}
    assert set(QUEUES.values()) <= consumed  # analyzer, genesis and validator each handled it
    ingest_server = [s for s in spans if _service(s) == "ingest" and s.kind.name == "SERVER"]
    assert ingest_server and _service(_parent(spans, ingest_server[0])) == "gateway"
    _assert_client_spans(spans)
    analysis = [s for s in spans if s.name == "analysis"]
    assert len(analysis) == 1 and analysis[0].attributes["k1.analysis_s"] > 0
    assert _parent(spans, analysis[0]).attributes.get(QUEUE_SPAN_ATTRIBUTE) == QUEUES["analyzer"]

    async with httpx.AsyncClient(timeout=10) as client:  # /metrics is not traced
        scraped = {
            url: (await client.get(f"{url}/metrics")).text
            for url in (settings.public_url, settings.ingest_url)
        }
    for queue in QUEUES.values():
        assert f'k1_messages_consumed_total{{queue="{queue}"}}' in scraped[settings.ingest_url]
    assert "k1_analysis_seconds_count" in scraped[settings.public_url]
    assert "k1_ingest_requests_total{" in scraped[settings.ingest_url]
    assert "k1_gateway_requests_total{" in scraped[settings.public_url]
    assert len(exporter.get_finished_spans()) == len(spans)


def _parent(spans, span: ReadableSpan) -> ReadableSpan:
    return next(s for s in spans if s.context.span_id == span.parent.span_id)


def _ancestors(spans, span: ReadableSpan) -> list[ReadableSpan]:
    by_id = {s.context.span_id: s for s in spans}
    out = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        out.append(span)
    return out


def _assert_client_spans(spans) -> None:
    """The gateway's call to ingest is an httpx CLIENT span, parent of ingest's SERVER span
    and child of the gateway's SERVER span; ingest's MongoDB commands are CLIENT spans inside
    ingest's SERVER span."""
    [ingest_server] = [s for s in spans if _service(s) == "ingest" and s.kind.name == "SERVER"]
    http_client = _parent(spans, ingest_server)
    assert (_service(http_client), http_client.kind.name) == ("gateway", "CLIENT")
    assert (
        http_client.attributes.get("http.request.method", http_client.attributes.get("http.method"))
        == "POST"
    )
    assert [(_service(a), a.kind.name) for a in _ancestors(spans, http_client)][-1] == (
        "gateway",
        "SERVER",
    )
    mongo = [s for s in spans if s.attributes.get("db.system") == "mongodb"]
    in_ingest = [s for s in mongo if _service(s) == "ingest"]
    assert in_ingest and all(s.kind.name == "CLIENT" for s in mongo)
    assert all(ingest_server in _ancestors(spans, s) for s in in_ingest)
    assert any(s.attributes.get("db.mongodb.collection") == "tracks" for s in in_ingest)
    workers = {_service(s) for s in mongo} - {"ingest", "gateway"}
    assert {"analyzer", "validator"} <= workers  # every service's commands are in the trace


@pytest.fixture
async def http_stack(settings, providers) -> AsyncIterator[Settings]:
    """Only the two HTTP services (no workers): the gateway and ingest on free ports."""
    async with _http_services(settings, providers):
        yield settings


async def test_a_request_shows_its_database_and_http_calls_as_child_spans(http_stack, exporter):
    settings = http_stack
    token = issue_token(settings.jwt_secret.get_secret_value(), subject="t", role="operator")
    exporter.clear()  # start-up made no spans of its own worth keeping (indexes, pings)
    async with httpx.AsyncClient(base_url=settings.public_url, timeout=30) as client:
        headers = {"authorization": f"Bearer {token}"}
        response = await client.post(
            "/api/v1/tracks",
            params={"filename": "click.wav"},
            content=click_song(bpm=120, seconds=2.0),
            headers={**headers, "content-type": "audio/wav"},
        )
        assert response.status_code == 201, response.text
        track_id = response.json()["track_id"]
        read = await client.get(f"/api/v1/tracks/{track_id}", headers=headers)
        assert read.status_code == 200, read.text
    await asyncio.sleep(0.2)  # the server spans end after the last byte is sent
    spans = exporter.get_finished_spans()
    traces: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        traces.setdefault(span.context.trace_id, []).append(span)
    assert len(traces) == 2, [s.name for s in spans]  # one per request, nothing stray
    upload, lookup = sorted(traces.values(), key=lambda t: min(s.start_time for s in t))

    _assert_upload_calls(upload)
    # the second request on the same keep-alive connection starts its own trace
    [server] = [s for s in lookup if s.parent is None]
    assert (_service(server), server.kind.name) == ("gateway", "SERVER")
    reads = [s for s in lookup if s.attributes.get("db.system") == "mongodb"]
    assert reads and all(_service(s) == "gateway" for s in reads)
    assert all(server in _ancestors(lookup, s) for s in reads)
    assert {s.attributes.get("db.name") for s in reads} == {settings.mongodb_database}


def _assert_upload_calls(spans) -> None:
    [ingest_server] = [s for s in spans if _service(s) == "ingest" and s.kind.name == "SERVER"]
    http_client = _parent(spans, ingest_server)
    assert (_service(http_client), http_client.kind.name) == ("gateway", "CLIENT")
    assert _ancestors(spans, http_client)[-1].kind.name == "SERVER"
    mongo = [s for s in spans if s.attributes.get("db.system") == "mongodb"]
    assert {"find", "insert"} <= {s.name.split(".", 1)[1] for s in mongo}
    assert all(_service(s) == "ingest" and ingest_server in _ancestors(spans, s) for s in mongo)
