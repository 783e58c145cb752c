"""Evidence bundles: what one run's bundle holds, and the offline check catching every change to it."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tracelake.governance.evidence import build_bundle, check_bundle
from tracelake.governance.seal import seal_lake
from tracelake.governance.signing import SigningKey, generate
from tracelake.lake.lake import Lake
from tracelake.lake.tables import EVENTS_SCHEMA
from tracelake.queries.engine import open_lake


def event(event_id: str, run: str, tenant: str, event_type: str, minute: int, offset: int,
          day: str = "2026-11-24", **fields: Any) -> dict[str, Any]:
    ts = datetime.fromisoformat(f"{day}T10:{minute:02d}:00+00:00").astimezone(UTC)
    return {"event_id": event_id, "schema_version": "1", "tenant": tenant, "run_id": run, "event_type": event_type,
            "workflow": "refund", "ts": ts, "event_date": day, "source": "kafka", "kafka_topic": "t",
            "kafka_partition": 0, "kafka_offset": offset, "ingested_at": ts, **fields}


def run_events(run: str, tenant: str, first: int, day: str = "2026-11-24") -> list[dict[str, Any]]:
    return [
        event(f"{run}-1", run, tenant, "run_started", 0, first, day),
        event(f"{run}-2", run, tenant, "policy_decision", 1, first + 1, day, action="refund", risk_tier="red",
              decision="require_approval", rule="refund_over_100"),
        event(f"{run}-3", run, tenant, "approval", 2, first + 2, day, action="refund", decision="approved",
              approver="<PERSON>"),
        event(f"{run}-4", run, tenant, "postcondition_check", 3, first + 3, day, check="refund_posted",
              passed=True),
        event(f"{run}-5", run, tenant, "run_finished", 4, first + 4, day, outcome="success"),
    ]


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    return generate(tmp_path / "keys" / "chain.pem")


@pytest.fixture
def lake(tmp_path: Path, key: SigningKey) -> Lake:
    the_lake = Lake.at(tmp_path / "lake")
    writer = the_lake.writer("events")
    writer.write(pa.Table.from_pylist(run_events("r1", "acme", 0), schema=EVENTS_SCHEMA), "b1")
    writer.write(pa.Table.from_pylist(run_events("r2", "globex", 5), schema=EVENTS_SCHEMA), "b2")
    writer.write(pa.Table.from_pylist(run_events("r3", "acme", 10, day="2026-11-25"), schema=EVENTS_SCHEMA), "b3")
    seal_lake(the_lake, key)
    return the_lake


def bundle_of(lake: Lake, run: str, key: SigningKey | None, tenant: str | None = None) -> dict[str, Any] | None:
    with open_lake(lake, tenant=tenant) as con:
        return build_bundle(lake, con, run, key, tenant)


def test_bundle_holds_the_timeline_decisions_and_covering_entries(lake: Lake, key: SigningKey) -> None:
    bundle = bundle_of(lake, "r1", key, "acme")
    assert bundle is not None
    body = bundle["body"]
    assert body["run_id"] == "r1" and body["tenant"] == "acme" and body["run"]["outcome"] == "success"
    assert [e["event_id"] for e in body["events"]] == [f"r1-{i}" for i in range(1, 6)]
    assert [e["event_id"] for e in body["decisions"]["policy_decisions"]] == ["r1-2"]
    assert [e["event_id"] for e in body["decisions"]["approvals"]] == ["r1-3"]
    assert [e["event_id"] for e in body["decisions"]["postcondition_checks"]] == ["r1-4"]
    assert body["decisions"]["escalations"] == [] and body["decisions"]["fallbacks"] == []
    # Only the file of batch b1 holds r1's rows (b2 is another tenant's run on the same day).
    (item,) = body["files"]
    (entry,) = body["chain"]["entries"]
    assert entry["seq"] == item["seq"] and entry["table"] == "events" and entry["version"] == 1
    assert entry["adds"][item["path"]]["sha256"] == item["sha256"]
    assert body["chain"]["seq"] == 3 and bundle["key_id"] == key.key_id
    result = check_bundle(bundle, key.public)
    assert (result.status, result.problems, result.notes) == ("valid", [], [])


def test_another_tenants_run_is_not_found(lake: Lake, key: SigningKey) -> None:
    assert bundle_of(lake, "r2", key, "acme") is None
    assert bundle_of(lake, "nope", key) is None


@pytest.mark.parametrize("change", ["event", "decision", "file_hash", "entry", "signature", "head"])
def test_every_change_to_a_bundle_is_caught(lake: Lake, key: SigningKey, change: str) -> None:
    bundle = bundle_of(lake, "r1", key, "acme")
    assert bundle is not None
    altered = copy.deepcopy(bundle)
    body = altered["body"]
    if change == "event":
        body["events"][1]["decision"] = "allow"
    elif change == "decision":
        body["decisions"]["approvals"] = []
    elif change == "file_hash":
        body["files"][0]["sha256"] = "0" * 64
    elif change == "entry":
        body["chain"]["entries"][0]["removes"] = ["x"]
    elif change == "signature":
        altered["signature"] = key.sign(b"something else")
    else:
        body["chain"]["head"] = "f" * 64
    result = check_bundle(altered, key.public)
    assert result.status == "tampered" and result.exit_code == 1
    if change != "signature":
        # Even re-hashed and re-signed by someone without the key, it stays inconsistent or unsigned by it.
        assert any("body" in p for p in result.problems)


def test_a_consistent_forgery_signed_by_another_key_is_caught(lake: Lake, key: SigningKey, tmp_path: Path) -> None:
    forger = generate(tmp_path / "forger.pem")
    bundle = bundle_of(lake, "r1", forger, "acme")
    assert bundle is not None
    result = check_bundle(bundle, key.public)
    assert result.status == "tampered"
    assert any("signature" in p for p in result.problems)


def test_unsigned_and_unsealed_bundles_are_unverifiable(lake: Lake, key: SigningKey) -> None:
    unsigned = bundle_of(lake, "r1", None, "acme")
    assert unsigned is not None and unsigned["signature"] is None
    assert check_bundle(unsigned, key.public).status == "unverifiable"
    lake.writer("events").write(pa.Table.from_pylist(run_events("r9", "acme", 20), schema=EVENTS_SCHEMA), "b9")
    late = bundle_of(lake, "r9", key, "acme")
    assert late is not None and late["body"]["files"][0]["seq"] is None
    result = check_bundle(late, key.public)
    assert result.status == "unverifiable" and result.exit_code == 3


@pytest.mark.s3
def test_bundle_on_s3(s3_server: Any, key: SigningKey) -> None:
    import uuid

    bucket = f"evidence-{uuid.uuid4().hex[:10]}"
    s3_server.create_bucket(bucket)
    lake = Lake.at(f"s3://{bucket}/lake", s3_server.env())
    lake.writer("events").write(pa.Table.from_pylist(run_events("r1", "acme", 0), schema=EVENTS_SCHEMA), "b1")
    seal_lake(lake, key)
    bundle = bundle_of(lake, "r1", key, "acme")
    assert bundle is not None and [f["seq"] for f in bundle["body"]["files"]] == [1]
    assert check_bundle(bundle, key.public).status == "valid"
