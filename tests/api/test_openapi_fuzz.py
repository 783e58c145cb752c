"""Schemathesis over the served OpenAPI document: whatever it sends, no 500, and every error is the JSON shape.

Bounded: a few examples per operation (the whole file runs in seconds).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error


@pytest.fixture
def api_schema(serve, settings: Any, memory_producer, write_lake, agent_run) -> Any:
    settings_ = settings
    write_lake(settings_.lake, agent_run("r1", "acme") + agent_run("r2", "globex", outcome="failure", minute=3))
    settings_.sql_timeout_s = 2.0
    server = serve(settings_, producer=memory_producer)
    loaded = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    loaded.config.update(base_url=server.url)
    return loaded


STATUSES: list[int] = []


def error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx is {"error": {"code", "message"}}, never HTML or a traceback."""
    STATUSES.append(response.status_code)
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str), body
        assert "Traceback" not in response.text
    return None


def test_no_server_errors(api_schema: Any) -> None:
    # Hypothesis directly over each operation's strategy (schemathesis' pytest plugin does not
    # load under this pytest); the same generation, a fixed small budget per operation.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.generate], database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(checks=[not_a_server_error, error_shape])

        check()
    # The fuzzing really ran: many requests, both accepted and refused ones.
    assert len(STATUSES) >= 5 * len(operations)
    assert any(s < 300 for s in STATUSES) and any(400 <= s < 500 for s in STATUSES)
    assert 500 not in STATUSES
