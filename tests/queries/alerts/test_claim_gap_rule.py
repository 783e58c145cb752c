"""The shipped rule on the claimed-vs-confirmed gap (``success_claim_gap_rise``, metrics.md "Confirmed outcomes").

It compares windows that end two days before ``now`` (``settle``): the confirmations of their runs have had time
to arrive, so claims still pending in the last two days do not read as a gap. It judges no canary.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.queries.conftest import ev
from tracelake.queries.alerts.canary import compare
from tracelake.queries.alerts.evaluate import evaluate, evaluation_window, rule_windows
from tracelake.queries.alerts.rules import build_rules, load_rules
from tracelake.queries.timewin import Window

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _claims(prefix: str, start: datetime, count: int, *, reversed_: int, confirm: bool = True,
            version: str = "v1") -> list[dict[str, Any]]:
    """``count`` runs that claim success, one every 20 minutes from ``start``; the first ``reversed_`` are reversed
    by the payment processor six hours later, the others confirmed (none when not ``confirm``)."""
    out: list[dict[str, Any]] = []
    for i in range(count):
        run, at = f"{prefix}{i}", start + timedelta(minutes=20 * i)
        out += [ev("run_started", _stamp(at), run, "refund", version, tenant="acme", event_id=f"{run}-s"),
                ev("run_finished", _stamp(at + timedelta(seconds=30)), run, "refund", version, tenant="acme",
                   outcome="success", event_id=f"{run}-f")]
        if confirm:
            out.append(ev("outcome_confirmed", _stamp(at + timedelta(hours=6)), run, "refund", version, tenant="acme",
                          confirmation="reversed" if i < reversed_ else "confirmed", confirmation_source="payments",
                          event_id=f"{run}-c"))
    return out


def _rule() -> list[Any]:
    return [r for r in load_rules(None) if r.name == "success_claim_gap_rise"]


def test_the_rule_is_shipped_with_a_settle_time() -> None:
    (rule,) = _rule()
    assert (rule.metric, rule.test, rule.settle) == ("success_claim_gap", "proportion_rise", timedelta(hours=48))
    base, current = rule_windows(rule, NOW)
    assert current == Window(NOW - timedelta(hours=72), NOW - timedelta(hours=48))
    assert base == Window(NOW - timedelta(hours=72) - timedelta(days=7), NOW - timedelta(hours=72))
    assert evaluation_window([rule], NOW, timedelta(0)).since == NOW - timedelta(hours=72, days=7)


def test_fires_on_reversed_claims_not_on_pending_ones(make_lake: Any) -> None:
    settled = NOW - timedelta(hours=71)  # inside the current window, [now - 72 h, now - 48 h)
    events = (_claims("base", NOW - timedelta(days=6), 60, reversed_=1)
              + _claims("cur", settled, 60, reversed_=15)
              + _claims("new", NOW - timedelta(hours=20), 40, reversed_=0, confirm=False))  # pending: not judged
    lake = make_lake(events)
    fired = evaluate(lake, _rule(), NOW)
    assert [(a["rule"], a["group"]) for a in fired] == [("success_claim_gap_rise", {"workflow": "refund"})]
    assert fired[0]["window_end"] == NOW - timedelta(hours=48)


def test_pending_claims_alone_raise_nothing(make_lake: Any) -> None:
    lake = make_lake(_claims("base", NOW - timedelta(days=6), 60, reversed_=1)
                     + _claims("cur", NOW - timedelta(hours=71), 60, reversed_=1)
                     + _claims("new", NOW - timedelta(hours=20), 40, reversed_=0, confirm=False))
    assert evaluate(lake, _rule(), NOW) == []
    # Without the settle time, the same pending claims would read as a gap.
    unsettled = build_rules({"rules": {"success_claim_gap_rise": {"settle": "0s", "current_window": "24h"}}})
    assert [a["rule"] for a in evaluate(lake, [r for r in unsettled if r.name == "success_claim_gap_rise"], NOW)
            ] == ["success_claim_gap_rise"]


def test_a_rule_with_a_settle_time_judges_no_canary(make_lake: Any) -> None:
    lake = make_lake(_claims("b", NOW - timedelta(hours=20), 40, reversed_=0)
                     + _claims("c", NOW - timedelta(hours=20), 40, reversed_=30, version="v2"))
    result = compare(lake, _rule(), workflow="refund", baseline="v1", candidate="v2",
                     window=Window(NOW - timedelta(days=1), NOW))
    assert result["tests"] == [] and result["verdict"] == "promote"


@pytest.mark.parametrize("value", ["-1h", "soon", True, -5])
def test_a_bad_settle_is_one_line(value: Any) -> None:
    from tracelake.queries.alerts.rules import RulesError

    with pytest.raises(RulesError, match="settle"):
        build_rules({"rules": {"success_claim_gap_rise": {"settle": value}}})
