"""Property-based API testing (Schemathesis) of the running gateway from its own OpenAPI schema,
authenticated as admin: no operation answers 5xx, and every answer matches what the schema
declares for it (body schema and content type). Bounded: a few examples per operation."""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 25
TIME_BUDGET_S = 100
CHECKS = [
    schemathesis.checks.not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
]


@pytest.fixture(scope="module")
def gateway_schema(e2e_stack):
    stack, _ = e2e_stack
    schema = schemathesis.openapi.from_url(f"{stack.gateway_url}/schema/openapi.json")
    schema.config.update(
        base_url=stack.gateway_url,
        request_timeout=30,
        headers={"Authorization": f"Bearer {stack.token('admin')}"},
    )
    return schema


def _fuzz(operation, headers: dict) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS, excluded_checks=[], timeout=30)

    run()


def test_gateway_answers_within_its_schema(e2e_stack, gateway_schema):
    """Every operation in the schema (so new routes are covered without touching this test)."""
    stack, _ = e2e_stack
    headers = {"Authorization": f"Bearer {stack.token('admin')}"}
    started = time.monotonic()
    failures, operations = {}, []
    for result in gateway_schema.get_all_operations():
        operation = result.ok()
        operations.append(operation.label)
        try:
            _fuzz(operation, headers)
        except (Exception, BaseExceptionGroup) as exc:  # report every operation that broke
            failures[operation.label] = str(exc)[:1500]
        assert time.monotonic() - started < TIME_BUDGET_S, f"over budget at {operation.label}"
    assert len(operations) >= 10, operations
    print(
        f"schemathesis: {len(operations)} operations, {MAX_EXAMPLES} examples each, "
        f"{time.monotonic() - started:.1f} s"
    )
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
