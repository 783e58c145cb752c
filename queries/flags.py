"""Workflow flags: what the fleet's agents must do per workflow, set without a deploy (docs/flags.md).

A flag is one of

- ``allow``: run normally (the flag of a workflow nobody set);
- ``throttle`` with a ``rate`` in (0, 1]: admit that share of runs;
- ``pin_version`` with a ``version``: run that workflow version (roll back to it);
- ``pause``: run nothing.

Where they live: the lake's ``flags`` Delta table (:data:`tracelake.lake.tables.FLAGS`), one row per change and
never updated, so the table is its own audit trail (who, when, old → new, reason). A workflow's flag is its
latest row (``changed_at``, then ``change_id``). Tenant-scoped: every row names its tenant; readers ask for one.

Reading is cheap: :class:`FlagTable` keeps the table open and its rows in memory, and looks at the Delta log
at most every ``max_age_s`` (only new commits are read), so ``GET /v1/flags`` answers from memory.

Failure modes: :class:`FlagError` (a :class:`~tracelake.errors.UserError`) for a flag that cannot be set (unknown
action, a throttle without a rate in (0, 1], a pin without a version, a rate or version on another action, an empty
workflow, tenant, reason or who); ``OSError`` when the storage refuses.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from tracelake.errors import UserError
from tracelake.lake.delta import open_table
from tracelake.lake.lake import LakeRef, as_lake
from tracelake.lake.tables import FLAGS

if TYPE_CHECKING:
    from deltalake import DeltaTable

    from tracelake.lake.lake import Lake

Action = Literal["allow", "throttle", "pin_version", "pause"]
ACTIONS: tuple[str, ...] = ("allow", "throttle", "pin_version", "pause")


class FlagError(UserError, ValueError):
    """A flag that cannot be set as asked (a user error: one line, exit 2, HTTP 400)."""


@dataclass(frozen=True)
class Flag:
    """One workflow's flag (the latest change), or the default ``allow`` (``changed_at`` None)."""

    tenant: str
    workflow: str
    action: str = "allow"
    rate: float | None = None
    version: str | None = None
    reason: str | None = None
    who: str | None = None
    changed_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["changed_at"] = None if self.changed_at is None else self.changed_at.isoformat().replace("+00:00", "Z")
        return out

    def same_setting(self, action: str, rate: float | None, version: str | None) -> bool:
        return (self.action, self.rate, self.version) == (action, rate, version)


@dataclass(frozen=True)
class FlagChange:
    """One row of the audit trail: the flag before and after."""

    change_id: str
    flag: Flag
    previous: Flag

    def to_json(self) -> dict[str, Any]:
        return {"change_id": self.change_id, **self.flag.to_json(),
                "previous": {"action": self.previous.action, "rate": self.previous.rate,
                             "version": self.previous.version}}


def check_flag(action: str, rate: float | None, version: str | None) -> None:
    """Raise :class:`FlagError` unless ``action`` with ``rate`` / ``version`` is a flag (module docstring)."""
    if action not in ACTIONS:
        raise FlagError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    if action == "throttle":
        if rate is None or not 0 < rate <= 1:
            raise FlagError("throttle needs a rate: the share of runs admitted, in (0, 1]")
    elif rate is not None:
        raise FlagError(f"a rate goes with throttle only, not with {action}")
    if action == "pin_version":
        if not version:
            raise FlagError("pin_version needs the version to run (--version)")
    elif version is not None:
        raise FlagError(f"a version goes with pin_version only, not with {action}")


def _flag(row: dict[str, Any]) -> Flag:
    return Flag(tenant=row["tenant"], workflow=row["workflow"], action=row["action"], rate=row["rate"],
                version=row["version"], reason=row["reason"], who=row["who"], changed_at=row["changed_at"])


def _order(row: dict[str, Any]) -> tuple[datetime, str]:
    return row["changed_at"], row["change_id"]


class FlagTable:
    """The ``flags`` table of one lake, its rows kept in memory (see the module docstring).

    Thread-safe. ``max_age_s``: how stale the rows may be before the Delta log is looked at again;
    ``clock``: a monotonic clock (tests pass their own).
    """

    def __init__(self, lake: LakeRef, max_age_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.lake: Lake = as_lake(lake)
        self.max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        self._delta: DeltaTable | None = None
        self._version: int | None = None
        self._rows: list[dict[str, Any]] = []
        self._checked: float | None = None

    def rows(self, *, fresh: bool = False) -> list[dict[str, Any]]:
        """Every change, oldest first; re-read when older than ``max_age_s`` or ``fresh``."""
        with self._lock:
            now = self._clock()
            if fresh or self._checked is None or now - self._checked >= self.max_age_s:
                self._reload()
                self._checked = now
            return self._rows

    def _reload(self) -> None:
        if self._delta is None:
            self._delta = open_table(self.lake, FLAGS)
            if self._delta is None:
                return  # nothing set yet
        else:
            self._delta.update_incremental()
        version = int(self._delta.version())
        if version == self._version:
            return
        table = self._delta.to_pyarrow_table()
        self._rows = sorted(table.to_pylist(), key=_order)
        self._version = version

    def invalidate(self) -> None:
        with self._lock:
            self._checked = None

    # -- reading -------------------------------------------------------------------------------------------------
    def current(self, tenant: str) -> dict[str, Flag]:
        """The flag of every workflow of ``tenant`` that ever had one (later rows win)."""
        latest: dict[str, Flag] = {}
        for row in self.rows():
            if row["tenant"] == tenant:
                latest[row["workflow"]] = _flag(row)
        return latest

    def get(self, tenant: str, workflow: str) -> Flag:
        """``workflow``'s flag in ``tenant``; ``allow`` when none was ever set."""
        return self.current(tenant).get(workflow) or Flag(tenant=tenant, workflow=workflow)

    def history(self, tenant: str, workflow: str | None = None) -> list[FlagChange]:
        """The audit trail of ``tenant`` (of one ``workflow``), oldest first."""
        out = []
        for row in self.rows():
            if row["tenant"] != tenant or (workflow is not None and row["workflow"] != workflow):
                continue
            previous = Flag(tenant=tenant, workflow=row["workflow"], action=row["previous_action"] or "allow",
                            rate=row["previous_rate"], version=row["previous_version"])
            out.append(FlagChange(row["change_id"], _flag(row), previous))
        return out

    # -- writing -------------------------------------------------------------------------------------------------
    def set(self, *, tenant: str, workflow: str, action: str, rate: float | None = None, version: str | None = None,
            reason: str, who: str, now: datetime | None = None, only_if_changed: bool = False) -> FlagChange | None:
        """Record a new flag for ``workflow`` in ``tenant`` (one appended row); return the change.

        ``only_if_changed``: do nothing (return None) when the workflow's flag already has this action, rate and
        version (an automation that fires on every evaluation writes once). Two writers racing both append; the
        later ``changed_at`` wins and each row's ``previous_*`` is what its writer saw.
        """
        for name, value in (("workflow", workflow), ("tenant", tenant), ("reason", reason), ("who", who)):
            if not value or not value.strip():
                raise FlagError(f"{name} must not be empty")
        check_flag(action, rate, version)
        self.rows(fresh=True)
        previous = self.get(tenant, workflow)
        if only_if_changed and previous.same_setting(action, rate, version):
            return None
        changed_at = (now or datetime.now(UTC)).astimezone(UTC)
        if previous.changed_at is not None and changed_at <= previous.changed_at:
            # Latest wins by changed_at: a clock behind the last change must still make this change the latest.
            changed_at = previous.changed_at + _TICK
        change_id = str(uuid.uuid4())
        row = {"change_id": change_id, "tenant": tenant, "workflow": workflow, "action": action, "rate": rate,
               "version": version, "reason": reason, "who": who, "changed_at": changed_at,
               "previous_action": previous.action, "previous_rate": previous.rate,
               "previous_version": previous.version, FLAGS.partition: changed_at.strftime("%Y-%m-%d")}
        self.lake.writer(FLAGS).write(FLAGS.to_arrow([row]), f"flags-{change_id}")
        self.invalidate()
        return FlagChange(change_id, _flag(row), previous)


_TICK = timedelta(microseconds=1)

_TABLES: dict[str, FlagTable] = {}
_TABLES_LOCK = threading.Lock()


def flag_table(lake: LakeRef, max_age_s: float = 1.0) -> FlagTable:
    """The process's one :class:`FlagTable` of ``lake`` (so every request shares its rows in memory)."""
    the_lake = as_lake(lake)
    key = the_lake.table_uri(FLAGS)
    with _TABLES_LOCK:
        table = _TABLES.get(key)
        if table is None:
            table = _TABLES[key] = FlagTable(the_lake, max_age_s)
        return table
