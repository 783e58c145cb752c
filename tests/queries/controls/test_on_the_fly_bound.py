"""A question never evaluates a large lake's controls on the fly (docs/controls.md "How results are kept").

Past :data:`~tracelake.queries.controls.results.ON_THE_FLY_MAX_BYTES` of events to evaluate (no
``control_results`` for the current controls, or one too far behind), reading ``control_results`` fails at once
with one line saying to run ``tracelake lake rollup``; every other view still answers, and after the rollup the
same question is answered. (DuckDB 1.5 could park the one big on-the-fly statement for good, deaf to the time
limit; these tests check the refusal, not the stall.)
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.queries.controls.helpers import T0, RunBuilder, write
from tracelake.cli.main import main
from tracelake.queries.controls import results
from tracelake.queries.controls.results import refresh_controls
from tracelake.queries.engine import QueryError, QueryUnavailable
from tracelake.queries.metrics import compute_metric

SINCE, UNTIL = T0 - timedelta(days=1), T0 + timedelta(days=1)


def _run(run_id: str, at_hours: float = 0.0) -> RunBuilder:
    run = RunBuilder(run_id, start=T0 + timedelta(hours=at_hours))
    run.start()
    run.mutate(key=f"k-{run_id}")
    run.finish()
    return run


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return write(tmp_path, _run("a"), _run("b", 1))


def _pass_rate(lake: Path) -> list[dict[str, object]]:
    return compute_metric(lake, "control_pass_rate", since=SINCE, until=UNTIL, group_by=["control_id"])


def test_without_the_table_a_large_lake_is_refused_in_one_line(lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _pass_rate(lake)  # small enough: evaluated on the fly
    monkeypatch.setattr(results, "ON_THE_FLY_MAX_BYTES", 100)
    with pytest.raises(QueryError) as refused:
        _pass_rate(lake)
    message = str(refused.value)
    # Not the caller's fault nor the server's bug: unavailable until the upkeep ran (503, exit 2), the view's line.
    assert isinstance(refused.value, QueryUnavailable) and refused.value.status == 503
    assert message.startswith("control_results is not built for the current controls")
    assert "run `tracelake lake rollup`" in message and len(message.splitlines()) == 1
    # Only control_results refuses: the other views answer on the same lake.
    assert compute_metric(lake, "success_rate", since=SINCE, until=UNTIL)[0]["runs"] == 2
    refresh_controls(lake)  # what `tracelake lake rollup` does for the controls
    rows = _pass_rate(lake)
    assert {r["control_id"] for r in rows} >= {"idempotency_key_present", "idempotency_single_success"}


def test_a_table_too_far_behind_is_refused_until_refreshed(lake: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    refresh_controls(lake)
    write(tmp_path, _run("c", 2))  # new events the table does not cover: the tail
    monkeypatch.setattr(results, "ON_THE_FLY_MAX_BYTES", 100)
    with pytest.raises(QueryError, match=r"control_results is .* of events behind the lake"):
        _pass_rate(lake)
    refresh_controls(lake)
    assert _pass_rate(lake)


def test_the_cli_says_it_in_one_line(lake: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(results, "ON_THE_FLY_MAX_BYTES", 100)
    code = main(["controls", "run", "--lake", str(lake), "--no-refresh", "--since", SINCE.isoformat(),
                 "--until", UNTIL.isoformat(), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "tracelake lake rollup" in lines[0], lines
