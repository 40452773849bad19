"""RFC 9457 problem details: the one shape of every HTTP API error (gateway and ingest).

An error answer is ``application/problem+json``::

    {"type": "urn:k1:problem:not_found", "title": "Not found", "status": 404,
     "detail": "no track t1", "instance": "/api/v1/tracks/t1", "error": "not_found"}

``type`` names the problem (one per machine code, not dereferenceable), ``title`` is fixed per
type, ``detail`` is about this occurrence. ``error`` (the machine code the API has always
sent) and ``fields`` (per-field problems) are extension members, so clients that read
``error`` keep working. https://www.rfc-editor.org/rfc/rfc9457
"""

from __future__ import annotations

from typing import Any

from litestar import Response
from pydantic import BaseModel, ConfigDict, Field

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:k1:problem:"
_TITLES = {"malformed_json": "Malformed JSON"}


class FieldProblem(BaseModel):
    """One problem in the submitted document or parameters, at its dotted path."""

    model_config = ConfigDict(title="FieldProblem", extra="allow")
    field: str = Field(description="Dotted path of the field, e.g. `layers.rhythm.bpm`")
    message: str = Field(description="What is wrong with it")
    source: str | None = Field(
        default=None, description="Where the field was: query, path, header, cookie or body"
    )


class Problem(BaseModel):
    """Every error answer of the API: RFC 9457 problem details (``application/problem+json``)."""

    model_config = ConfigDict(title="Problem", extra="allow")
    type: str = Field(
        description="URI naming the problem type, `urn:k1:problem:<error>` (not dereferenceable)"
    )
    title: str = Field(description="Short summary of the problem type; the same for every one")
    status: int = Field(ge=400, le=599, description="The HTTP status code of this answer")
    detail: str = Field(description="What went wrong this time, for a person (no stack trace)")
    instance: str | None = Field(
        default=None, description="Path of the request that failed (no query string)"
    )
    error: str = Field(
        description="Machine-readable code, the last part of `type`: bad_request, "
        "unauthorized, forbidden, not_found, busy, conflict, too_large, "
        "unsupported_media_type, invalid_map, unavailable, …"
    )
    fields: list[FieldProblem] | None = Field(
        default=None, description="Per-field problems (a map failing its schema, bad parameters)"
    )


def title_of(code: str) -> str:
    """The fixed title of the problem type ``code`` (``not_found`` → ``Not found``)."""
    return _TITLES.get(code) or code.replace("_", " ").capitalize()


def problem(
    status: int,
    code: str,
    detail: Any,
    *,
    instance: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The problem document of one error; ``extra`` adds extension members (``fields``, …)."""
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": title_of(code),
        "status": status,
        "detail": str(detail),
    }
    if instance:
        body["instance"] = instance
    reserved = body.keys() | {"error"}
    return {
        **body,
        "error": code,
        **{k: v for k, v in (extra or {}).items() if k not in reserved},
    }


def problem_response(
    status: int,
    code: str,
    detail: Any,
    *,
    instance: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        problem(status, code, detail, instance=instance, extra=extra),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers or None,
    )


def field_problems(items: list[Any]) -> list[dict[str, Any]]:
    """Litestar's validation errors (``{"message", "key", "source"}``) as :class:`FieldProblem`."""
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        entry = {
            "field": str(item.get("field") or item.get("key") or "(request)"),
            "message": str(item.get("message") or "invalid"),
        }
        if source := item.get("source"):
            entry["source"] = str(getattr(source, "value", source))
        out.append(entry)
    return out
