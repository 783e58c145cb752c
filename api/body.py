"""Reading a request body with a hard size bound (``413 too_large`` past it).

The bound is checked on ``Content-Length`` first, then while streaming, so a
chunked upload without a length can not make the server buffer more than the
limit either.
"""

from __future__ import annotations

from fastapi import Request

from tracelake.api.errors import ApiError


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"body over the size limit of {limit} bytes; split it into smaller requests")


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _too_large(limit)
        except ValueError:
            raise ApiError(400, "Content-Length is not a number") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)
