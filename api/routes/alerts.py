"""``GET /v1/alerts`` (stored drift alerts) and ``POST /v1/alerts/compare`` (canary verdict).

Both are the analytics stage's functions: :func:`tracelake.queries.alerts.store.list_alerts`
on the key's tenant-scoped views, and :func:`tracelake.queries.alerts.canary.compare`
(the same call as ``tracelake alerts compare``) with the key's tenant. A
comparison needs role ``admin`` (api.md). Its window defaults to the 24 hours
before now, as on the command line.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from tracelake.api.auth import AdminKey, ReadKey
from tracelake.api.body import body_schema, json_body
from tracelake.api.context import AppContext
from tracelake.api.keys import ApiKey
from tracelake.api.lake import limits, open_for, parse_instant, query_errors, run_horizon, tenant_of
from tracelake.api.responses import JsonResponse
from tracelake.errors import UserError
from tracelake.queries.alerts.canary import compare
from tracelake.queries.alerts.rules import RulesError, load_rules
from tracelake.queries.alerts.store import list_alerts
from tracelake.queries.flags_auto import apply_canary, load_flag_automation
from tracelake.queries.metrics import MetricArgumentError
from tracelake.queries.timewin import Window

router = APIRouter(tags=["alerts"])


class Rows(BaseModel):
    rows: list[dict[str, Any]]


class CompareRequest(BaseModel):
    workflow: str = Field(min_length=1)
    baseline: str = Field(min_length=1, description="workflow_version (or release) of the baseline")
    candidate: str = Field(min_length=1, description="workflow_version (or release) of the candidate")
    since: str | None = Field(None, description="RFC 3339; default: until − 24 h")
    until: str | None = Field(None, description="RFC 3339; default: now")
    by: Literal["workflow_version", "release"] = "workflow_version"


class CompareAnswer(BaseModel):
    workflow: str
    baseline: str
    candidate: str
    verdict: Literal["promote", "hold", "rollback"]
    tests: list[dict[str, Any]]


@router.get("/v1/alerts", response_model=Rows, summary="Stored drift alerts, newest first")
def alerts(
    request: Request,
    key: ReadKey,
    since: Annotated[str | None, Query(description="RFC 3339; created at or after")] = None,
    until: Annotated[str | None, Query(description="RFC 3339; created before")] = None,
    rule: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    start, end = parse_instant("since", since), parse_instant("until", until)
    with open_for(ctx, key) as con:
        rows = list_alerts(con, since=start, until=end, rule=rule, limit=limit)
    return JsonResponse({"rows": rows})


@router.post("/v1/alerts/compare", response_model=CompareAnswer, summary="Canary verdict: promote, hold or rollback",
             openapi_extra=body_schema(CompareRequest))
async def alerts_compare(request: Request, key: AdminKey) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    body = await json_body(request, CompareRequest, 64 * 1024)
    return await run_in_threadpool(_compare, ctx, body, key)


def _compare(ctx: AppContext, body: CompareRequest, key: ApiKey) -> JsonResponse:
    settings = ctx.settings
    end = parse_instant("until", body.until) or datetime.now(UTC)
    start = parse_instant("since", body.since) or end - timedelta(hours=24)
    try:
        rules = load_rules(settings.alerts_rules_file)
        automation = load_flag_automation(settings.alerts_rules_file)
        window = Window(start, end)
        with query_errors():
            result = compare(ctx.lake, rules, workflow=body.workflow, baseline=body.baseline,
                             candidate=body.candidate, window=window, by=body.by, tenant=tenant_of(key),
                             limits=limits(settings), run_horizon=run_horizon(settings))
    except RulesError as exc:
        # The server's rules file is broken: not the caller's fault, whatever its class says (a 500, logged).
        raise RuntimeError(f"the server's rules file: {exc}") from exc
    except MetricArgumentError:
        raise
    except ValueError as exc:  # Window(start >= end)
        raise UserError(str(exc)) from None
    # The rules file's [flags] canary_rollback, for a tenant-scoped key's tenant (docs/flags.md, "Automation").
    change = apply_canary(ctx.lake, automation, result, tenant=tenant_of(key))
    if change is not None:
        result = {**result, "flag_change": change.to_json()}
    return JsonResponse(result)
