"""The one error hierarchy of tracelake: every failure a user can act on.

Each class carries how every surface reports it, so no surface maps errors
of its own:

- the HTTP API answers ``{"error": {"code", "message", ...extra}}`` with
  ``status`` (one FastAPI handler, :mod:`tracelake.api.errors`);
- the ``tracelake`` command prints ``tracelake: error: <message>`` on one
  line of stderr and exits with ``exit_code`` (one wrapper,
  :mod:`tracelake.cli.errors`).

A message is one line that says what is wrong and, where it helps, how to
fix it. Stages raise the most specific class that fits (or a subclass of
their own, e.g. ``QueryTimeout(TimedOut)``); anything that is *not* a
:class:`TracelakeError` is a bug: a logged 500 in the API, a traceback in
the CLI.

This module imports nothing heavy: the SDK, the CLI's ``--help`` and the
API all import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "Busy",
    "ConfigError",
    "Forbidden",
    "NotFound",
    "Refused",
    "TimedOut",
    "TooLarge",
    "TracelakeError",
    "Unauthorized",
    "Unavailable",
    "UserError",
]


class TracelakeError(Exception):
    """Base of every error a user can act on.

    ``extra`` keys join ``code`` and ``message`` in the API's error object
    (for example the per-event reasons of a refused ingest); ``headers`` are
    added to the HTTP answer (``WWW-Authenticate``, ``Retry-After``).
    """

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    exit_code: ClassVar[int] = 2

    def __init__(self, message: str, *, extra: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra: dict[str, Any] = dict(extra or {})
        self.headers: dict[str, str] | None = dict(headers) if headers else None

    def __str__(self) -> str:
        return self.message


class UserError(TracelakeError):
    """Malformed input: a bad option, parameter, body, file or time (400, exit 2)."""


class ConfigError(UserError):
    """A bad setting: a ``TRACELAKE_*`` variable, an option, or a configuration
    file (rules, keys, prices). The message names the variable, or the file,
    entry and field."""


class Unauthorized(TracelakeError):
    """No key, or an unknown key (401)."""

    status = 401
    code = "unauthorized"


class Forbidden(TracelakeError):
    """The key's role or tenant does not allow it (403)."""

    status = 403
    code = "forbidden"


class NotFound(TracelakeError):
    """No such run, metric, route or file (404, exit 2)."""

    status = 404
    code = "not_found"


class TooLarge(TracelakeError):
    """A body, event or answer over its size limit (413, exit 2)."""

    status = 413
    code = "too_large"


class Refused(TracelakeError):
    """Well-formed but refused: a SQL statement the sandbox will not run,
    events the contract rejects (422, exit 2)."""

    status = 422
    code = "invalid"


class Busy(TracelakeError):
    """Back-pressure: try again later (429)."""

    status = 429
    code = "busy"


class Unavailable(TracelakeError):
    """Something the command needs is not there: Kafka, Java, the spaCy
    model, a readable lake (503, exit 2)."""

    status = 503
    code = "unavailable"


class TimedOut(TracelakeError):
    """Work over its time limit, e.g. a query (504, exit 2)."""

    status = 504
    code = "timeout"
