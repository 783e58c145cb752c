"""Alert jobs and canary verdicts on one connection: the job opens one, a caller's is used as it is, same answers."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.queries.conftest import ingest
from tests.queries.test_alerts import NOW, drift_events
from tests.queries.test_canary import WINDOW, canary_events
from tracelake.queries import engine
from tracelake.queries.alerts.canary import compare
from tracelake.queries.alerts.evaluate import evaluate, evaluation_window
from tracelake.queries.alerts.rules import load_rules
from tracelake.queries.alerts.runner import run_once
from tracelake.queries.alerts.scope import ConnectionScopeError
from tracelake.queries.engine import open_lake
from tracelake.queries.timewin import Window


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[engine.LakeConnection]:
    """Every LakeConnection constructed while the test runs."""
    seen: list[engine.LakeConnection] = []
    original = engine.LakeConnection.__init__

    def counting(con: engine.LakeConnection, *args: Any, **kwargs: Any) -> None:
        seen.append(con)
        original(con, *args, **kwargs)

    monkeypatch.setattr(engine.LakeConnection, "__init__", counting)
    return seen


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name, events in (("drift", drift_events()), ("canary", canary_events())):
        tmp = tmp_path_factory.mktemp(name)
        assert ingest(tmp / "lake", [orjson.dumps(e) for e in events], tmp).rejected == 0
        out[name] = tmp / "lake"
    return out


def ids(alerts: list[dict[str, Any]]) -> list[str]:
    return sorted(a["alert_id"] for a in alerts)


def test_an_alert_job_opens_one_connection(lakes: dict[str, Path], tmp_path: Path,
                                           opened: list[engine.LakeConnection]) -> None:
    rules = load_rules(None)
    expected = evaluate(lakes["drift"], rules, NOW)  # on its own connection
    lake = tmp_path / "lake"
    shutil.copytree(lakes["drift"], lake)
    del opened[:]
    first = run_once(lake, rules, NOW)
    assert len(opened) == 1 and opened[0].window == evaluation_window(rules, NOW, timedelta(hours=24))
    assert opened[0].tenant is None
    assert ids(first.alerts) == ids(expected) and first.raised == len(expected) == 3
    again = run_once(lake, rules, NOW)  # the store saw the first run's alerts through the job's connection
    assert again.alerts == [] and again.raised == 3 and len(opened) == 2
    assert run_once(lake, [], NOW).raised == 0 and len(opened) == 2  # no rules: nothing opened


def test_a_callers_connection_is_used_and_left_open(lakes: dict[str, Path], tmp_path: Path,
                                                    opened: list[engine.LakeConnection]) -> None:
    rules = load_rules(None)
    lake = tmp_path / "lake"
    shutil.copytree(lakes["drift"], lake)
    with open_lake(lake) as con:
        report = run_once(lake, rules, NOW, con=con)
        assert ids(report.alerts) == ids(evaluate(lake, rules, NOW, con=con)) and len(report.alerts) == 3
        assert con.query("SELECT 1", name="still open").rows == [(1,)]
    assert len(opened) == 1


def test_a_canary_on_a_shared_connection_equals_its_own(lakes: dict[str, Path],
                                                        opened: list[engine.LakeConnection]) -> None:
    rules, lake = load_rules(None), lakes["canary"]
    alone = {c: compare(lake, rules, workflow="refund", baseline="v1", candidate=c, window=WINDOW)
             for c in ("v2", "v3", "v4", "v5")}
    assert len(opened) == 4
    with open_lake(lake, window=WINDOW.widened(timedelta(days=3))) as con:
        shared = {c: compare(lake, rules, workflow="refund", baseline="v1", candidate=c, window=WINDOW, con=con)
                  for c in ("v2", "v3", "v4", "v5")}
    assert len(opened) == 5
    assert shared == alone
    assert [shared[c]["verdict"] for c in ("v2", "v3", "v4", "v5")] == ["rollback", "promote", "hold", "rollback"]


def test_a_connection_that_cannot_answer_is_refused(lakes: dict[str, Path]) -> None:
    rules, lake = load_rules(None), lakes["canary"]
    with open_lake(lake, window=WINDOW) as narrow, pytest.raises(ConnectionScopeError, match="needs"):
        compare(lake, rules, workflow="refund", baseline="v1", candidate="v2", window=WINDOW, con=narrow)
    with open_lake(lake, tenant="acme") as scoped, pytest.raises(ConnectionScopeError, match="tenant"):
        compare(lake, rules, workflow="refund", baseline="v1", candidate="v2", window=WINDOW, con=scoped)
    with open_lake(lake, window=Window(NOW - timedelta(days=1), NOW)) as short, \
            pytest.raises(ConnectionScopeError):
        run_once(lake, rules, NOW, con=short)
