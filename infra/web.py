"""Litestar pieces shared by the HTTP services: the auth guard and uniform, leak-free errors.

Every route declares the role it needs with ``opt={"role": "viewer"|"operator"|"admin"}``;
routes without a role are public (health, docs). The JWT secret is on ``app.state.jwt_secret``.
Error bodies are RFC 9457 problem details (``infra.problems``) and never carry a stack trace.
"""

from __future__ import annotations

import logging

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from infra.auth import AuthError, Principal, bearer, metrics_allowed, verify_token
from infra.problems import PROBLEM_MEDIA_TYPE, Problem, field_problems, problem_response

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
    """OpenAPI responses of a route's error answers, all ``application/problem+json`` shaped
    as :class:`~infra.problems.Problem`."""
    return {
        code: ResponseSpec(
            data_container=Problem,
            description=ERROR_MEANINGS[code],
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for code in codes
    }


def principal_of(connection: ASGIConnection) -> Principal:
    """Verify the bearer token of a request or WebSocket (query ``token=`` for browsers)."""
    header = connection.headers.get("authorization")
    if header is None and connection.scope["type"] == ScopeType.WEBSOCKET:
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


def api_error_handler(request: Request, exc: ApiError) -> Response:
    return problem_response(
        exc.status,
        exc.code,
        exc.detail,
        instance=request.url.path,
        extra=exc.extra,
        headers=exc.headers,
    )


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def http_error_handler(request: Request, exc: HTTPException) -> Response:
    code = _HTTP_CODES.get(exc.status_code, "error")
    fields = field_problems(exc.extra) if isinstance(exc.extra, list) else []
    headers = dict(exc.headers or {})
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return problem_response(
        exc.status_code,
        code,
        exc.detail,
        instance=request.url.path,
        extra={"fields": fields} if fields else None,
        headers=headers,
    )


def internal_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal_error",
        "internal error; it has been logged",
        instance=request.url.path,
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ApiError: api_error_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}
