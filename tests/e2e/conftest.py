"""The whole stack for end-to-end tests: every service as its own process, nx-27017, moto S3
and an isolated RabbitMQ vhost."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from infra.docstore import MongoDocStore
from k1.stack import Stack


class LogTap:
    """Collects the merged log lines of the stack so tests can see who did what."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    def matching(self, *needles: str) -> list[str]:
        return [line for line in self.lines if all(n in line for n in needles)]


def s3_env(moto_s3, *, bucket: str, endpoint: str | None = None) -> dict[str, str]:
    """Settings that point a stack at moto's S3 (or at ``endpoint``, a proxy in front of it)."""
    return {
        "K1_S3_ENDPOINT": endpoint or moto_s3.endpoint,
        "K1_S3_ACCESS_KEY": moto_s3.access_key,
        "K1_S3_SECRET_KEY": moto_s3.secret_key,
        "K1_S3_REGION": moto_s3.region,
        "K1_S3_BUCKET": bucket,
    }


def start_stack(stack: Stack, tap: LogTap, *, timeout_s: float = 120) -> Stack:
    """Start ``stack``; if it does not come up, print its last log lines and stop it."""
    try:
        stack.start(timeout_s=timeout_s)
    except Exception:
        print("\n".join(tap.lines[-80:]))
        stack.stop()
        raise
    return stack


@pytest.fixture(scope="module")
def stack_vhost(_rabbit_vhost_pool) -> Iterator[str]:
    vhost = _rabbit_vhost_pool.take()
    yield vhost.url
    _rabbit_vhost_pool.release(vhost.name)


@pytest.fixture(scope="module")
def e2e_stack(tmp_path_factory, stack_vhost, moto_s3) -> Iterator[tuple[Stack, LogTap]]:
    tap = LogTap()
    stack = Stack(
        var_dir=tmp_path_factory.mktemp("stack"),
        amqp_url=stack_vhost,
        database=f"e2e_{uuid.uuid4().hex[:8]}",
        log=tap,
        extra_env={
            **s3_env(moto_s3, bucket=f"e2e-{uuid.uuid4().hex[:8]}"),
            "K1_RETRY_BACKOFF_S": "0.1",
        },
    )
    yield start_stack(stack, tap), tap
    stack.stop()


@pytest.fixture(scope="module")
def docs_reader(e2e_stack):
    """Read the stack's documents from the test (its own client and event loop)."""
    stack, _ = e2e_stack
    loop = asyncio.new_event_loop()
    docs = MongoDocStore.from_url(stack.mongodb_url, stack.database)

    def run(coro):
        return loop.run_until_complete(coro)

    yield docs, run
    run(docs.close())
    loop.close()
