"""``GET /v1/flags`` (what agents must do per workflow), ``POST /v1/flags`` (set one), ``GET /v1/flags/history``.

The answers come from :func:`tracelake.queries.flags.flag_table`: the ``flags`` table's rows held in memory and
re-checked against the Delta log at most once a second, so an agent fleet polling every few seconds costs the
server a dictionary lookup (docs/flags.md).

Roles (api.md): reading flags takes any key (agents hold ``ingest`` keys), their history ``read`` or
``admin``; setting one takes ``admin`` and is recorded with ``who = key:<key id>``. Tenant: a tenant-scoped key
reads and sets its own tenant (naming another is ``403``); an all-tenant key names one with ``tenant`` (default
``default``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from tracelake.api.auth import FlagsKey, ReadKey, SetFlagsKey, check_tenant
from tracelake.api.body import body_schema, json_body
from tracelake.api.context import AppContext
from tracelake.api.keys import ApiKey
from tracelake.api.responses import JsonResponse
from tracelake.queries.flags import flag_table

router = APIRouter(tags=["flags"])

WorkflowQuery = Annotated[str | None, Query(min_length=1, max_length=128, description="one workflow (default: all)")]
TenantQuery = Annotated[str | None, Query(min_length=1, description="an all-tenant key's tenant (default: default)")]


class FlagsAnswer(BaseModel):
    tenant: str
    flags: list[dict[str, Any]]


class SetFlagRequest(BaseModel):
    workflow: str = Field(min_length=1, max_length=128)
    action: str = Field(description="allow, throttle, pin_version or pause")
    rate: float | None = Field(None, description="throttle: the share of runs admitted, in (0, 1]")
    version: str | None = Field(None, description="pin_version: the workflow version to run")
    reason: str = Field(min_length=1, max_length=1000)
    tenant: str | None = None


def _tenant(key: ApiKey, asked: str | None) -> str:
    tenant = asked or (key.tenant if not key.all_tenants else "default")
    check_tenant(key, tenant)
    return tenant


@router.get("/v1/flags", response_model=FlagsAnswer,
            summary="Each workflow's flag: allow, throttle, pin_version or pause")
def flags(request: Request, key: FlagsKey, workflow: WorkflowQuery = None, tenant: TenantQuery = None
          ) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    scope = _tenant(key, tenant)
    table = flag_table(ctx.lake)
    if workflow is not None:
        found = [table.get(scope, workflow)]
    else:
        found = sorted(table.current(scope).values(), key=lambda f: f.workflow)
    return JsonResponse({"tenant": scope, "flags": [f.to_json() for f in found]})


@router.get("/v1/flags/history", summary="Every change of the tenant's flags (who, when, old → new, reason)")
def history(request: Request, key: ReadKey, workflow: WorkflowQuery = None, tenant: TenantQuery = None
            ) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    scope = _tenant(key, tenant)
    changes = flag_table(ctx.lake).history(scope, workflow)
    return JsonResponse({"tenant": scope, "changes": [c.to_json() for c in changes]})


@router.post("/v1/flags", summary="Set a workflow's flag (role admin; audited)",
             openapi_extra=body_schema(SetFlagRequest))
async def set_flag(request: Request, key: SetFlagsKey) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    body = await json_body(request, SetFlagRequest, 16 * 1024)
    scope = _tenant(key, body.tenant)
    change = await run_in_threadpool(
        flag_table(ctx.lake).set, tenant=scope, workflow=body.workflow, action=body.action, rate=body.rate,
        version=body.version, reason=body.reason, who=f"key:{key.id}")
    assert change is not None  # only_if_changed is off: every call records a change
    return JsonResponse(change.to_json())
