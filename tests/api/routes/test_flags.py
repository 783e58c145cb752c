"""``/v1/flags``: agents (ingest keys) read their tenant's flags; admins set them, audited; the SDK follows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import ApiServer
from tracelake.sdk import Client, FlagReader, HttpFlagSource, RunRefused
from tracelake.sdk.transport import MemoryTransport
from tracelake.settings import Settings


@pytest.fixture
def server(settings: Settings, keys: dict[str, Any], serve: Callable[..., ApiServer],
           memory_producer: Any) -> ApiServer:
    return serve(settings.model_copy(update={"api_keys_file": keys["path"]}), producer=memory_producer)


def set_flag(server: ApiServer, key: str, **body: Any) -> Any:
    with server.client(key) as http:
        return http.post("/v1/flags", json=body)


def test_an_unset_workflow_is_allowed(server: ApiServer, keys: dict[str, Any]) -> None:
    with server.client(keys["acme-ingest"]) as http:
        answer = http.get("/v1/flags", params={"workflow": "refund"})
    assert answer.status_code == 200
    assert answer.json()["tenant"] == "acme"
    assert answer.json()["flags"][0] | {"changed_at": None} == {
        "tenant": "acme", "workflow": "refund", "action": "allow", "rate": None, "version": None, "reason": None,
        "who": None, "changed_at": None}


def test_admin_sets_agents_read_other_tenants_do_not_see(server: ApiServer, keys: dict[str, Any]) -> None:
    answer = set_flag(server, keys["acme-admin"], workflow="refund", action="pin_version", version="v3",
                      reason="canary v4 fails")
    assert answer.status_code == 200, answer.text
    change = answer.json()
    assert change["who"] == "key:acme-admin" and change["previous"] == {"action": "allow", "rate": None,
                                                                        "version": None}
    with server.client(keys["acme-ingest"]) as http:
        flags = http.get("/v1/flags").json()["flags"]
    assert [(f["workflow"], f["action"], f["version"]) for f in flags] == [("refund", "pin_version", "v3")]
    with server.client(keys["globex-ingest"]) as http:
        assert http.get("/v1/flags").json() == {"tenant": "globex", "flags": []}
        assert http.get("/v1/flags", params={"tenant": "acme"}).status_code == 403
    with server.client(keys["all-admin"]) as http:
        assert http.get("/v1/flags", params={"tenant": "acme"}).json()["flags"][0]["version"] == "v3"


def test_setting_needs_admin_and_a_valid_flag(server: ApiServer, keys: dict[str, Any]) -> None:
    assert set_flag(server, keys["acme-ingest"], workflow="refund", action="pause", reason="x").status_code == 403
    assert set_flag(server, keys["acme-read"], workflow="refund", action="pause", reason="x").status_code == 403
    bad = set_flag(server, keys["acme-admin"], workflow="refund", action="throttle", rate=1.5, reason="x")
    assert bad.status_code == 400 and "rate" in bad.json()["error"]["message"]
    assert set_flag(server, keys["acme-admin"], workflow="refund", action="stop", reason="x").status_code == 400
    with server.client() as http:
        assert http.get("/v1/flags").status_code == 401


def test_history_says_who_when_old_and_new(server: ApiServer, keys: dict[str, Any]) -> None:
    set_flag(server, keys["acme-admin"], workflow="refund", action="throttle", rate=0.5, reason="slow down")
    set_flag(server, keys["acme-admin"], workflow="refund", action="pause", reason="stop it")
    with server.client(keys["acme-read"]) as http:
        changes = http.get("/v1/flags/history", params={"workflow": "refund"}).json()["changes"]
    assert [(c["previous"]["action"], c["action"], c["reason"]) for c in changes] == [
        ("allow", "throttle", "slow down"), ("throttle", "pause", "stop it")]
    assert all(c["who"] == "key:acme-admin" and c["changed_at"] for c in changes)
    with server.client(keys["acme-ingest"]) as http:
        assert http.get("/v1/flags/history").status_code == 403


def test_the_sdk_follows_the_flag_within_one_refresh(server: ApiServer, keys: dict[str, Any], tmp_path: Path) -> None:
    reader = FlagReader(HttpFlagSource(server.url, keys["acme-ingest"]), ttl_s=3600)
    client = Client(transport=MemoryTransport(), spool_dir=str(tmp_path / "spool"), tenant="acme", flags=reader)
    try:
        assert reader.refresh()
        with client.run("refund", "v4", guard=True) as run:
            assert run.workflow_version == "v4"
        set_flag(server, keys["acme-admin"], workflow="refund", action="pin_version", version="v3", reason="rb")
        with client.run("refund", "v4", guard=True) as run:
            assert run.workflow_version == "v4"  # not refreshed yet: the last answer holds
        assert reader.refresh()
        with client.run("refund", "v4", guard=True) as run:
            assert run.workflow_version == "v3"
        set_flag(server, keys["acme-admin"], workflow="refund", action="pause", reason="incident")
        assert reader.refresh()
        with pytest.raises(RunRefused, match="pause"), client.run("refund", "v4", guard=True):
            pass
        assert client.guarded(lambda run: "ran", "refund", "v4", fallback=lambda flag: f"fallback:{flag.action}") \
            == "fallback:pause"
    finally:
        client.close(timeout=1)


def test_a_rollback_verdict_through_the_api_pins_the_keys_tenant(
        settings: Settings, keys: dict[str, Any], serve: Callable[..., ApiServer], memory_producer: Any,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """POST /v1/alerts/compare applies the rules file's [flags] canary_rollback for a tenant-scoped key."""
    import tracelake.api.routes.alerts as route

    def rollback(*_args: Any, **kwargs: Any) -> dict[str, Any]:
        return {"workflow": kwargs["workflow"], "baseline": kwargs["baseline"], "candidate": kwargs["candidate"],
                "by": "workflow_version", "verdict": "rollback",
                "tests": [{"rule": "success_rate_drop", "status": "fired"}]}

    monkeypatch.setattr(route, "compare", rollback)
    rules = tmp_path / "rules.toml"
    rules.write_text('[flags]\ncanary_rollback = "pin_version"\n')
    server = serve(settings.model_copy(update={"api_keys_file": keys["path"], "alerts_rules_file": rules}),
                   producer=memory_producer)
    body = {"workflow": "refund", "baseline": "v3", "candidate": "v4"}
    with server.client(keys["acme-admin"]) as http:
        answer = http.post("/v1/alerts/compare", json=body).json()
        assert answer["flag_change"]["action"] == "pin_version" and answer["flag_change"]["who"] == "alert:canary"
        assert "flag_change" not in http.post("/v1/alerts/compare", json=body).json()  # already pinned
        assert http.get("/v1/flags", params={"workflow": "refund"}).json()["flags"][0]["version"] == "v3"
    with server.client(keys["all-admin"]) as http:  # an all-tenant comparison names no tenant: no flag
        assert "flag_change" not in http.post("/v1/alerts/compare", json=body).json()
        assert http.get("/v1/flags", params={"tenant": "default"}).json()["flags"] == []
