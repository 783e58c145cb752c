"""The one JSON error shape of ``api.md``: ``{"error": {"code", "message", ...}}``.

Routes raise the hierarchy of :mod:`tracelake.errors` (``NotFound``,
``Forbidden``, ``TooLarge``…, or a stage's own subclass such as
``SqlRefused``); :func:`install` registers the one handler that answers each
with its class's ``status`` and ``code``, its ``extra`` keys beside them and
its ``headers``. The framework's own errors (a malformed parameter, an
unknown route, a wrong method) are answered in the same shape here, and
anything else is a bug: logged with its traceback, answered ``500
internal`` with one line. Nothing else in the service builds an error body,
so no route can answer HTML or a traceback.

Status and code pairs (api.md): 400 ``bad_request``, 401 ``unauthorized``,
403 ``forbidden``, 404 ``not_found``, 413 ``too_large``, 422 ``invalid``,
429 ``busy``, 504 ``timeout``; additions outside the table's /v1 cases:
405 ``method_not_allowed`` (a known route, another method), 500
``internal`` (a bug) and 503 ``unavailable`` (``/readyz``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tracelake import errors
from tracelake.api.responses import JsonResponse

log = logging.getLogger("tracelake.api")

INTERNAL_MESSAGE = "internal error; the server log has the details"

# The class for each status of the framework's own HTTPException; tracelake's
# code raises the classes directly.
_BY_STATUS: dict[int, type[errors.TracelakeError]] = {
    400: errors.UserError,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    413: errors.TooLarge,
    422: errors.Refused,
    429: errors.Busy,
    503: errors.Unavailable,
    504: errors.TimedOut,
}


def error_response(status: int, code: str, message: str, *, extra: Mapping[str, Any] | None = None,
                   headers: Mapping[str, str] | None = None) -> JsonResponse:
    """The one error answer: ``{"error": {"code", "message", **extra}}`` with ``status`` and ``headers``."""
    return JsonResponse({"error": {"code": code, "message": message, **(extra or {})}}, status_code=status,
                        headers=dict(headers) if headers else None)


def answer(exc: errors.TracelakeError) -> JsonResponse:
    """The answer to one of tracelake's errors: its class says the status and code."""
    return error_response(exc.status, exc.code, exc.message, extra=exc.extra, headers=exc.headers)


def _validation_message(exc: RequestValidationError) -> str:
    """FastAPI's list of problems as one line naming the parameter."""
    problems = exc.errors()
    if not problems:
        return "malformed request"
    first = problems[0]
    loc = [str(part) for part in first.get("loc", ()) if part not in ("query", "path", "body", "header")]
    where = ".".join(loc) or "request"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid value')}{more}"


def install(app: FastAPI) -> None:
    """Register the handlers; after this every error the app answers has the one shape."""

    @app.exception_handler(errors.TracelakeError)
    async def _ours(_: Request, exc: errors.TracelakeError) -> JsonResponse:
        return answer(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JsonResponse:
        return answer(errors.UserError(_validation_message(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JsonResponse:
        headers = getattr(exc, "headers", None)
        if exc.status_code == 404:
            return answer(errors.NotFound(f"no such route: {request.method} {request.url.path}", headers=headers))
        if exc.status_code == 405:
            # Not an error of tracelake's own (only the router knows a route's methods): no class for it.
            return error_response(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}",
                                  headers=headers)
        kind = _BY_STATUS.get(exc.status_code)
        if kind is not None:
            return answer(kind(str(exc.detail), headers=headers))
        code = "bad_request" if exc.status_code < 500 else "internal"
        return error_response(exc.status_code, code, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JsonResponse:
        # A bug, never a user error: keep the traceback in the log, not in the answer.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", INTERNAL_MESSAGE)
