"""JSON answers encoded with orjson (datetimes as RFC 3339, decimals as numbers)."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import orjson
from starlette.responses import Response


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (uuid.UUID, dt.timedelta)):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(content: Any) -> bytes:
    """DuckDB rows as JSON: timezone-aware timestamps keep their offset (UTC ``Z`` would need OPT_UTC_Z)."""
    return orjson.dumps(content, default=_default, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z)


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)
