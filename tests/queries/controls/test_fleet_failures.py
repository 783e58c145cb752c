"""The demo fleet's simulated control failures show in control_results (docs/controls.md, "The demo").

The fleet (tracelake.fleet) injects, at low rates, an agent approving its own yellow-tier action, a red-tier
action going ahead without a human, and a refund issued twice under one key (in one run, or in two runs: the
later run is the one that fails, its evidence names the other run's refund); every other run passes the
controls that apply to it (the approval-wait SLO and fail-closed aside: those fail by the fleet's own timing).
"""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.fleet.test_fleet import simulate
from tests.queries.conftest import ingest
from tracelake.queries.engine import open_lake


def test_the_fleet_fails_the_controls_it_should(tmp_path: Path) -> None:
    _, events = simulate(tmp_path, 1500, seed=3)
    ingest(tmp_path / "lake", [orjson.dumps(e) for e in events], tmp_path)
    with open_lake(tmp_path / "lake") as con:
        rows = con.query("SELECT control_id, count(*) FILTER (WHERE verdict = 'pass') AS passed, "
                         "count(*) FILTER (WHERE verdict = 'fail') AS failed FROM control_results "
                         "GROUP BY control_id", name="fleet controls").dicts()
    got = {r["control_id"]: (r["passed"], r["failed"]) for r in rows}
    for control in ("separation_of_duties", "red_tier_human", "idempotency_single_success"):
        assert got[control][1] > 0, (control, got[control])
    assert got["separation_of_duties"][0] > 20 * got["separation_of_duties"][1]  # a low rate
    assert got["idempotency_single_success"][0] > 20 * got["idempotency_single_success"][1]
    assert got["idempotency_key_present"][1] == 0  # every mutation carries its key
    assert got["retry_chain_single_success"] == (0, 0)  # the fleet sends no retry_of
    # At least one double refund spans two runs: the failing run's evidence holds another run's refund.
    with open_lake(tmp_path / "lake") as con:
        across = con.query(
            "SELECT count(DISTINCT c.run_id) FROM control_results c, unnest(CAST(c.evidence AS VARCHAR[])) AS u(id) "
            "JOIN events e ON e.event_id = u.id "
            "WHERE c.control_id = 'idempotency_single_success' AND c.verdict = 'fail' AND e.run_id <> c.run_id",
            name="across runs").rows
    assert across[0][0] > 0
