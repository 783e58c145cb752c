"""Reading a request body with a hard size bound (``413 too_large`` past it), and its Content-Type.

The bound is checked on ``Content-Length`` first, then while streaming, so a
chunked upload without a length can not make the server buffer more than the
limit either.

Content types (http-api.md, "Browsers and local mode"): a web page can make a
browser POST ``text/plain``, a form type or no Content-Type at all to
127.0.0.1 without a CORS preflight. JSON routes therefore take a JSON type
(:func:`require_json`); those "simple" types only come with a key header
(``Authorization`` or ``X-API-Key``), which no page can add without a
preflight the API never grants: so ``curl -d`` with a key keeps working, and a
cross-site simple request never gets in, keys or local mode.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError

from tracelake.errors import TooLarge, UserError


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"body over the size limit of {limit} bytes; split it into smaller requests")


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _too_large(limit)
        except ValueError:
            raise UserError("Content-Length is not a number") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


# What a browser sends cross-site without a preflight (the CORS-safelisted types, and none at all).
SIMPLE_TYPES = frozenset({"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})
KEY_HEADERS = ("authorization", "x-api-key")


def media_type(request: Request) -> str:
    """The request's Content-Type without parameters, lower-case; ``""`` when absent."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def is_json_type(media: str) -> bool:
    """``application/json`` or a structured ``application/*+json`` type."""
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def require_json(request: Request, also: Collection[str] = ()) -> None:
    """Accept a JSON Content-Type (or one of ``also``), or a simple type sent with a key header; else ``400``.

    Raises :class:`~tracelake.errors.UserError` naming the types accepted. A
    simple type with ``Authorization``/``X-API-Key`` passes (``curl -d``): a
    browser must preflight such a request, and the API answers no preflight.
    """
    media = media_type(request)
    if is_json_type(media) or media in also:
        return
    if media in SIMPLE_TYPES and any(name in request.headers for name in KEY_HEADERS):
        return
    wanted = ", ".join(["application/json", *also])
    raise UserError(f"Content-Type must be {wanted} (got {media or 'none'}); with curl: "
                    "-H 'Content-Type: application/json' (a form or text type is taken only with a key header)")


M = TypeVar("M", bound=BaseModel)


async def json_body(request: Request, model: type[M], limit: int) -> M:
    """The body as ``model``: JSON Content-Type (:func:`require_json`) and a JSON body, or ``400``."""
    require_json(request)
    raw = await read_body(request, limit)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UserError(f"the body is not valid JSON: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise UserError(f"{where}: {first['msg']}{more}") from None


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON body read by :func:`json_body`."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}
