"""``GET /v1/controls``, ``/v1/controls/failures``, ``/v1/controls/budgets``, ``/v1/runs/{run_id}/controls`` (api.md).

No control and no query is defined here: the library and the verdict queries are
:mod:`tracelake.queries.controls.report`, the pass rates the ``control_pass_rate`` metric (the same calls as
``tracelake controls``), on a connection scoped to the key's tenant.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from tracelake.api.auth import ReadKey
from tracelake.api.context import AppContext
from tracelake.api.lake import check_where_tenant, open_for, parse_instant, parse_where, with_warnings
from tracelake.api.responses import JsonResponse
from tracelake.errors import NotFound
from tracelake.queries.controls.report import check_filters, daily_budgets, describe, explain, failing_runs
from tracelake.queries.metrics import parse_group_by, run_metric

router = APIRouter(tags=["controls"])

WARNINGS = "unreadable lake files the answer left out, one line each; absent when every file was read"


class ControlsAnswer(BaseModel):
    controls: list[dict[str, Any]] = Field(description="the library: id, version, severity, owner, description, "
                                                       "risk, practice, applies_to, sql")
    pass_rates: list[dict[str, Any]] = Field(description="control_pass_rate rows for the window (metrics.md)")
    warnings: list[str] = Field(default_factory=list, description=WARNINGS)


class FailuresAnswer(BaseModel):
    rows: list[dict[str, Any]] = Field(description="finished runs that failed a control, newest first")
    warnings: list[str] = Field(default_factory=list, description=WARNINGS)


class RunControlsAnswer(BaseModel):
    run_id: str
    controls: list[dict[str, Any]] = Field(description="one verdict per control: control_id, control_version, "
                                                       "severity, verdict, evidence, description, risk, "
                                                       "practice, events")


Where = Annotated[list[str], Query(description="key=value on control_id or a run column (repeatable)")]
Since = Annotated[str | None, Query(description="RFC 3339: finished runs from")]
Until = Annotated[str | None, Query(description="RFC 3339: finished runs before")]


@router.get("/v1/controls", response_model=ControlsAnswer, summary="The controls and their pass rates")
def controls(request: Request, key: ReadKey, since: Since = None, until: Until = None,
             group_by: Annotated[str | None, Query(description="a,b (default control_id,workflow,"
                                                                "workflow_version); empty for one row")] = None,
             where: Where = []) -> JsonResponse:  # noqa: B006
    ctx: AppContext = request.app.state.ctx
    filters = parse_where(where)
    check_where_tenant(key, filters)
    start, end, groups = parse_instant("since", since), parse_instant("until", until), parse_group_by(group_by)
    check_filters(filters, groups, start, end)  # a bad filter is a 400 before the lake is opened
    with open_for(ctx, key) as con:
        rows = run_metric(con, "control_pass_rate", group_by=groups, since=start, until=end, where=filters)
        warnings = [bad.warning() for bad in con.skipped]
    return JsonResponse(with_warnings({"controls": describe(), "pass_rates": rows}, warnings))


@router.get("/v1/controls/failures", response_model=FailuresAnswer, summary="Runs that failed a control")
def failures(request: Request, key: ReadKey, since: Since = None, until: Until = None,
             where: Where = [],  # noqa: B006
             limit: Annotated[int, Query(ge=1, le=1000, description="most rows")] = 100) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    filters = parse_where(where)
    check_where_tenant(key, filters)
    start, end = parse_instant("since", since), parse_instant("until", until)
    check_filters(filters, None, start, end)
    with open_for(ctx, key) as con:
        rows = failing_runs(con, since=start, until=end, where=filters, limit=limit)
        warnings = [bad.warning() for bad in con.skipped]
    return JsonResponse(with_warnings({"rows": rows}, warnings))


@router.get("/v1/controls/budgets", response_model=FailuresAnswer,
            summary="Spend per UTC day against the configured daily budgets")
def budgets(request: Request, key: ReadKey, since: Since = None, until: Until = None) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    start, end = parse_instant("since", since), parse_instant("until", until)
    check_filters([], None, start, end)
    with open_for(ctx, key) as con:
        rows = daily_budgets(con, since=start, until=end)
        warnings = [bad.warning() for bad in con.skipped]
    return JsonResponse(with_warnings({"rows": rows}, warnings))


@router.get("/v1/runs/{run_id}/controls", response_model=RunControlsAnswer,
            summary="One run's verdict per control, with the events that decided it",
            responses={404: {"description": "no such run (for this key's tenant)"}})
def run_controls(request: Request, run_id: str, key: ReadKey) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    with open_for(ctx, key) as con:
        rows = explain(con, run_id)
    if not rows:
        raise NotFound(f"no run {run_id!r}")
    return JsonResponse({"run_id": run_id, "controls": rows})
