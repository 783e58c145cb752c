"""Governance routes (api.md): retention plan and apply, erasure of one person, the governance log.

The same calls as ``tracelake retention plan|apply`` and ``tracelake erase``
(:mod:`tracelake.governance`), with the server's settings: the retention policy is the server's
``TRACELAKE_RETENTION_POLICY_FILE`` (a request cannot send a policy: what may be deleted is deployment
configuration), the pseudonym key is the server's. Every route needs a key of role ``admin`` for every
tenant (``tenant = "*"``): retention and erasure act on the whole lake, dead letters have no tenant.
Work runs in the thread pool; the governance log names the key (``actor = "api:<key id>"``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from tracelake.api.auth import AdminKey
from tracelake.api.body import body_schema, json_body
from tracelake.api.context import AppContext
from tracelake.api.keys import ApiKey
from tracelake.api.lake import limits, run_horizon
from tracelake.api.responses import JsonResponse
from tracelake.errors import Forbidden, Refused, Unavailable

router = APIRouter(tags=["governance"])


def _lake_admin(key: AdminKey) -> ApiKey:
    if not key.all_tenants:
        raise Forbidden(f"key {key.id} may not act on the whole lake (needs role admin for every tenant, '*')")
    return key


LakeAdmin = Annotated[ApiKey, Depends(_lake_admin)]


class ApplyRequest(BaseModel):
    grace_hours: int | None = Field(None, ge=0, description="default: TRACELAKE_RETENTION_VACUUM_GRACE_H")


class EraseRequest(BaseModel):
    email: list[str] = Field(default_factory=list, max_length=20)
    phone: list[str] = Field(default_factory=list, max_length=20)
    name: list[str] = Field(default_factory=list, max_length=20)
    pseudonym: list[str] = Field(default_factory=list, max_length=20)
    mode: Literal["redact", "remove"] = "redact"
    dry_run: bool = False
    vacuum: bool = False


def _policy(ctx: AppContext) -> Any:
    from tracelake.governance.retention_policy import PolicyError, load_policy

    path = ctx.settings.retention_policy_file
    if path is None:
        # The request cannot be carried out as the server is set up (422), not a server failure.
        raise Refused("no retention policy is configured on the server (TRACELAKE_RETENTION_POLICY_FILE)")
    try:
        return load_policy(path)
    except PolicyError as exc:
        # The server's policy file is broken: not the caller's fault (a 500, logged).
        raise RuntimeError(f"the server's retention policy: {exc}") from exc


@router.post("/v1/governance/retention/plan", summary="What the retention policy deletes now (nothing written)")
def retention_plan(request: Request, key: LakeAdmin) -> JsonResponse:
    from tracelake.governance.retention_plan import plan_retention

    ctx: AppContext = request.app.state.ctx
    try:
        plan = plan_retention(ctx.lake, _policy(ctx), limits=limits(ctx.settings),
                              run_horizon=run_horizon(ctx.settings))
    except OSError as exc:
        raise Unavailable(f"cannot read the lake: {exc}") from None
    return JsonResponse(plan.as_dict())


@router.post("/v1/governance/retention/apply", summary="Apply the retention policy, vacuum after the grace period",
             openapi_extra=body_schema(ApplyRequest))
async def retention_apply(request: Request, key: LakeAdmin) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    given = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    body = await json_body(request, ApplyRequest, 4 * 1024) if given else ApplyRequest(grace_hours=None)
    return await run_in_threadpool(_apply, ctx, body, key)


def _apply(ctx: AppContext, body: ApplyRequest, key: ApiKey) -> JsonResponse:
    from tracelake.governance.retention_apply import apply_retention, chain_sealer

    settings = ctx.settings
    grace = settings.retention_vacuum_grace_h if body.grace_hours is None else body.grace_hours
    try:
        result = apply_retention(ctx.lake, _policy(ctx), vacuum_grace_h=grace, limits=limits(settings),
                                 run_horizon=run_horizon(settings), actor=f"api:{key.id}",
                                 after_commit=chain_sealer(ctx.lake, settings.chain_key_file))
    except OSError as exc:
        raise Unavailable(f"cannot apply the retention policy: {exc}") from None
    return JsonResponse(result.as_dict())


@router.post("/v1/governance/erase", summary="Erase one person from the lake (or, dry_run, list what holds them)",
             openapi_extra=body_schema(EraseRequest))
async def erase(request: Request, key: LakeAdmin) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    body = await json_body(request, EraseRequest, 64 * 1024)
    return await run_in_threadpool(_erase, ctx, body, key)


def _erase(ctx: AppContext, body: EraseRequest, key: ApiKey) -> JsonResponse:
    from tracelake.governance.erase import erase_subject
    from tracelake.governance.erase_subject import Subject
    from tracelake.governance.retention_apply import chain_sealer

    settings = ctx.settings
    secret = settings.pseudonym_key.encode() if settings.pseudonym_key else None
    subject = Subject(emails=body.email, phones=body.phone, names=body.name, pseudonyms=body.pseudonym,
                      key=secret)
    try:
        result = erase_subject(ctx.lake, subject, mode=body.mode, dry_run=body.dry_run, vacuum=body.vacuum,
                               run_horizon=timedelta(hours=settings.run_max_duration_h), actor=f"api:{key.id}",
                               after_commit=None if body.dry_run else chain_sealer(ctx.lake, settings.chain_key_file))
    except OSError as exc:
        raise Unavailable(f"cannot erase: {exc}") from None
    return JsonResponse(result.as_dict())


@router.get("/v1/governance/log", summary="The governance log: every retention application and erasure")
def governance_log(request: Request, key: LakeAdmin) -> JsonResponse:
    from tracelake.governance.log import read_entries

    ctx: AppContext = request.app.state.ctx
    try:
        entries = read_entries(ctx.lake)
    except OSError as exc:
        raise Unavailable(f"cannot read the governance log: {exc}") from None
    return JsonResponse({"rows": [e.__dict__ for e in reversed(entries)]})



@router.get("/v1/governance/verify", summary="Check the commit chain, every commit and every live file (tamper "
                                             "evidence); the head hash to anchor elsewhere")
async def verify(request: Request, key: LakeAdmin, expect_head: str | None = None) -> JsonResponse:
    """``tracelake verify`` with the server's chain key when it has one (the strong form: a public key a writer
    to the lake cannot replace), else the key the lake publishes. ``status`` is ``clean``, ``tampered`` or
    ``unverifiable``; the answer is 200 in all three (the finding is the answer, not an error)."""
    ctx: AppContext = request.app.state.ctx
    return await run_in_threadpool(_verify, ctx, expect_head)


def _verify(ctx: AppContext, expect_head: str | None) -> JsonResponse:
    from tracelake.governance.signing import configured_key
    from tracelake.governance.verify import verify_lake

    lake = ctx.lake
    try:
        signing = configured_key(ctx.settings.chain_key_file, None if lake.is_remote else lake.resolved)
        report = verify_lake(lake, None if signing is None else signing.public, expect_head)
    except OSError as exc:
        raise Unavailable(f"cannot read the lake to verify it: {exc}") from None
    return JsonResponse(report.as_dict())
