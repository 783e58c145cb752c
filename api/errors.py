"""The one JSON error shape of ``api.md``: ``{"error": {"code", "message"}}``.

Every failure a route can meet is raised as :class:`ApiError` (or is one of
the framework's own exceptions, translated here); :func:`install` registers
the handlers that turn each into that shape. Nothing else in the service
builds an error body, so no route can answer HTML or a traceback.

Status and code pairs (api.md): 400 ``bad_request``, 401 ``unauthorized``,
403 ``forbidden``, 404 ``not_found``, 413 ``too_large``, 422 ``invalid``,
429 ``busy``, 504 ``timeout``; additions outside the table's /v1 cases:
405 ``method_not_allowed`` (a known route, another method) and 500
``internal`` (a bug: logged with its traceback, answered with one line);
and 503 ``unavailable`` from ``/readyz`` only.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tracelake.api.responses import JsonResponse

log = logging.getLogger("tracelake.api")

CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    422: "invalid",
    429: "busy",
    500: "internal",
    503: "unavailable",
    504: "timeout",
}


class ApiError(Exception):
    """An answer that is an error. ``extra`` keys join ``code`` and ``message``
    inside ``error`` (e.g. the per-event reasons of a refused ingest)."""

    def __init__(self, status: int, message: str, *, extra: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = CODES.get(status, "bad_request" if status < 500 else "internal")
        self.message = message
        self.extra = extra or {}
        self.headers = headers


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def error_body(status: int, message: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": CODES.get(status, "internal"), "message": message, **(extra or {})}}


def error_response(error: ApiError) -> JsonResponse:
    body = {"error": {"code": error.code, "message": error.message, **error.extra}}
    return JsonResponse(body, status_code=error.status, headers=error.headers)


def _validation_message(exc: RequestValidationError) -> str:
    """FastAPI's list of problems as one line naming the parameter."""
    errors = exc.errors()
    if not errors:
        return "malformed request"
    first = errors[0]
    loc = [str(part) for part in first.get("loc", ()) if part not in ("query", "path", "body", "header")]
    where = ".".join(loc) or "request"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid value')}{more}"


def install(app: FastAPI) -> None:
    """Register the handlers; after this every error the app answers has the one shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JsonResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JsonResponse:
        return error_response(ApiError(400, _validation_message(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JsonResponse:
        if exc.status_code == 404:
            message = f"no such route: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        return error_response(ApiError(exc.status_code, message, headers=getattr(exc, "headers", None)))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JsonResponse:
        # A bug, never a user error: keep the traceback in the log, not in the answer.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(ApiError(500, "internal error; the server log has the details"))
