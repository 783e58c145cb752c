"""Keys on the wire: 401 without or with an unknown key, 403 outside the role, local mode."""

from __future__ import annotations

import os

import orjson

from tracelake.api.keys import create_key


def test_keys_roles_and_error_shapes(serve, settings, keys, memory_producer, event) -> None:
    settings.api_keys_file = keys["path"]
    server = serve(settings, producer=memory_producer)
    body = orjson.dumps([event("e1")])
    with server.client() as anon:
        r = anon.post("/v1/events", content=body)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized" and "Authorization: Bearer" in r.json()["error"]["message"]
        r = anon.post("/v1/events", content=body, headers={"Authorization": "Bearer tlk_nope"})
        assert (r.status_code, r.json()) == (401, {"error": {"code": "unauthorized", "message": "unknown API key"}})
        # Ops endpoints need no key.
        assert anon.get("/healthz").status_code == 200 and anon.get("/metrics").status_code == 200
    with server.client(keys["acme-read"]) as reader:
        r = reader.post("/v1/events", content=body)
        assert r.status_code == 403
        message = "key acme-read (role read) may not ingest events"
        assert r.json() == {"error": {"code": "forbidden", "message": message}}
    with server.client() as c:
        r = c.post("/v1/events", content=body, headers={"X-API-Key": keys["acme-ingest"]})
        assert r.status_code == 202 and r.json() == {"accepted": 1, "event_ids": ["e1"]}


def test_keys_file_is_reloaded_when_it_changes(serve, settings, keys, memory_producer, event) -> None:
    settings.api_keys_file = keys["path"]
    server = serve(settings, producer=memory_producer)
    key, _ = create_key(keys["path"], "initech", "ingest")
    stat = keys["path"].stat()  # same-second writes: make the change visible to the mtime check
    os.utime(keys["path"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    with server.client(key) as c:
        r = c.post("/v1/events", content=orjson.dumps([event("e1")]))
        assert r.status_code == 202
    assert orjson.loads(memory_producer.transport.delivered[-1].value)["tenant"] == "initech" if \
        memory_producer.flush(10) else False


def test_local_mode_serves_without_a_key(serve, settings, memory_producer, event) -> None:
    server = serve(settings, producer=memory_producer)
    with server.client() as c:
        r = c.post("/v1/events", content=orjson.dumps([event("e1", tenant="globex")]),
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 202
