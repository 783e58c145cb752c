"""Small hand-made runs for the control tests, written through the real ingest path into a tmp lake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from tests.queries.conftest import ingest
from tracelake.queries.controls.library import ControlLibrary
from tracelake.queries.controls.results import compute_results

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


class RunBuilder:
    """The events of one run: ``b.add("tool_call", tool_name=…)`` moves the clock ``step`` seconds (or
    ``at=`` seconds after the start) and names the event ``<run>-<n>`` unless ``event_id`` is given."""

    def __init__(self, run_id: str, *, workflow: str = "refund", version: str = "v1", tenant: str = "acme",
                 environment: str = "production", start: datetime = T0) -> None:
        self.run_id = run_id
        self.base = {"schema_version": "1", "run_id": run_id, "workflow": workflow, "workflow_version": version,
                     "tenant": tenant, "environment": environment}
        self.at = start
        self.events: list[dict[str, Any]] = []

    def add(self, event_type: str, *, step: float = 1.0, **fields: Any) -> str:
        self.at += timedelta(seconds=step)
        event_id = fields.pop("event_id", f"{self.run_id}-{len(self.events)}")
        ts = self.at.isoformat().replace("+00:00", "Z")
        self.events.append({**self.base, "event_id": event_id, "event_type": event_type, "ts": ts, **fields})
        return event_id

    def start(self, initiator: str = "human", agent: str = "planner") -> str:
        return self.add("run_started", initiator=initiator, agent=agent)

    def gate(self, tier: str, action: str = "issue_refund") -> str:
        decision = {"green": "allow", "yellow": "require_approval", "red": "require_approval"}[tier]
        return self.add("policy_decision", action=action, risk_tier=tier, decision=decision)

    def approve(self, approver: str, action: str = "issue_refund", wait_ms: float = 1000.0,
                decision: str = "approved") -> str:
        return self.add("approval", action=action, decision=decision, approver=approver, wait_ms=wait_ms)

    def mutate(self, *, key: str | None = "k1", success: bool = True, agent: str = "executor",
               schema_valid: bool = True, **fields: Any) -> str:
        extra = {"idempotency_key": key} if key is not None else {}
        return self.add("tool_call", tool_name="payments.refund", mutating=True, success=success, agent=agent,
                        schema_valid=schema_valid, **extra, **fields)

    def finish(self, outcome: str = "success") -> str:
        return self.add("run_finished", outcome=outcome)


def write(tmp_path: Path, *runs: RunBuilder) -> Path:
    """The runs' events in a new lake under ``tmp_path``; returns the lake directory."""
    lake = tmp_path / "lake"
    lines = [orjson.dumps(e) for run in runs for e in run.events]
    summary = ingest(lake, lines, tmp_path)
    assert summary.rejected == 0, summary
    return lake


def verdicts(lake: Path, library: ControlLibrary | None = None) -> dict[tuple[str, str], tuple[str, list[str]]]:
    """(run_id, control_id) → (verdict, evidence) evaluated from scratch."""
    rows = compute_results(lake, library=library).to_pylist()
    return {(r["run_id"], r["control_id"]): (r["verdict"], orjson.loads(r["evidence"])) for r in rows}
