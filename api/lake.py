"""Opening the lake for one request: the key's tenant scope and the query limits.

Every read route goes through :func:`open_for`, so no route can forget the
tenant: a key scoped to tenant T gets a connection whose views hold only T's
rows (:mod:`tracelake.queries.views`); an all-tenant key gets every row.
:func:`query_errors` says which of the analytics stage's query failures are
the caller's and which are the server's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tracelake.api.keys import ApiKey
from tracelake.errors import Forbidden, UserError
from tracelake.queries.engine import (
    LakeConnection,
    Limits,
    QueryError,
    QueryTimeout,
    QueryTooLarge,
    QueryUnavailable,
    open_lake,
)
from tracelake.queries.timewin import parse_time
from tracelake.settings import Settings

if TYPE_CHECKING:
    from tracelake.api.context import AppContext


def with_warnings(answer: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    """``answer`` plus ``"warnings"`` when some lake file was left out, else unchanged.

    The key appears only when there is something to say, so an answer over a
    healthy lake is exactly what it was before warnings existed.
    """
    return {**answer, "warnings": warnings} if warnings else answer


def tenant_of(key: ApiKey) -> str | None:
    """The tenant the views are scoped to (None: every tenant)."""
    return None if key.all_tenants else key.tenant


def limits(settings: Settings) -> Limits:
    return Limits.from_settings(settings)


def run_horizon(settings: Settings) -> timedelta:
    return timedelta(hours=settings.run_max_duration_h)


@contextmanager
def open_for(ctx: AppContext, key: ApiKey) -> Iterator[LakeConnection]:
    """A connection over the app's lake (``ctx.lake``) scoped to ``key``'s tenant, with the settings' limits and
    run horizon (how far the ``runs`` view's open tail reaches)."""
    with query_errors(), open_lake(ctx.lake, tenant=tenant_of(key), limits=limits(ctx.settings),
                                  run_horizon=run_horizon(ctx.settings)) as con:
        yield con


@contextmanager
def query_errors(user_sql: bool = False) -> Iterator[None]:
    """A query failure as the caller should see it.

    ``QueryTimeout`` passes as it is (``504 timeout``), so does
    ``QueryTooLarge`` (``413 too_large``: over the memory or answer budget;
    ``QueryUnavailable``, ``503``: a view waiting for the lake's upkeep;
    ``QueryBusy``, ``429 busy``, is no ``QueryError``). Any other
    ``QueryError`` is a ``400`` naming the statement when the SQL is the
    caller's own (``user_sql``); a query the server built itself failing is
    the server's bug: re-raised as a plain ``RuntimeError`` so the API logs it
    and answers ``500 internal`` instead of blaming the caller.
    """
    try:
        yield
    except (QueryTimeout, QueryTooLarge, QueryUnavailable):
        raise
    except QueryError as exc:
        if user_sql:
            raise UserError(f"the statement failed: {exc}") from None
        raise RuntimeError(f"a query of the server's own failed: {exc}") from exc


def parse_instant(name: str, value: str | None) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise UserError(f"{name}: {exc}") from None


def parse_where(items: list[str]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"where: {item!r} must look like key=value")
        out.append((key.strip(), value))
    return out


def check_where_tenant(key: ApiKey, where: list[tuple[str, str]]) -> None:
    """A scoped key naming another tenant in a filter is told so (403), not silently given nothing."""
    for column, value in where:
        if column == "tenant" and not key.sees(value):
            raise Forbidden(f"key {key.id} may not read tenant {value}")
