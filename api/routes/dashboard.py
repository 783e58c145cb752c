"""``GET /dashboard`` and ``GET /dashboard/runs/{run_id}``: HTML for people, same scope rules as ``/v1``.

A browser cannot send ``Authorization`` on a link, so these two routes also
take the key as ``?key=``; the key then scopes every query to its tenant,
exactly like the JSON routes (:mod:`tracelake.api.dashboard.data` goes
through the same tenant-scoped views). Without a keys file (local mode) the
page shows every tenant. ``401``/``403`` are the API's JSON errors.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from tracelake.api.dashboard.data import dashboard_data, timeline_data
from tracelake.api.dashboard.page import dashboard_html, timeline_html
from tracelake.api.errors import ApiError
from tracelake.api.keys import LOCAL_KEY, ApiKey
from tracelake.api.lake import query_errors, tenant_of

router = APIRouter(tags=["dashboard"])
_bearer = HTTPBearer(auto_error=False)
_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def page_key(request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
             header_key: Annotated[str | None, Depends(_header)],
             key: Annotated[str | None, Query(description="API key (browsers cannot send a header)")] = None,
             ) -> tuple[ApiKey, str]:
    """The caller's key (header or ``?key=``) and the query suffix that carries it to the next page."""
    store = request.app.state.ctx.keys
    if store.local_mode:
        return LOCAL_KEY, ""
    presented = (bearer.credentials if bearer else None) or header_key or key
    if not presented:
        raise ApiError(401, "no API key: open /dashboard?key=<key> or send 'Authorization: Bearer <key>'")
    found = store.lookup(presented.strip())
    if found is None:
        raise ApiError(401, "unknown API key")
    if not found.can_read():
        raise ApiError(403, f"key {found.id} (role {found.role}) may not read")
    return found, (f"?key={quote(key)}" if key else "")


Caller = Annotated[tuple[ApiKey, str], Depends(page_key)]


@router.get("/dashboard", response_class=HTMLResponse, summary="The dashboard (HTML)")
def dashboard(request: Request, caller: Caller) -> HTMLResponse:
    key, suffix = caller
    with query_errors():
        data = dashboard_data(request.app.state.ctx.settings, tenant_of(key))
    return HTMLResponse(dashboard_html(data, suffix))


@router.get("/dashboard/runs/{run_id}", response_class=HTMLResponse, summary="One run's timeline (HTML)")
def run_page(request: Request, run_id: str, caller: Caller) -> HTMLResponse:
    key, suffix = caller
    with query_errors():
        data = timeline_data(request.app.state.ctx.settings, tenant_of(key), run_id)
    if data is None:
        raise ApiError(404, f"no run {run_id!r}")
    return HTMLResponse(timeline_html(data, suffix))
