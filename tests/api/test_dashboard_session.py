"""Dashboard sign-in: a same-origin form POST trades the key for a signed, expiring session (never the key)."""

from __future__ import annotations

import os
import re

import httpx

from tracelake.api.dashboard.session import SessionSigner
from tracelake.api.keys import ApiKey

COOKIE = "tracelake_session"


def sign_in(c: httpx.Client, key: str, origin: str, **extra: str) -> httpx.Response:
    """What the sign-in form makes a browser send."""
    return c.post("/dashboard/signin", data={"key": key, **extra},
                  headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"})


def test_sign_in_by_form_sets_a_session_never_the_key(serve, settings, keys, write_lake, agent_run) -> None:
    write_lake(settings.lake, agent_run("acme-1", "acme") + agent_run("globex-1", "globex", minute=5))
    settings.api_keys_file = keys["path"]
    server = serve(settings)
    with server.client() as c:
        form = c.get("/dashboard/signin")
        assert form.status_code == 200 and form.headers["content-type"].startswith("text/html")
        assert re.search(r"<form method=post action=/dashboard/signin", form.text)
        assert "form-action 'self'" in form.headers["content-security-policy"]
        r = c.get("/dashboard", headers={"Accept": "text/html"})  # a browser without a session: the form
        assert r.status_code == 303 and r.headers["location"] == "/dashboard/signin"
        r = sign_in(c, keys["acme-read"], server.url)
        assert r.status_code == 303 and r.headers["location"] == "/dashboard"
        cookie = r.headers["set-cookie"]
        assert keys["acme-read"] not in cookie and cookie.startswith(f"{COOKIE}=v1.acme-read.")
        lowered = cookie.lower()
        assert all(flag in lowered for flag in ("httponly", "samesite=strict", "path=/dashboard", "secure"))
        token = cookie.split(";", 1)[0].split("=", 1)[1]
    # Secure by default, so this http client would not send it back: send it as a browser on https would.
    with httpx.Client(base_url=server.url, headers={"Cookie": f"{COOKIE}={token}"}) as c:
        html = c.get("/dashboard").text
        assert "acme-1" in html and "globex" not in html and keys["acme-read"] not in html
        assert c.get("/dashboard/runs/globex-1").status_code == 404
        assert c.get("/v1/runs").status_code == 401  # the session is the dashboard's only


def test_sign_in_by_link_is_refused(serve, settings, keys) -> None:
    settings.api_keys_file = keys["path"]
    server = serve(settings)
    with server.client() as c:
        for path in ("/dashboard", "/dashboard/runs/acme-1"):
            r = c.get(path, params={"key": keys["acme-read"]})
            assert r.status_code == 400 and "set-cookie" not in r.headers
            assert "/dashboard/signin" in r.json()["error"]["message"]
        r = c.get("/dashboard/signin", params={"key": keys["acme-read"]})  # not even on the form's page
        assert r.status_code == 400 and "set-cookie" not in r.headers


def test_cross_site_sign_in_is_refused(serve, settings, keys) -> None:
    """A page elsewhere must not sign the victim into the attacker's tenant (login CSRF)."""
    settings.api_keys_file = keys["path"]
    server = serve(settings)
    with server.client() as c:
        for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                        {"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:3000"}, {}):
            r = c.post("/dashboard/signin", data={"key": keys["acme-read"]}, headers=headers)
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", (headers, r.text)
            assert "set-cookie" not in r.headers
        r = sign_in(c, "tlk_bogus", server.url)
        assert r.status_code == 401 and "set-cookie" not in r.headers
        r = sign_in(c, keys["acme-ingest"], server.url)
        assert r.status_code == 403
        r = sign_in(c, keys["acme-read"], server.url, next="https://evil.example/")  # no open redirect
        assert r.status_code == 303 and r.headers["location"] == "/dashboard"
        r = sign_in(c, keys["acme-read"], server.url, next="/dashboard/runs/acme-1")
        assert r.headers["location"] == "/dashboard/runs/acme-1"


def test_sessions_expire_are_unforgeable_and_end_with_their_key(serve, settings, keys) -> None:
    settings.api_keys_file = keys["path"]
    settings.api_cookie_secure = False  # plain http: the client keeps the cookie as a browser would
    server = serve(settings)
    with server.client() as c:
        r = sign_in(c, keys["acme-read"], server.url)
        assert r.status_code == 303 and "secure" not in r.headers["set-cookie"].lower()
        assert c.get("/dashboard").status_code == 200
        token = c.cookies[COOKIE]
    forged = [token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
              token.replace(".acme-read.", ".all-read."),
              re.sub(r"\.(\d+)\.", lambda m: f".{int(m.group(1)) + 3600}.", token, count=1),
              keys["acme-read"], "v1....", "v1.acme-read.99999999999.x"]
    for value in forged:
        with httpx.Client(base_url=server.url, cookies={COOKIE: value}) as c:
            r = c.get("/dashboard")
            assert r.status_code == 401 and "Max-Age=0" in r.headers["set-cookie"], value
    # The key leaves the keys file: its sessions end on the next request.
    text = keys["path"].read_text()
    entries = text.split("[[keys]]")
    kept = [e for e in entries if 'id = "acme-read"' not in e]
    keys["path"].write_text("[[keys]]".join(kept))
    stat = keys["path"].stat()
    os.utime(keys["path"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    with httpx.Client(base_url=server.url, cookies={COOKIE: token}) as c:
        assert c.get("/dashboard").status_code == 401


def test_a_session_token_expires() -> None:
    key = ApiKey(id="acme-read", tenant="acme", role="read", sha256="ab" * 32)

    class Store:
        def by_id(self, key_id: str) -> ApiKey | None:
            return key if key_id == key.id else None

    signer = SessionSigner("s" * 32, ttl_s=60)
    token = signer.issue(key, now=1_000_000)
    assert signer.verify(token, Store(), now=1_000_059) == key
    assert signer.verify(token, Store(), now=1_000_060) is None
    assert SessionSigner("t" * 32, ttl_s=60).verify(token, Store(), now=1_000_000) is None  # another secret
    rotated = ApiKey(id="acme-read", tenant="acme", role="read", sha256="cd" * 32)

    class Rotated:
        def by_id(self, key_id: str) -> ApiKey | None:
            return rotated

    assert signer.verify(token, Rotated(), now=1_000_000) is None  # same id, another key: not its session
    assert signer.verify(signer.issue(key), Store()) == key
