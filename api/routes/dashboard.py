"""``GET /dashboard`` and ``GET /dashboard/runs/{run_id}``: HTML for people, same scope rules as ``/v1``.

Auth is the API's (:mod:`tracelake.api.auth`): with a keys file a key with
role ``read`` (or ``admin``) is needed, and it scopes every query to its
tenant exactly as on ``/v1`` (:mod:`tracelake.api.dashboard.data` calls the
same functions with the same tenant). Without a keys file (local mode) the
pages show every tenant and take no key (``?key=`` is ignored there).

A browser signs in through a form (http-api.md, "Browsers and local mode"):
``GET /dashboard/signin`` shows it, the user pastes the key, and the
same-origin ``POST /dashboard/signin`` (``Origin`` or ``Sec-Fetch-Site``
required and same-origin, so no other site can sign a victim into its own
tenant) answers a ``303`` to the page asked for, setting the cookie
``tracelake_session``: a signed, expiring token naming the key id
(:mod:`tracelake.api.dashboard.session`), never the key, ``HttpOnly``,
``SameSite=Strict``, ``Path=/dashboard``, ``Secure`` unless
``api_cookie_secure`` is off, ``Max-Age`` the session's lifetime. A key in a
link (``?key=``) is refused: a link is how a victim would be signed in to
someone else's tenant, and it leaves the key in the history. Order: the
``Authorization``/``X-API-Key`` header (scripts), then the session cookie.

Failure modes: ``?key=`` → ``400``; no key → ``401`` (a browser asking for
HTML is sent to the form instead: ``303``); an unknown key, or a session
that is forged, expired or whose key has left the keys file → ``401`` (the
cookie is cleared); a key that may not read → ``403``; a cross-origin or
header-less sign-in POST → ``403``; a run the key cannot see → ``404``; query
timeouts → ``504``: all the API's JSON errors, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Cookie, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from tracelake.api.body import media_type, read_body
from tracelake.api.dashboard.data import dashboard_data, timeline_data
from tracelake.api.dashboard.page import dashboard_html, signin_html, timeline_html
from tracelake.api.dashboard.session import SessionSigner
from tracelake.api.keys import LOCAL_KEY, ApiKey
from tracelake.api.lake import query_errors, tenant_of
from tracelake.errors import Forbidden, NotFound, Unauthorized, UserError

router = APIRouter(tags=["dashboard"])
COOKIE = "tracelake_session"
COOKIE_PATH = "/dashboard"
SIGNIN = "/dashboard/signin"
_bearer = HTTPBearer(auto_error=False)
_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_CLEAR_COOKIE = f"{COOKIE}=; Max-Age=0; Path={COOKIE_PATH}; HttpOnly; SameSite=Strict"
_NO_LINKS = f"keys in links are refused (a link could sign you in to someone else's tenant): sign in at {SIGNIN}"


@dataclass(frozen=True)
class PageCaller:
    """The key a page acts as; None: nobody, and the browser asked for HTML (the route sends it to the form)."""

    key: ApiKey | None


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def page_caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
    key: Annotated[str | None, Query(description="refused with keys: sign in at /dashboard/signin")] = None,
    cookie: Annotated[str | None, Cookie(alias=COOKIE, include_in_schema=False)] = None,
) -> PageCaller:
    """The calling key from a header or the session cookie; ``400``/``401``/``403`` as the module says."""
    store = request.app.state.ctx.keys
    if store.local_mode:
        return PageCaller(LOCAL_KEY)
    if key is not None:
        raise UserError(_NO_LINKS)
    header = (bearer.credentials if bearer else None) or header_key
    if header:
        found = store.lookup(header.strip())
        if found is None:
            raise Unauthorized("unknown API key", headers={"WWW-Authenticate": "Bearer"})
    elif cookie:
        signer: SessionSigner = request.app.state.sessions
        found = signer.verify(cookie, store)
        if found is None:
            raise Unauthorized(f"the dashboard session has expired or its key was removed: sign in at {SIGNIN}",
                               headers={"WWW-Authenticate": "Bearer", "Set-Cookie": _CLEAR_COOKIE})
    elif _wants_html(request):
        return PageCaller(None)
    else:
        raise Unauthorized(f"no API key: sign in at {SIGNIN} or send 'Authorization: Bearer <key>'",
                           headers={"WWW-Authenticate": "Bearer"})
    if not found.can_read():
        raise Forbidden(f"key {found.id} (role {found.role}) may not read")
    return PageCaller(found)


Caller = Annotated[PageCaller, Depends(page_caller)]


def _to_signin(request: Request) -> Response:
    """``303`` to the sign-in form, remembering the page (its path only: no key can ride along)."""
    here = request.url.path
    answer = RedirectResponse(SIGNIN + (f"?{urlencode({'next': here})}" if here != "/dashboard" else ""),
                              status_code=303)
    answer.headers["Cache-Control"] = "no-store"
    return answer


def _next_path(value: str | None) -> str:
    """Where to go after signing in: a dashboard path of this server, else ``/dashboard`` (no open redirect)."""
    if value and value.startswith("/dashboard") and "//" not in value and "\\" not in value:
        return value
    return "/dashboard"


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
            responses={303: {"description": "no session: to the sign-in form"}})
def dashboard(request: Request, caller: Caller) -> Response:
    if caller.key is None:
        return _to_signin(request)
    with query_errors():
        data = dashboard_data(request.app.state.ctx, tenant_of(caller.key))
    return _html(dashboard_html(data))


@router.get("/dashboard/runs/{run_id}", response_class=HTMLResponse, summary="One run's timeline (HTML)",
            responses={303: {"description": "no session: to the sign-in form"},
                       404: {"description": "no such run (for this key's tenant)"}})
def run_page(request: Request, run_id: str, caller: Caller) -> Response:
    if caller.key is None:
        return _to_signin(request)
    with query_errors():
        data = timeline_data(request.app.state.ctx, tenant_of(caller.key), run_id)
    if data is None:
        raise NotFound(f"no run {run_id!r}")
    return _html(timeline_html(data))


# The sign-in page posts its form to itself: the one place a form may go. Its referrer policy is
# same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" with the form's POST.
SIGNIN_HEADERS = {**PAGE_HEADERS,
                  "Content-Security-Policy": PAGE_HEADERS["Content-Security-Policy"].replace(
                      "form-action 'none'", "form-action 'self'"),
                  "Referrer-Policy": "same-origin"}


@router.get(SIGNIN, response_class=HTMLResponse, summary="The dashboard's sign-in form (HTML)",
            responses={303: {"description": "local mode: no sign-in, to the dashboard"}})
def signin_form(request: Request,
                next: Annotated[str | None, Query(description="the dashboard page to open after")] = None,
                key: Annotated[str | None, Query(include_in_schema=False)] = None) -> Response:
    if request.app.state.ctx.keys.local_mode:
        return RedirectResponse(_next_path(next), status_code=303)
    if key is not None:
        raise UserError(_NO_LINKS)
    return HTMLResponse(signin_html(_next_path(next)), headers=SIGNIN_HEADERS)


SIGNIN_BODY_LIMIT = 4096


@router.post(SIGNIN, summary="Sign in to the dashboard (same-origin form POST): a session cookie",
             status_code=303, response_class=Response,
             openapi_extra={"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
                 "schema": {"type": "object", "required": ["key"],
                            "properties": {"key": {"type": "string"}, "next": {"type": "string"}}}}}}},
             responses={303: {"description": "signed in: to the page asked for, with the session cookie"}})
async def signin(request: Request) -> Response:
    """Trade a key pasted in the form for a session cookie; only from a page of this server (login CSRF)."""
    ctx = request.app.state.ctx
    # BrowserGuard refused a foreign Origin / Sec-Fetch-Site; here one of them must be present too: every
    # browser sends Origin on a form POST, so a request without both did not come from this server's form.
    if "origin" not in request.headers and "sec-fetch-site" not in request.headers:
        raise Forbidden("sign-in is only through the form at /dashboard/signin (no Origin or Sec-Fetch-Site)")
    if ctx.keys.local_mode:
        return RedirectResponse("/dashboard", status_code=303)
    if media_type(request) != "application/x-www-form-urlencoded":
        raise UserError("sign-in takes the form's body (application/x-www-form-urlencoded)")
    fields = parse_qs((await read_body(request, SIGNIN_BODY_LIMIT)).decode("utf-8", "replace"))
    presented = (fields.get("key") or [""])[0].strip()
    if not presented:
        raise UserError("key: paste an API key")
    found = ctx.keys.lookup(presented)
    if found is None:
        raise Unauthorized("unknown API key")
    if not found.can_read():
        raise Forbidden(f"key {found.id} (role {found.role}) may not read")
    signer: SessionSigner = request.app.state.sessions
    answer = RedirectResponse(_next_path((fields.get("next") or [""])[0]), status_code=303)
    answer.set_cookie(COOKIE, signer.issue(found), max_age=int(signer.ttl_s), path=COOKIE_PATH, httponly=True,
                      samesite="strict", secure=ctx.settings.api_cookie_secure)
    answer.headers["Cache-Control"] = "no-store"
    return answer
