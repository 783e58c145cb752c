"""GET /v1/controls, /v1/controls/failures, /v1/runs/{id}/controls answer what the controls' functions answer,
tenant-scoped, errors as api.md says."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson

from tests.queries.controls.helpers import RunBuilder
from tracelake.queries.controls.library import load_library
from tracelake.queries.metrics import compute_metric
from tracelake.queries.timewin import parse_time

SINCE, UNTIL = "2026-11-24T00:00:00Z", "2026-11-25T00:00:00Z"


def _events() -> list[dict[str, Any]]:
    bad = RunBuilder("self-approved", tenant="acme")
    bad.start()
    bad.gate("yellow")
    bad.approve("executor")
    bad.mutate()
    bad.finish()
    good = RunBuilder("clean", tenant="globex")
    good.start()
    good.gate("yellow")
    good.approve("team-lead")
    good.mutate()
    good.finish()
    return bad.events + good.events


def test_controls_pass_rates_failures_and_one_run(serve, settings, write_lake, keys) -> None:
    write_lake(settings.lake, _events())
    settings.api_keys_file = keys["path"]
    server = serve(settings)
    with server.client(keys["all-read"]) as c:
        r = c.get("/v1/controls", params={"since": SINCE, "until": UNTIL})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [row["id"] for row in body["controls"]] == list(load_library().ids)
        expected = compute_metric(settings.lake, "control_pass_rate", since=parse_time(SINCE),
                                  until=parse_time(UNTIL), run_horizon=timedelta(hours=24))
        assert body["pass_rates"] == orjson.loads(orjson.dumps(expected, option=orjson.OPT_UTC_Z))
        sod = next(row for row in body["pass_rates"] if row["control_id"] == "separation_of_duties")
        assert (sod["applicable"], sod["passed"], sod["failed"]) == (2, 1, 1)
        r = c.get("/v1/controls/failures", params={"since": SINCE, "until": UNTIL})
        assert [(row["run_id"], row["control_id"]) for row in r.json()["rows"]] == [
            ("self-approved", "separation_of_duties")]
        r = c.get("/v1/runs/self-approved/controls")
        verdicts = {row["control_id"]: row["verdict"] for row in r.json()["controls"]}
        assert verdicts["separation_of_duties"] == "fail" and verdicts["red_tier_human"] == "not_applicable"
        for params in ({"where": "colour=red"}, {"group_by": "kafka_offset"}, {"since": "yesterday"},
                       {"since": UNTIL, "until": SINCE}):
            r = c.get("/v1/controls", params=params)
            assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request", (params, r.text)
        assert c.get("/v1/runs/nope/controls").status_code == 404
        # The run timeline and the evidence bundle carry the same verdicts.
        timeline = c.get("/v1/runs/self-approved").json()
        assert {v["control_id"]: v["verdict"] for v in timeline["controls"]} == verdicts
        bundle = c.get("/v1/runs/self-approved/evidence").json()
        assert bundle["body"]["controls"] == timeline["controls"]
    with server.client(keys["globex-read"]) as c:
        rows = c.get("/v1/controls", params={"group_by": "control_id,tenant"}).json()["pass_rates"]
        assert {row["tenant"] for row in rows} == {"globex"}
        assert c.get("/v1/controls/failures").json()["rows"] == []
        assert c.get("/v1/runs/self-approved/controls").status_code == 404  # another tenant's run
        assert c.get("/v1/controls", params={"where": "tenant=acme"}).status_code == 403


def test_daily_budgets_route(serve, settings, write_lake, tmp_path) -> None:
    write_lake(settings.lake, _events())  # mutations carry no cost: add one that does
    spender = RunBuilder("spender", tenant="acme")
    spender.start()
    spender.add("llm_call", model="m", cost_usd=3.0)
    spender.finish()
    write_lake(settings.lake, spender.events)
    config = tmp_path / "controls.toml"
    config.write_text("[budgets.daily_usd_by_workflow]\nrefund = 2\n")
    settings.controls_config_file = config
    server = serve(settings)
    try:
        with server.client() as c:
            r = c.get("/v1/controls/budgets", params={"since": SINCE, "until": UNTIL})
            assert r.status_code == 200, r.text
            assert [(row["name"], row["spend_usd"], row["over_budget"]) for row in r.json()["rows"]] == [
                ("refund", 3.0, True)]
            assert c.get("/v1/controls/budgets", params={"since": UNTIL, "until": SINCE}).status_code == 400
    finally:
        from tracelake.queries.controls.library import use_library

        use_library(None)  # the app set the process's library from its settings
