"""``GET /v1/metrics/{name}``, ``POST /v1/sql``: the analytics stage's functions behind HTTP.

No metric and no SQL check is defined here: metrics are
:func:`tracelake.queries.metrics.compute_metric` (the same call as
``tracelake metrics``) and SQL is :func:`tracelake.queries.sandbox.execute_sql`
(the same sandbox as ``tracelake sql``), both given the key's tenant so
every view holds only that tenant's rows.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from tracelake.api.auth import ReadKey
from tracelake.api.body import body_schema, json_body
from tracelake.api.context import AppContext
from tracelake.api.keys import ApiKey
from tracelake.api.lake import (
    check_where_tenant,
    limits,
    parse_instant,
    parse_where,
    query_errors,
    run_horizon,
    tenant_of,
    with_warnings,
)
from tracelake.api.responses import JsonResponse
from tracelake.errors import NotFound
from tracelake.queries.metrics import PUBLIC_METRICS, MetricArgumentError, compute_metric, get_spec, parse_group_by
from tracelake.queries.sandbox import execute_sql
from tracelake.queries.views import collect_skipped, skipped_files

router = APIRouter(tags=["analytics"])
SQL_BODY_LIMIT = 256 * 1024


WARNINGS_DESCRIPTION = ("unreadable lake files the answer left out, one line each "
                        "('skipped unreadable file <path> (<why>)'); absent when every file was read")


class Rows(BaseModel):
    rows: list[dict[str, Any]]
    warnings: list[str] = Field(default_factory=list, description=WARNINGS_DESCRIPTION)


class SqlRequest(BaseModel):
    sql: str = Field(description="one read-only SELECT over the views of metrics.md", max_length=100_000)


class SqlAnswer(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]]
    truncated: bool
    warnings: list[str] = Field(default_factory=list, description=WARNINGS_DESCRIPTION)


@router.get("/v1/metrics/{name}", response_model=Rows, summary="One metric of metrics.md",
            description=f"Metrics: {', '.join(PUBLIC_METRICS)}.",
            responses={404: {"description": "no such metric"}})
def metric(
    request: Request,
    name: str,
    key: ReadKey,
    group_by: Annotated[str | None, Query(description="a,b; empty or 'none' for no grouping")] = None,
    since: Annotated[str | None, Query(description="RFC 3339")] = None,
    until: Annotated[str | None, Query(description="RFC 3339")] = None,
    where: Annotated[list[str], Query(description="key=value (repeatable)")] = [],  # noqa: B006
) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    try:
        get_spec(name)
    except MetricArgumentError as exc:
        raise NotFound(str(exc)) from None  # here the metric is the resource: 404, elsewhere a 400
    filters = parse_where(where)
    check_where_tenant(key, filters)
    settings = ctx.settings
    with query_errors(), collect_skipped() as skipped:  # MetricArgumentError (a bad column or window): 400
        rows = compute_metric(ctx.lake, name, group_by=parse_group_by(group_by),
                              since=parse_instant("since", since), until=parse_instant("until", until),
                              where=filters, tenant=tenant_of(key), limits=limits(settings),
                              run_horizon=run_horizon(settings))
    return JsonResponse(with_warnings({"rows": rows}, [bad.warning() for bad in skipped]))


@router.post("/v1/sql", response_model=SqlAnswer, summary="Read-only ad-hoc SQL over the tenant's views",
             openapi_extra=body_schema(SqlRequest),
             responses={422: {"description": "the statement was refused (not one read-only SELECT over the views)"},
                        413: {"description": "the statement exceeded its memory budget"},
                        429: {"description": "every query slot is busy; retry after Retry-After seconds"}})
async def sql(request: Request, key: ReadKey) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    body = await json_body(request, SqlRequest, SQL_BODY_LIMIT)
    return await run_in_threadpool(_run_sql, ctx, body, key)


def _run_sql(ctx: AppContext, body: SqlRequest, key: ApiKey) -> JsonResponse:
    settings = ctx.settings
    with query_errors(user_sql=True):  # SqlRefused: 422
        result = execute_sql(ctx.lake, body.sql, tenant=tenant_of(key), max_rows=settings.sql_max_rows,
                             max_bytes=settings.sql_max_bytes, timeout_s=settings.sql_timeout_s,
                             limits=limits(settings))
    # The statement ran in a worker process; the same file check here names what its views left out.
    warnings = [bad.warning() for bad in skipped_files(ctx.lake)]
    return JsonResponse(with_warnings({"columns": result.columns, "rows": result.dicts(),
                                       "truncated": result.truncated}, warnings))
