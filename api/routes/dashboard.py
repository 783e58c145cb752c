"""``GET /dashboard`` and ``GET /dashboard/runs/{run_id}``: HTML for people, same scope rules as ``/v1``.

Auth is the API's (:mod:`tracelake.api.auth`): with a keys file a key with
role ``read`` (or ``admin``) is needed, and it scopes every query to its
tenant exactly as on ``/v1`` (:mod:`tracelake.api.dashboard.data` calls the
same functions with the same tenant). Without a keys file (local mode) the
pages show every tenant and take no key.

A browser cannot send ``Authorization`` on a link, so these two routes — and
only these — also take the key as ``?key=``: a valid one is answered with a
``303`` to the same page without it, setting the cookie ``tracelake_key``
(``HttpOnly``, ``SameSite=Strict``, ``Path=/dashboard``, ``Secure`` over
https, gone when the browser closes). Later pages read the cookie, so the key
stays out of links, the address bar and the history. Order: the
``Authorization``/``X-API-Key`` header, then ``?key=``, then the cookie.

Failure modes: no key → ``401``; an unknown key → ``401`` (and a stale cookie
is cleared); a key that may not read → ``403``; a run the key cannot see →
``404``; query timeouts → ``504``: all the API's JSON errors, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Cookie, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from tracelake.api.dashboard.data import dashboard_data, timeline_data
from tracelake.api.dashboard.page import dashboard_html, timeline_html
from tracelake.api.keys import LOCAL_KEY, ApiKey
from tracelake.api.lake import query_errors, tenant_of
from tracelake.errors import Forbidden, NotFound, Unauthorized

router = APIRouter(tags=["dashboard"])
COOKIE = "tracelake_key"
COOKIE_PATH = "/dashboard"
_bearer = HTTPBearer(auto_error=False)
_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_CLEAR_COOKIE = f"{COOKIE}=; Max-Age=0; Path={COOKIE_PATH}; HttpOnly; SameSite=Strict"


@dataclass(frozen=True)
class PageCaller:
    """The key a page acts as; ``from_query``: it came as ``?key=`` (the route trades it for the cookie)."""

    key: ApiKey
    from_query: str | None = None


def page_caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
    key: Annotated[str | None, Query(description="API key, for a browser: traded for a cookie (303)")] = None,
    cookie: Annotated[str | None, Cookie(alias=COOKIE, include_in_schema=False)] = None,
) -> PageCaller:
    """The calling key from a header, ``?key=`` or the cookie; ``401``/``403`` as on ``/v1``."""
    store = request.app.state.ctx.keys
    if store.local_mode:
        return PageCaller(LOCAL_KEY)
    header = (bearer.credentials if bearer else None) or header_key
    presented = header or key or cookie
    if not presented:
        raise Unauthorized("no API key: open /dashboard?key=<key> or send 'Authorization: Bearer <key>'",
                           headers={"WWW-Authenticate": "Bearer"})
    found = store.lookup(presented.strip())
    if found is None:
        only_cookie = not header and not key
        clear = {"Set-Cookie": _CLEAR_COOKIE} if only_cookie else {}
        raise Unauthorized("unknown API key" + (" (the dashboard cookie's): open /dashboard?key=<key>"
                                                if only_cookie else ""),
                           headers={"WWW-Authenticate": "Bearer", **clear})
    if not found.can_read():
        raise Forbidden(f"key {found.id} (role {found.role}) may not read")
    return PageCaller(found, key.strip() if key and not header else None)


Caller = Annotated[PageCaller, Depends(page_caller)]


def _trade_for_cookie(request: Request, key: str) -> Response:
    """``303`` to the same page without ``key``, setting the cookie that carries it from now on."""
    rest = [(name, value) for name, value in request.query_params.multi_items() if name != "key"]
    answer = RedirectResponse(request.url.path + (f"?{urlencode(rest)}" if rest else ""), status_code=303)
    answer.set_cookie(COOKIE, key, path=COOKIE_PATH, httponly=True, samesite="strict",
                      secure=request.url.scheme == "https")
    answer.headers["Cache-Control"] = "no-store"
    return answer


# The pages run no script and load nothing: a policy that says so turns any escaping slip into a no-op.
PAGE_HEADERS = {
    "Cache-Control": "no-store",  # tenant data: never from a shared cache
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _html(text: str) -> HTMLResponse:
    return HTMLResponse(text, headers=PAGE_HEADERS)


@router.get("/dashboard", response_class=HTMLResponse, summary="The dashboard (HTML)",
            responses={303: {"description": "?key= traded for the dashboard cookie"}})
def dashboard(request: Request, caller: Caller) -> Response:
    if caller.from_query:
        return _trade_for_cookie(request, caller.from_query)
    settings = request.app.state.ctx.settings
    with query_errors():
        data = dashboard_data(settings, tenant_of(caller.key))
    return _html(dashboard_html(data))


@router.get("/dashboard/runs/{run_id}", response_class=HTMLResponse, summary="One run's timeline (HTML)",
            responses={303: {"description": "?key= traded for the dashboard cookie"},
                       404: {"description": "no such run (for this key's tenant)"}})
def run_page(request: Request, run_id: str, caller: Caller) -> Response:
    if caller.from_query:
        return _trade_for_cookie(request, caller.from_query)
    settings = request.app.state.ctx.settings
    with query_errors():
        data = timeline_data(settings, tenant_of(caller.key), run_id)
    if data is None:
        raise NotFound(f"no run {run_id!r}")
    return _html(timeline_html(data))
