"""Litestar pieces shared by the HTTP services: the auth guard and uniform, leak-free errors.

Every route declares the role it needs with ``opt={"role": "viewer"|"operator"|"admin"}``;
routes without a role are public (health, docs). The JWT secret is on ``app.state.jwt_secret``.
Error bodies are ``{"error": code, "detail": message}`` and never carry a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from pydantic import BaseModel, ConfigDict, Field

from infra.auth import AuthError, Principal, bearer, metrics_allowed, verify_token

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error a client caused or can act on, with its HTTP status and machine code."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        extra: dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra or {}
        self.headers = headers or {}


class ErrorBody(BaseModel):
    """Every error answer of the API (some add fields, e.g. ``fields`` or ``reasons``)."""

    model_config = ConfigDict(extra="allow")
    error: str = Field(
        description="Machine-readable code: bad_request, unauthorized, "
        "forbidden, not_found, busy, conflict, too_large, "
        "unsupported_media_type, invalid_map, unavailable, …"
    )
    detail: Any = Field(description="What went wrong, for a person (never a stack trace)")
    status_code: int = Field(description="The HTTP status code again")


ERROR_MEANINGS = {
    400: "Malformed request: a parameter or body field is out of bounds or unreadable",
    401: "No bearer token, or an expired, tampered or wrong-key one",
    403: "The token's role may not do this",
    404: "No such resource",
    408: "The upload body stalled or came slower than the minimum rate",
    409: "The resource is in a state that forbids this now",
    410: "The link or upload has expired",
    413: "The body is over its limit",
    415: "The body's content type is not accepted",
    422: "Readable, but refused (the reasons are in the body)",
    429: "Too many uploads in flight for this client or token; see Retry-After",
    502: "A backing service answered something unreadable, or a stored object failed its "
    "integrity check",
    503: "A backing service (broker or store) is unavailable; try again later",
}


def errors(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI responses of a route's error answers, all shaped as :class:`ErrorBody`."""
    return {
        code: ResponseSpec(data_container=ErrorBody, description=ERROR_MEANINGS[code])
        for code in codes
    }


def principal_of(connection: ASGIConnection) -> Principal:
    """Verify the bearer token of a request or WebSocket (query ``token=`` for browsers)."""
    header = connection.headers.get("authorization")
    if header is None and connection.scope["type"] == "websocket":
        token = connection.query_params.get("token")
        header = f"Bearer {token}" if token else None
    try:
        return verify_token(connection.app.state.jwt_secret, bearer(header))
    except AuthError as exc:
        raise NotAuthorizedException(detail=str(exc)) from None


def auth_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    needed = handler.opt.get("role")
    if needed is None:
        return
    principal = principal_of(connection)
    if not principal.may(needed):
        raise PermissionDeniedException(detail=f"this needs the {needed} role")
    connection.scope.setdefault("state", {})["principal"] = principal


def subject_of(connection: ASGIConnection) -> str | None:
    """The token subject :func:`auth_guard` verified for this request (None on open routes)."""
    principal = connection.scope.get("state", {}).get("principal")
    return principal.subject if principal is not None else None


def metrics_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """``/metrics`` needs ``Bearer <K1_METRICS_TOKEN>`` when that token is set
    (``app.state.metrics_token``)."""
    token = getattr(connection.app.state, "metrics_token", "") or ""
    if not metrics_allowed(connection.headers.get("authorization"), token):
        raise NotAuthorizedException(detail="metrics need the metrics token")


def _body(code: str, detail: Any, extra: dict | None = None, *, status: int) -> dict[str, Any]:
    # ``status_code`` too: the OpenAPI schema Litestar declares for 400 requires it.
    return {"error": code, "detail": detail, "status_code": status, **(extra or {})}


def api_error_handler(_: Request, exc: ApiError) -> Response:
    return Response(
        _body(exc.code, exc.detail, exc.extra, status=exc.status),
        status_code=exc.status,
        headers=exc.headers or None,
    )


def http_error_handler(_: Request, exc: HTTPException) -> Response:
    code = {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "too_large",
        415: "unsupported_media_type",
        429: "rate_limited",
    }.get(exc.status_code, "error")
    detail: Any = exc.detail
    extra = {"fields": exc.extra} if isinstance(exc.extra, list) and exc.extra else None
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return Response(
        _body(code, detail, extra, status=exc.status_code),
        status_code=exc.status_code,
        headers=headers,
    )


def internal_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return Response(
        _body("internal_error", "internal error; it has been logged", status=500),
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
    )


EXCEPTION_HANDLERS = {
    ApiError: api_error_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}
