"""The one HTTP mapping of the error hierarchy (api/errors.py): status, code, shape, headers; bugs are a bare 500."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tracelake import errors
from tracelake.api import errors as api_errors
from tracelake.api.ingest import BadBody
from tracelake.localkafka import LocalKafkaError
from tracelake.queries.alerts.schedule import CronError
from tracelake.queries.engine import QueryError, QueryTimeout
from tracelake.queries.metrics import MetricArgumentError
from tracelake.queries.sandbox import SqlRefused
from tracelake.sdk.spool import SpoolLocked
from tracelake.transforms.redact import RedactorUnavailable

# (an instance, its status, its code): the hierarchy's classes and the stages' own subclasses.
CASES: list[tuple[errors.TracelakeError, int, str]] = [
    (errors.TracelakeError("m"), 400, "bad_request"),
    (errors.UserError("m"), 400, "bad_request"),
    (errors.ConfigError("m"), 400, "bad_request"),
    (errors.Unauthorized("m"), 401, "unauthorized"),
    (errors.Forbidden("m"), 403, "forbidden"),
    (errors.NotFound("m"), 404, "not_found"),
    (errors.TooLarge("m"), 413, "too_large"),
    (errors.Refused("m"), 422, "invalid"),
    (errors.Busy("m"), 429, "busy"),
    (errors.Unavailable("m"), 503, "unavailable"),
    (errors.TimedOut("m"), 504, "timeout"),
    (QueryError("m"), 400, "bad_request"),
    (QueryTimeout("q", 1.5), 504, "timeout"),
    (SqlRefused("m"), 422, "invalid"),
    (MetricArgumentError("m"), 400, "bad_request"),
    (CronError("m"), 400, "bad_request"),
    (BadBody("m"), 400, "bad_request"),
    (LocalKafkaError("m"), 503, "unavailable"),
    (RedactorUnavailable("m"), 503, "unavailable"),
    (SpoolLocked("m"), 503, "unavailable"),
]


def app_raising(exc: BaseException) -> TestClient:
    app = FastAPI()
    api_errors.install(app)

    @app.get("/boom")
    def boom() -> None:
        raise exc

    @app.get("/typed")
    def typed(n: int) -> dict[str, int]:
        return {"n": n}

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(("exc", "status", "code"), CASES, ids=[type(c[0]).__name__ for c in CASES])
def test_each_class_answers_its_status_code_and_shape(exc: errors.TracelakeError, status: int, code: str) -> None:
    r = app_raising(exc).get("/boom")
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"error": {"code": code, "message": str(exc)}}


def test_extra_joins_the_error_object_and_headers_are_sent() -> None:
    exc = errors.Busy("full; retry later", extra={"errors": [{"index": 0, "reason": "r"}]},
                      headers={"Retry-After": "5"})
    r = app_raising(exc).get("/boom")
    assert r.status_code == 429 and r.headers["retry-after"] == "5"
    assert r.json() == {"error": {"code": "busy", "message": "full; retry later",
                                  "errors": [{"index": 0, "reason": "r"}]}}
    r = app_raising(errors.Unauthorized("no key", headers={"WWW-Authenticate": "Bearer"})).get("/boom")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_a_bug_is_a_logged_500_without_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="tracelake.api"):
        r = app_raising(KeyError("secret-detail")).get("/boom")
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal", "message": api_errors.INTERNAL_MESSAGE}}
    assert "secret-detail" not in r.text and "Traceback" not in r.text
    assert any(record.exc_info for record in caplog.records)  # the traceback is in the log


def test_framework_errors_keep_the_shape() -> None:
    client = app_raising(errors.UserError("unused"))
    r = client.get("/typed", params={"n": "x"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    assert r.json()["error"]["message"].startswith("n: ")
    r = client.get("/nowhere")
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "not_found", "message": "no such route: GET /nowhere"}}
    r = client.post("/boom")
    assert r.status_code == 405
    assert r.json() == {"error": {"code": "method_not_allowed", "message": "POST is not allowed on /boom"}}


@pytest.mark.parametrize(("user_sql", "status", "code"), [(True, 400, "bad_request"), (False, 500, "internal")])
def test_a_failing_query_is_the_callers_only_when_the_sql_is(user_sql: bool, status: int, code: str) -> None:
    from tracelake.api.lake import query_errors

    app = FastAPI()
    api_errors.install(app)

    @app.get("/q")
    def q() -> None:
        with query_errors(user_sql=user_sql):
            raise QueryError("Binder Error: no column x")

    r = TestClient(app, raise_server_exceptions=False).get("/q")
    assert r.status_code == status and r.json()["error"]["code"] == code
    if user_sql:
        assert r.json()["error"]["message"] == "the statement failed: Binder Error: no column x"
