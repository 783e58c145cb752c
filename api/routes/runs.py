"""``GET /v1/runs`` (search, cursor pages) and ``GET /v1/runs/{run_id}`` (the audit timeline).

Both read the tenant-scoped views (:mod:`tracelake.api.lake`): a run of
another tenant is ``404`` exactly like a run that does not exist. The queries
are :mod:`tracelake.queries.runs` (the dashboard calls the same functions).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from tracelake.api.auth import ReadKey
from tracelake.api.context import AppContext
from tracelake.api.lake import check_where_tenant, open_for, parse_instant, parse_where, with_warnings
from tracelake.api.responses import JsonResponse
from tracelake.api.routes.analytics import WARNINGS_DESCRIPTION
from tracelake.errors import NotFound
from tracelake.queries import runs as run_queries
from tracelake.queries.runs import OUTCOMES, Search, build_search, decode_cursor, fetch_page

router = APIRouter(tags=["runs"])


class RunsPage(BaseModel):
    rows: list[dict[str, Any]]
    next_cursor: str | None
    warnings: list[str] = Field(default_factory=list, description=WARNINGS_DESCRIPTION)


class TreeNode(BaseModel):
    event_id: str
    children: list[TreeNode]


class Timeline(BaseModel):
    run: dict[str, Any]
    events: list[dict[str, Any]]
    tree: list[TreeNode]
    controls: list[dict[str, Any]] = Field(
        default_factory=list, description="the run's verdict per control (docs/controls.md): control_id, "
                                          "control_version, severity, verdict, evidence (event ids)")


@router.get("/v1/runs", response_model=RunsPage, summary="Search finished and in-flight runs (newest first)")
def search_runs(
    request: Request,
    key: ReadKey,
    workflow: str | None = None,
    workflow_version: str | None = None,
    outcome: Annotated[str | None, Query(description=f"one of {', '.join(OUTCOMES)}")] = None,
    tool_name: Annotated[str | None, Query(description="runs that called this tool")] = None,
    since: Annotated[str | None, Query(description="RFC 3339; the run's first event at or after")] = None,
    until: Annotated[str | None, Query(description="RFC 3339; the run's first event before")] = None,
    where: Annotated[list[str], Query(description="key=value on a run column (repeatable)")] = [],  # noqa: B006
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    cursor: str | None = None,
) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    filters = parse_where(where)
    for column, value in (("workflow", workflow), ("workflow_version", workflow_version), ("outcome", outcome)):
        if value is not None:
            filters.append((column, value))
    check_where_tenant(key, filters)
    search = Search(filters=tuple(filters), tool_name=tool_name, since=parse_instant("since", since),
                    until=parse_instant("until", until), limit=limit or ctx.settings.api_page_limit,
                    cursor=decode_cursor(cursor) if cursor else None)
    query = build_search(search)  # a bad parameter (SearchError: 400) before the lake is opened
    with open_for(ctx, key) as con:
        rows, next_cursor = fetch_page(con, query, search.limit)
        warnings = [bad.warning() for bad in con.skipped]
    return JsonResponse(with_warnings({"rows": rows, "next_cursor": next_cursor}, warnings))


@router.get("/v1/runs/{run_id}", response_model=Timeline, summary="One run's redacted timeline, nested by span",
            responses={404: {"description": "no such run (for this key's tenant)"}})
def run_timeline(request: Request, run_id: str, key: ReadKey) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    with open_for(ctx, key) as con:
        timeline = run_queries.run_timeline(con, run_id)
    if timeline is None:
        raise NotFound(f"no run {run_id!r}")
    return JsonResponse(timeline)
