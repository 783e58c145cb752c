"""Local mode in a browser's reach: Host checked (DNS rebinding), no cross-site simple request accepted.

A web page can make a browser send a "simple" request (``text/plain``, a form
type or no Content-Type, no custom header) to ``http://127.0.0.1:8000`` without
a CORS preflight, and a rebinding DNS name can make it read the answers. These
tests send what such a page would make the browser send, against a real server.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

JSON = {"Content-Type": "application/json"}


def events_body(event: Any, event_id: str = "e1") -> bytes:
    return orjson.dumps([event(event_id)])


def test_local_mode_refuses_a_foreign_host(serve, settings, memory_producer) -> None:
    server = serve(settings, producer=memory_producer)
    with server.client() as c:
        for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", "localhost.", ""):
            r = c.get("/v1/runs", headers={"Host": host})
            assert r.status_code == 403, (host, r.text)
            assert r.json()["error"]["code"] == "forbidden" and "Host" in r.json()["error"]["message"]
        r = c.get("/dashboard", headers={"Host": "rebind.evil.example:8000"})
        assert r.status_code == 403 and r.headers["content-type"] == "application/json"
        for host in ("localhost", "LOCALHOST:8000", "127.0.0.1", f"127.0.0.1:{server.port}", "[::1]", "[::1]:9"):
            r = c.get("/v1/runs", headers={"Host": host})
            assert r.status_code == 200, (host, r.text)
        # A probe addressing the process by any name still learns it is up, and nothing else.
        assert c.get("/healthz", headers={"Host": "10.0.0.7:8000"}).status_code == 200


def test_allowed_hosts_setting_behind_a_proxy(serve, settings, keys, memory_producer) -> None:
    settings.api_allowed_hosts = ["tracelake.internal", "Traces.Example.com"]
    local = serve(settings, producer=memory_producer)
    with local.client() as c:
        assert c.get("/v1/runs", headers={"Host": "tracelake.internal:8443"}).status_code == 200
        assert c.get("/v1/runs", headers={"Host": "traces.example.com"}).status_code == 200
        assert c.get("/v1/runs", headers={"Host": "other.example.com"}).status_code == 403
    settings.api_keys_file = keys["path"]
    keyed = serve(settings, producer=memory_producer)
    with keyed.client(keys["acme-read"]) as c:  # with keys, a configured list is enforced too
        assert c.get("/v1/runs", headers={"Host": "traces.example.com"}).status_code == 200
        assert c.get("/v1/runs", headers={"Host": "other.example.com"}).status_code == 403
    settings.api_allowed_hosts = []
    open_ = serve(settings, producer=memory_producer)
    with open_.client(keys["acme-read"]) as c:  # with keys and no list: the key is the guard, any name
        assert c.get("/v1/runs", headers={"Host": "10.0.0.7:8000"}).status_code == 200


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "text/plain; charset=utf-8"])
def test_local_mode_refuses_simple_request_types(serve, settings, memory_producer, event, content_type) -> None:
    server = serve(settings, producer=memory_producer)
    headers = {"Content-Type": content_type} if content_type else {}
    with server.client() as c:
        r = c.post("/v1/events", content=events_body(event), headers=headers)
        assert r.status_code == 400 and "Content-Type" in r.json()["error"]["message"], r.text
        r = c.post("/v1/sql", content=b'{"sql": "SELECT 1 AS one"}', headers=headers)
        assert r.status_code == 400 and "Content-Type" in r.json()["error"]["message"], r.text
        r = c.post("/v1/alerts/compare", content=b'{"workflow": "w", "baseline": "a", "candidate": "b"}',
                   headers=headers)
        assert r.status_code == 400 and "Content-Type" in r.json()["error"]["message"], r.text
    assert memory_producer.flush(10) and memory_producer.transport.delivered == []


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "application/vnd.api+json", "APPLICATION/JSON"])
def test_json_types_are_accepted(serve, settings, memory_producer, event, content_type) -> None:
    server = serve(settings, producer=memory_producer)
    with server.client() as c:
        r = c.post("/v1/events", content=events_body(event), headers={"Content-Type": content_type})
        assert r.status_code == 202, r.text
        r = c.post("/v1/sql", content=b'{"sql": "SELECT 1 AS one"}', headers={"Content-Type": content_type})
        assert r.status_code == 200 and r.json()["rows"] == [{"one": 1}]
        r = c.post("/v1/events", content=orjson.dumps(event("n1")), headers={"Content-Type": "application/x-ndjson"})
        assert r.status_code == 202, r.text


def test_curl_d_works_with_a_key_header(serve, settings, keys, memory_producer, event) -> None:
    """``curl -d`` sends a form type: fine with ``Authorization`` (no page can add it without a preflight)."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    settings.api_keys_file = keys["path"]
    server = serve(settings, producer=memory_producer)
    with server.client(keys["acme-admin"]) as c:
        assert c.post("/v1/events", content=events_body(event), headers=form).status_code == 202
        r = c.post("/v1/sql", content=b'{"sql": "SELECT 1 AS one"}', headers=form)
        assert r.status_code == 200 and r.json()["rows"] == [{"one": 1}]
    local = serve(settings.model_copy(update={"api_keys_file": None}), producer=memory_producer)
    with local.client() as c:  # local mode: any key header is the proof (it forces a preflight in a browser)
        r = c.post("/v1/sql", content=b'{"sql": "SELECT 1 AS one"}', headers={**form, "X-API-Key": "x"})
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://localhost:3000"},  # another local app: same site, another origin
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Authorization": "Bearer x"},
])
def test_cross_origin_state_changes_are_refused(serve, settings, memory_producer, event, headers) -> None:
    server = serve(settings, producer=memory_producer)
    with server.client() as c:
        r = c.post("/v1/events", content=events_body(event), headers={**JSON, **headers})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
        r = c.post("/v1/otlp/v1/traces", content=b"{}", headers={**JSON, **headers})
        assert r.status_code == 403, r.text
    assert memory_producer.flush(10) and memory_producer.transport.delivered == []


def test_same_origin_and_non_browser_clients_pass(serve, settings, memory_producer, event) -> None:
    server = serve(settings, producer=memory_producer)
    with server.client() as c:
        for extra in ({}, {"Origin": server.url}, {"Sec-Fetch-Site": "same-origin", "Origin": server.url},
                      {"Sec-Fetch-Site": "none"}):
            r = c.post("/v1/events", content=events_body(event, f"e{len(extra)}"), headers={**JSON, **extra})
            assert r.status_code == 202, (extra, r.text)
        # Reads are not state changes: a cross-site GET cannot read the answer (no CORS), so it is not refused here.
        assert c.get("/v1/runs", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200
