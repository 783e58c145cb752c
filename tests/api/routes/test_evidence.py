"""GET /v1/runs/{run_id}/evidence: the signed bundle, checked offline; tenant scope as on /v1/runs/{run_id}."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tracelake.governance.evidence import check_bundle
from tracelake.governance.seal import seal_lake
from tracelake.governance.signing import generate
from tracelake.lake.lake import Lake
from tracelake.settings import Settings


def test_evidence_is_signed_redacted_and_tenant_scoped(serve: Any, settings: Settings, keys: dict[str, Any],
                                                       write_lake: Any, agent_run: Any, tmp_path: Path) -> None:
    key = generate(tmp_path / "keys" / "chain.pem")
    write_lake(settings.lake, agent_run("r1", "acme") + agent_run("r2", "globex", minute=1))
    seal_lake(Lake.at(settings.lake), key)
    settings.api_keys_file = keys["path"]
    settings.chain_key_file = tmp_path / "keys" / "chain.pem"
    server = serve(settings)
    with server.client(keys["acme-read"]) as c:
        r = c.get("/v1/runs/r1/evidence")
        assert r.status_code == 200, r.text
        bundle = r.json()
        assert bundle["key_id"] == key.key_id and bundle["body"]["run_id"] == "r1"
        assert "dana@example.org" not in r.text  # the lake's redacted timeline, nothing else
        assert [f["seq"] is not None for f in bundle["body"]["files"]] == [True]
        assert check_bundle(bundle, key.public).status == "valid"
        timeline = c.get("/v1/runs/r1").json()
        assert bundle["body"]["events"] == timeline["events"]
        for missing in ("r2", "nope"):  # another tenant's run: exactly like no run
            r = c.get(f"/v1/runs/{missing}/evidence")
            assert r.status_code == 404 and r.json() == {
                "error": {"code": "not_found", "message": f"no run {missing!r}"}}
    with server.client() as c:
        assert c.get("/v1/runs/r1/evidence").status_code == 401
    with server.client(keys["acme-ingest"]) as c:
        assert c.get("/v1/runs/r1/evidence").status_code == 403
    with server.client(keys["all-read"]) as c:
        assert c.get("/v1/runs/r2/evidence").json()["body"]["tenant"] == "globex"
