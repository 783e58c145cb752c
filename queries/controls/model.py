"""The controls manifest and the controls configuration as validated pydantic models (docs/controls.md).

Two TOML files, both read through :mod:`tracelake.configfile` (one error line naming the file, the entry and
the field, never a traceback):

- the **manifest** ``queries/controls/controls.toml`` (shipped with the package): one ``[[controls]]`` table
  per control: ``id``, ``version``, ``description``, ``risk``, ``practice``, ``severity``, ``owner``,
  ``applies_to`` (a filter on the run's group values) and ``sql`` (the file under ``queries/controls/sql/``);
- the **configuration** (setting ``controls_config_file``, optional): the thresholds some controls read:
  approval-wait SLO per risk tier, the fail-closed fallback window, the horizon within which an idempotency
  key is compared across runs, per-run and per-day budgets.

Failure mode: :class:`ControlsError` (a :class:`~tracelake.errors.ConfigError`) for a missing or bad file.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from tracelake.errors import ConfigError

Severity = Literal["info", "warning", "critical"]
Verdict = Literal["pass", "fail", "not_applicable"]
VERDICTS: tuple[str, ...] = ("pass", "fail", "not_applicable")

# The run values an ``applies_to`` filter may name: a run's group values (metrics.md "Windows and grouping").
APPLIES_TO_KEYS = ("tenant", "team", "release", "environment", "workflow", "workflow_version")
_CONTROL_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SQL_FILE = re.compile(r"^[a-z][a-z0-9_]*\.sql$")

Name = Annotated[StrictStr, Field(min_length=1, max_length=128)]
PositiveMs = Annotated[float, Field(gt=0)]
Usd = Annotated[float, Field(ge=0)]


class ControlsError(ConfigError):
    """The controls manifest or the controls configuration file cannot be used (one line: file, entry, field)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AppliesTo(_Strict):
    """Which runs a control is asked about: every key given must match one of its values (empty: every run)."""

    tenant: tuple[Name, ...] = ()
    team: tuple[Name, ...] = ()
    release: tuple[Name, ...] = ()
    environment: tuple[Name, ...] = ()
    workflow: tuple[Name, ...] = ()
    workflow_version: tuple[Name, ...] = ()

    def items(self) -> list[tuple[str, tuple[str, ...]]]:
        """The keys that filter, with their values (manifest order)."""
        return [(key, getattr(self, key)) for key in APPLIES_TO_KEYS if getattr(self, key)]


class ControlSpec(_Strict):
    """One control of the manifest."""

    id: StrictStr
    version: int = Field(ge=1)
    description: Annotated[StrictStr, Field(min_length=1)]
    risk: Annotated[StrictStr, Field(min_length=1)]
    practice: Annotated[StrictStr, Field(min_length=1)]
    severity: Severity
    owner: Name
    applies_to: AppliesTo = AppliesTo()
    sql: StrictStr

    @field_validator("id")
    @classmethod
    def _an_id(cls, value: str) -> str:
        if not _CONTROL_ID.match(value):
            raise ValueError("a control id is lower-case letters, digits and _, starting with a letter")
        return value

    @field_validator("sql")
    @classmethod
    def _a_sql_file(cls, value: str) -> str:
        if not _SQL_FILE.match(value):
            raise ValueError("sql names a file of queries/controls/sql/, such as separation_of_duties.sql")
        return value


class Manifest(_Strict):
    """The whole manifest: the controls, ids unique."""

    controls: tuple[ControlSpec, ...] = Field(min_length=1)

    @field_validator("controls")
    @classmethod
    def _unique(cls, value: tuple[ControlSpec, ...]) -> tuple[ControlSpec, ...]:
        seen: set[str] = set()
        for spec in value:
            if spec.id in seen:
                raise ValueError(f"control id {spec.id!r} appears twice")
            seen.add(spec.id)
        return value


class ApprovalSlo(_Strict):
    """The longest an approval may wait (``wait_ms``) per risk tier of the action; ``default`` for an approval
    whose action had no policy decision before it."""

    green: PositiveMs = 60_000.0
    yellow: PositiveMs = 300_000.0
    red: PositiveMs = 900_000.0
    default: PositiveMs = 300_000.0


class FailClosed(_Strict):
    """How soon a safe fallback (``fallback`` or ``escalation``) must follow a mutating call refused for
    invalid arguments, counted from the moment the call was observed (``ts + duration_ms``)."""

    fallback_window_s: Annotated[float, Field(gt=0)] = 120.0


class Idempotency(_Strict):
    """How far back another run's success under the same ``idempotency_key`` (same tenant) counts against a
    call (``idempotency_single_success``): a key reused after ``key_horizon_h`` hours is a new effect."""

    key_horizon_h: Annotated[float, Field(gt=0, le=24 * 31)] = 72.0


class Budgets(_Strict):
    """Per-run cost budgets (USD) by workflow (``run_cost_usd``) and daily spend budgets (USD) by workflow and
    by team (``daily_usd_by_workflow``, ``daily_usd_by_team``)."""

    run_cost_usd: dict[Name, Usd] = Field(default_factory=dict)
    daily_usd_by_workflow: dict[Name, Usd] = Field(default_factory=dict)
    daily_usd_by_team: dict[Name, Usd] = Field(default_factory=dict)


class ControlsConfig(_Strict):
    """The controls configuration file (setting ``controls_config_file``); every section optional."""

    approval_slo_ms: ApprovalSlo = ApprovalSlo()
    fail_closed: FailClosed = FailClosed()
    idempotency: Idempotency = Idempotency()
    budgets: Budgets = Budgets()


__all__ = ["APPLIES_TO_KEYS", "VERDICTS", "AppliesTo", "ApprovalSlo", "Budgets", "ControlSpec", "ControlsConfig",
           "ControlsError", "FailClosed", "Idempotency", "Manifest", "Severity", "Verdict"]
