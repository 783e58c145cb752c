"""``tracelake retention apply``: carry out a retention policy, vacuum after the grace period, log it.

Order (docs/governance.md, "Retention"):

1. the plan's steps (:func:`tracelake.governance.retention_plan.retention_steps`) at one instant: which runs
   expire is decided once, over the lake's views; then, table by table (``events``, the run tables
   ``runs`` and ``control_results``, ``dead_letters``), each touched partition is dropped or rewritten in
   its own Delta commit (:mod:`tracelake.governance.retention_partitions`), retried against concurrent
   writers; ``after_commit`` (the chain sealer, when a key is configured) runs after each commit;
2. the ``runs`` rollup and ``control_results`` are brought up to date (:func:`refresh_run_tables`: runs of
   rewritten partitions are recomputed from their remaining events);
3. every changed table is vacuumed of the files that left it more than ``vacuum_grace_h`` hours ago, then
   checkpointed (:func:`tracelake.ingest.compact.maintain_table`): the files this application removes stay
   on storage for the grace period, so a reader holding an older snapshot keeps working; the next
   application (or ``tracelake compact``) deletes them;
4. one ``governance_log`` entry: when, the policy digest, the counts per table and partition, the versions.

An expired run whose late event arrives after the decision keeps that event: the next application decides
it again, from the events then stored (a run is kept or deleted whole *as stored at the decision*).

Failure modes: as the plan (:class:`~tracelake.queries.engine.QueryError`), ``OSError`` when the storage
refuses, :class:`tracelake.errors.Unavailable` when concurrent writers keep winning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tracelake.errors import TracelakeError
from tracelake.governance.log import LogEntry, append_entry
from tracelake.governance.retention_partitions import apply_step, connection
from tracelake.governance.retention_plan import RetentionPlan, expired_runs, register_expired, retention_steps
from tracelake.governance.retention_policy import Policy
from tracelake.lake.delta import open_table
from tracelake.lake.lake import LakeRef, as_lake
from tracelake.lake.tables import CONTROL_RESULTS, DEAD_LETTERS, EVENTS, RUNS, by_name

if TYPE_CHECKING:
    from pathlib import Path

    from tracelake.lake.lake import Lake
    from tracelake.queries.engine import Limits

log = logging.getLogger("tracelake.governance")

_TABLES = {t.name: t for t in (EVENTS, RUNS, CONTROL_RESULTS, DEAD_LETTERS)}


def chain_sealer(lake: Lake, key_file: Path | None) -> Callable[[], object] | None:
    """What runs after each governance commit (retention, erasure): the commit chain's sealer when a chain
    key file is configured (``TRACELAKE_CHAIN_KEY_FILE``; a failed seal is logged, never raised: the next seal
    covers it), else None."""
    if key_file is None:
        return None
    from tracelake.governance.seal_hooks import seal_quietly

    return lambda: seal_quietly(lake, key_file)


def refresh_run_tables(lake: Lake, run_horizon: timedelta) -> int:
    """Bring the tables derived from ``events`` up to it after a governance rewrite: the ``runs`` rollup, then
    ``control_results`` (the process's controls library), each only when the lake has it (a governance
    command does not create them: building one from scratch is the consumer's or compaction's job); returns
    the runs the rollup recomputed. A control results refresh that fails (a bad controls configuration) is
    logged on one line, never raised: the rows it would change are the consumer's next refresh's."""
    from tracelake.queries.controls.results import refresh_controls
    from tracelake.queries.rollup import refresh_runs

    recomputed = 0
    if open_table(lake, RUNS) is not None:
        recomputed = refresh_runs(lake, run_horizon).runs_recomputed
    if open_table(lake, CONTROL_RESULTS) is not None:
        try:
            refresh_controls(lake, run_horizon)
        except TracelakeError as exc:
            log.warning("control_results not refreshed after the governance rewrite: %s", exc)
    return recomputed


def covered_events_version(lake: Lake) -> int | None:
    """The oldest ``events`` version a derived table still reads (the rollup's and the active control library's
    covered versions): the version an erasure's log purge must keep loadable; None when neither records one."""
    from tracelake.queries.controls.library import active_library
    from tracelake.queries.controls.results import app_id
    from tracelake.queries.rollup.runs import APP_ID

    found = []
    for table, app in ((RUNS, APP_ID), (CONTROL_RESULTS, None)):
        delta = open_table(lake, table)
        if delta is None:
            continue
        try:
            name = app if app is not None else app_id(active_library())
        except TracelakeError:
            continue
        version = delta.transaction_version(name)
        if version is not None:
            found.append(int(version))
    return min(found) if found else None


@dataclass
class RetentionResult:
    """What one application did: the plan as carried out, the rollup refresh, the vacuum, the log entry."""

    plan: RetentionPlan
    vacuumed: dict[str, int] = field(default_factory=dict)
    rollup_runs_recomputed: int = 0
    log_entry: LogEntry | None = None

    def as_dict(self) -> dict[str, Any]:
        out = self.plan.as_dict()
        out.update(vacuumed=self.vacuumed, rollup_runs_recomputed=self.rollup_runs_recomputed,
                   log_entry=None if self.log_entry is None else self.log_entry.entry_id)
        return out


def apply_retention(lake_ref: LakeRef, policy: Policy, at: datetime | None = None, *,
                    vacuum_grace_h: int = 24, limits: Limits | None = None,
                    run_horizon: timedelta = timedelta(hours=24), actor: str | None = None,
                    after_commit: Callable[[], object] | None = None) -> RetentionResult:
    """Apply ``policy`` as of ``at`` (default: now); see the module docstring."""
    from tracelake.ingest.compact import maintain_table

    lake = as_lake(lake_ref)
    when = (at or datetime.now(UTC)).astimezone(UTC)
    keys = expired_runs(lake, policy, when, limits=limits, run_horizon=run_horizon)
    plan = RetentionPlan(when, policy.digest, keys.num_rows)

    def hook() -> None:
        if after_commit is not None:
            after_commit()

    with connection(lake) as con:
        register_expired(con, keys)
        for step in retention_steps(policy, when):
            plan.steps.append(apply_step(lake, con, step, label="retention", after_commit=hook))
    result = RetentionResult(plan)
    changed = [step.table for step in plan.steps if step.changed]
    if EVENTS.name in changed:
        result.rollup_runs_recomputed = refresh_run_tables(lake, run_horizon)
        hook()
    for name in changed:
        done = maintain_table(lake, _TABLES.get(name) or by_name(name), retention_hours=vacuum_grace_h)
        result.vacuumed[name] = 0 if done is None else done.vacuumed + done.orphans
    detail = {"at": when.isoformat(), "expired_runs": plan.expired_runs, "totals": plan.totals(),
              "partitions": plan.rows(), "vacuum_grace_h": vacuum_grace_h, "vacuumed": result.vacuumed}
    result.log_entry = append_entry(lake, "retention", detail, actor=actor, policy_digest=policy.digest, at=when)
    hook()
    return result
