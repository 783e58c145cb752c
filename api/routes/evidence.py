"""``GET /v1/runs/{run_id}/evidence``: one run's signed evidence bundle (``docs/governance.md``).

Same auth and tenant scope as ``GET /v1/runs/{run_id}`` (a read key; the tenant-scoped views of
:mod:`tracelake.api.lake`): a run of another tenant is ``404`` exactly like a run that does not exist. The
bundle is :func:`tracelake.governance.evidence.build_bundle` (``tracelake audit export`` writes the same);
it is signed with the server's chain key (``TRACELAKE_CHAIN_KEY_FILE``) when one is configured, else its
``signature`` is null.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from tracelake.api.auth import ReadKey
from tracelake.api.context import AppContext
from tracelake.api.lake import open_for, tenant_of
from tracelake.api.responses import JsonResponse
from tracelake.errors import NotFound, Unavailable

router = APIRouter(tags=["runs"])


class Bundle(BaseModel):
    format: str
    body: dict[str, Any]
    body_sha256: str
    key_id: str | None
    signature: str | None


@router.get("/v1/runs/{run_id}/evidence", response_model=Bundle,
            summary="One run's evidence bundle: redacted timeline, decisions, covering chain entries, signed",
            responses={404: {"description": "no such run (for this key's tenant)"}})
def run_evidence(request: Request, run_id: str, key: ReadKey) -> JsonResponse:
    from tracelake.governance.evidence import build_bundle
    from tracelake.governance.signing import configured_key

    ctx: AppContext = request.app.state.ctx
    signing = configured_key(ctx.settings.chain_key_file, None if ctx.lake.is_remote else ctx.lake.resolved)
    try:
        with open_for(ctx, key) as con:
            bundle = build_bundle(ctx.lake, con, run_id, signing, tenant_of(key))
    except OSError as exc:
        raise Unavailable(f"cannot read the lake for the evidence of {run_id!r}: {exc}") from None
    if bundle is None:
        raise NotFound(f"no run {run_id!r}")
    return JsonResponse(bundle)
