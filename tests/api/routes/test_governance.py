"""Governance routes: retention plan/apply and erase need an admin key for every tenant; they answer what the
CLI prints; the governance log lists what was done (never the identifier)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tests.governance.test_erase import EMAIL, KEY
from tests.governance.test_erase import build as build_erase_lake
from tests.governance.test_retention import POLICY
from tests.governance.test_retention import build as build_retention_lake
from tracelake.lake.lake import Lake


def test_retention_routes_need_a_whole_lake_admin(serve: Any, settings: Any, keys: dict[str, Any],
                                                  tmp_path: Path) -> None:
    build_retention_lake(Lake.at(settings.lake))
    policy = tmp_path / "retention.toml"
    policy.write_text(POLICY)
    settings.api_keys_file = keys["path"]
    settings.retention_policy_file = policy
    settings.retention_vacuum_grace_h = 0
    server = serve(settings)
    for name in ("acme-read", "acme-admin"):  # a read key, and an admin of one tenant only
        with server.client(keys[name]) as c:
            assert c.post("/v1/governance/retention/plan").status_code == 403
            assert c.post("/v1/governance/retention/apply").status_code == 403
            assert c.get("/v1/governance/log").status_code == 403
    with server.client(keys["all-admin"]) as c:
        plan = c.post("/v1/governance/retention/plan")
        assert plan.status_code == 200, plan.text
        assert plan.json()["expired_runs"] >= 3
        assert c.get("/v1/governance/log").json()["rows"] == []
        applied = c.post("/v1/governance/retention/apply", json={"grace_hours": 0})
        assert applied.status_code == 200, applied.text
        assert applied.json()["expired_runs"] == plan.json()["expired_runs"]
        rows = c.get("/v1/governance/log").json()["rows"]
        assert [r["action"] for r in rows] == ["retention"] and rows[0]["actor"].startswith("api:")
        assert c.post("/v1/governance/retention/apply", json={"grace_hours": -1}).status_code == 400


def test_erase_route(serve: Any, settings: Any, keys: dict[str, Any]) -> None:
    build_erase_lake(Lake.at(settings.lake))
    settings.api_keys_file = keys["path"]
    settings.pseudonym_key = KEY.decode()
    server = serve(settings)
    with server.client(keys["acme-admin"]) as c:
        assert c.post("/v1/governance/erase", json={"email": [EMAIL]}).status_code == 403
    with server.client(keys["all-admin"]) as c:
        dry = c.post("/v1/governance/erase", json={"email": [EMAIL], "dry_run": True})
        assert dry.status_code == 200, dry.text
        assert {r["run_id"] for r in dry.json()["runs"]} == {"r1", EMAIL}
        assert c.post("/v1/governance/erase", json={}).status_code == 400  # nobody named
        done = c.post("/v1/governance/erase", json={"email": [EMAIL], "vacuum": True})
        assert done.status_code == 200, done.text
        assert done.json()["totals"]["events"]["rows"] >= 3
        log = c.get("/v1/governance/log").json()["rows"]
        assert [r["action"] for r in log] == ["erase"]
        assert EMAIL.lower() not in orjson.dumps(log).decode().lower()


def test_verify_route_answers_clean_then_tampered_with_the_servers_key(serve: Any, settings: Any,
                                                                       keys: dict[str, Any], tmp_path: Path) -> None:
    from tests.governance.test_chain import event_files, rows
    from tracelake.governance.seal import seal_lake
    from tracelake.governance.signing import generate

    lake = Lake.at(settings.lake)
    lake.writer("events").write(rows(["a", "b"]), "b1")
    key = generate(tmp_path / "keys" / "chain.pem")
    sealed = seal_lake(lake, key)
    settings.api_keys_file = keys["path"]
    settings.chain_key_file = tmp_path / "keys" / "chain.pem"
    server = serve(settings)
    with server.client(keys["acme-admin"]) as c:
        assert c.get("/v1/governance/verify").status_code == 403  # one tenant's admin: not the whole lake
    with server.client(keys["all-admin"]) as c:
        clean = c.get("/v1/governance/verify")
        assert clean.status_code == 200, clean.text
        assert (clean.json()["status"], clean.json()["head"]) == ("clean", sealed.head)
        assert c.get("/v1/governance/verify", params={"expect_head": "0" * 64}).json()["status"] != "clean"
        (lake.table_dir("events") / event_files(lake)[0]).unlink()  # a dropped file
        tampered = c.get("/v1/governance/verify").json()
        assert tampered["status"] == "tampered"
        assert {f["kind"] for f in tampered["findings"]} >= {"missing"}
