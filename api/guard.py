"""What a web page must not make a browser do to the API: the Host and Origin checks.

Local mode serves every tenant without a key on 127.0.0.1, so any page the
user opens is a potential client. Two checks, in one ASGI middleware ahead of
every route, keep it out (http-api.md, "Browsers and local mode"):

- **Host** (DNS rebinding: a name of the attacker's that resolves to
  127.0.0.1 makes the page same-origin with the API, so the browser lets it
  read the answers). The ``Host`` header must name a loopback host
  (``localhost``, ``127.0.0.1``, ``[::1]``, any port) or one of
  ``api_allowed_hosts``. Always in local mode; with a keys file only when
  ``api_allowed_hosts`` is set, since there a key is needed anyway and a
  rebound page has none (the dashboard's cookie is bound to the real name).
  ``/healthz`` is exempt: probes address the process by IP and it tells
  nothing.
- **Origin / Sec-Fetch-Site** on state-changing methods (anything but GET,
  HEAD, OPTIONS): a browser names the page that sent a request; a
  ``Sec-Fetch-Site`` other than ``same-origin`` or ``none``, or an ``Origin``
  that is not the request's own host (or an allowed host), is refused.
  Clients that are not browsers send neither header and pass.

The third defence, JSON routes taking only JSON content types unless a key
header forced a preflight, is per route: :func:`tracelake.api.body.require_json`.

Failure mode: ``403 forbidden`` in the one error shape, naming the header.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from tracelake.api.errors import answer
from tracelake.errors import Forbidden

LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Sec-Fetch-Site values a browser sends for the API's own pages ("none": typed by the user, a bookmark).
TRUSTED_FETCH_SITES = frozenset({"same-origin", "none"})
UNCHECKED_PATHS = frozenset({"/healthz"})


def host_name(host: str) -> str:
    """The name part of a ``Host`` value, lower-case: ``[::1]:8000`` → ``[::1]``, ``a.b:80`` → ``a.b``."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    return host.split(":", 1)[0]


class BrowserGuard:
    """ASGI middleware refusing a foreign ``Host`` and cross-origin state changes (see the module doc).

    ``check_host``: whether every request's Host is checked (local mode, or a
    configured list); ``allowed``: names accepted besides the loopback ones.
    """

    def __init__(self, app: ASGIApp, *, check_host: bool, allowed: Iterable[str]) -> None:
        self.app = app
        self.check_host = check_host
        self.allowed = LOOPBACK | {host_name(name) for name in allowed if name.strip()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is not None:
            await answer(refusal)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> Forbidden | None:
        """The error a request gets, or None when it may go on."""
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        host = headers.get("host", "")
        if self.check_host and scope["path"] not in UNCHECKED_PATHS and host_name(host) not in self.allowed:
            return Forbidden(f"Host {host!r} is not an allowed name for this API (localhost, 127.0.0.1, [::1] "
                             "or TRACELAKE_API_ALLOWED_HOSTS); a page of another site may not reach it")
        if scope["method"] in SAFE_METHODS:
            return None
        site = headers.get("sec-fetch-site")
        if site is not None and site.strip().lower() not in TRUSTED_FETCH_SITES:
            return Forbidden(f"Sec-Fetch-Site {site!r}: a page of another origin may not {scope['method']} here")
        origin = headers.get("origin")
        if origin is not None and not self._same_origin(origin, host):
            return Forbidden(f"Origin {origin!r} is not this API's: a page of another origin may not "
                             f"{scope['method']} here")
        return None

    def _same_origin(self, origin: str, host: str) -> bool:
        # Compared on host[:port]: behind a TLS proxy the scheme seen here is http while the page's is https.
        try:
            parts = urlsplit(origin.strip())
            port = parts.port
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False  # "null" (a sandboxed frame, a file:// page) or garbage
        default = 443 if parts.scheme == "https" else 80
        netloc = parts.netloc.lower()
        if port == default:
            netloc = netloc.rsplit(":", 1)[0]
        own = host.strip().lower()
        if own.endswith(f":{default}"):
            own = own[: -len(f":{default}")]
        if netloc == own:
            return True
        # A proxy may pass its own upstream name as Host: the configured names stand for the API too.
        return host_name(netloc) in self.allowed - LOOPBACK
