"""The retention policy: how long the lake keeps what, by risk class (docs/governance.md, "Retention").

A TOML file (``Settings.retention_policy_file``)::

    default_days = 365            # optional: what no rule matches; absent = kept forever

    [dead_letters]                # optional: dead letters by their own rule (age of received_at)
    keep_days = 14

    [[rule]]                      # any number; each names what it matches and keep_days
    risk_tier = "red"             # green, yellow, red, or "none" (a run with no policy decision)
    keep_days = 2555

    [[rule]]
    environment = "!production"   # "!" = anything but this value (or no value)
    keep_days = 7

A rule may name ``tenant``, ``workflow``, ``risk_tier``, ``environment`` and ``event_type``; each is one
value, a list of values (any of them), or one ``"!value"`` (anything but it). A rule naming none matches
everything.

How a decision is made:

- **A run is kept or deleted whole** (its events and its rows in the run tables together), decided on
  the run's tenant, workflow, environment (those of the ``runs`` view) and its **highest** risk tier
  (``red`` > ``yellow`` > ``green``; ``none`` when it has no ``policy_decision``), aged from its last event.
  Rules naming ``event_type`` never decide a run (a run holds many types).
- **An event without a run** (``run_id`` null) is decided alone on its own fields, ``event_type``
  included, aged from its ``ts``.
- **Most specific wins**: the matching rule naming the most fields. Among equally specific matches the
  longest ``keep_days`` wins: a tie is resolved toward keeping, because a deletion cannot be undone and an
  over-long keep is corrected by the next application.

The policy is compiled into SQL ``CASE`` expressions (:meth:`Policy.run_days_sql`,
:meth:`Policy.event_days_sql`) used by the planner; :attr:`Policy.digest` (SHA-256 of the validated
policy as canonical JSON) identifies it in the governance log.

Failure modes: :func:`load_policy` raises :class:`PolicyError` (a :class:`~tracelake.errors.ConfigError`:
one line naming the file, the entry and the field) for a missing, unreadable or invalid file.
"""

from __future__ import annotations

import hashlib
import os
from typing import Annotated

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tracelake.configfile import load_toml_model
from tracelake.errors import ConfigError
from tracelake.queries.views import sql_string

TIERS: tuple[str, ...] = ("green", "yellow", "red")
"""Risk tiers from least to most risky (docs/contract/events.md, ``policy_decision``)."""
NO_TIER = "none"
MATCH_FIELDS: tuple[str, ...] = ("tenant", "workflow", "risk_tier", "environment", "event_type")

Days = Annotated[int, Field(ge=0, le=365 * 100)]


class PolicyError(ConfigError, ValueError):
    """The policy file or a rule is invalid; the message names the file, the entry and the field."""


Match = str | list[str] | None


class Rule(BaseModel):
    """One ``[[rule]]``: what it matches (None: any value) and how many days it keeps it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keep_days: Days
    tenant: Match = None
    workflow: Match = None
    risk_tier: Match = None
    environment: Match = None
    event_type: Match = None

    @field_validator("tenant", "workflow", "risk_tier", "environment", "event_type")
    @classmethod
    def _values(cls, value: Match) -> Match:
        if isinstance(value, list):
            if not value:
                raise ValueError("an empty list matches nothing: leave the key out to match any value")
            if any(v.startswith("!") for v in value):
                raise ValueError("'!value' stands alone, not in a list")
        elif value is not None and value in ("", "!"):
            raise ValueError("an empty value: name a value, or leave the key out")
        return value

    @field_validator("risk_tier")
    @classmethod
    def _tiers(cls, value: Match) -> Match:
        values = value if isinstance(value, list) else [] if value is None else [value.removeprefix("!")]
        unknown = [v for v in values if v not in (*TIERS, NO_TIER)]
        if unknown:
            raise ValueError(f"unknown risk tier {unknown[0]!r} (green, yellow, red or none)")
        return value

    @property
    def specificity(self) -> int:
        """How many fields the rule names (more wins)."""
        return sum(getattr(self, name) is not None for name in MATCH_FIELDS)


class DeadLetterRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    keep_days: Days


class PolicyFile(BaseModel):
    """The file as written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_days: Days | None = None
    dead_letters: DeadLetterRule | None = None
    rule: list[Rule] = Field(default_factory=list)


def _condition(column: str, value: Match) -> str:
    """SQL that is true when ``column`` matches ``value`` (a null matches only a negation)."""
    if value is None:
        return "true"
    if isinstance(value, list):
        return f"{column} IN ({', '.join(sql_string(v) for v in value)})"
    if value.startswith("!"):
        return f"{column} IS DISTINCT FROM {sql_string(value[1:])}"
    return f"{column} = {sql_string(value)}"


class Policy:
    """A validated policy, compiled to SQL (see the module docstring)."""

    def __init__(self, spec: PolicyFile, source: str = "<policy>") -> None:
        self.spec = spec
        self.source = source
        # Most specific first, then the longest keep: a CASE takes the first match.
        self.ordered: tuple[Rule, ...] = tuple(sorted(spec.rule, key=lambda r: (-r.specificity, -r.keep_days)))

    @property
    def digest(self) -> str:
        """SHA-256 hex of the validated policy as canonical JSON (rule order as written)."""
        canonical = orjson.dumps(self.spec.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(canonical).hexdigest()

    @property
    def dead_letter_days(self) -> int | None:
        return None if self.spec.dead_letters is None else self.spec.dead_letters.keep_days

    def _case(self, rules: tuple[Rule, ...], columns: dict[str, str]) -> str:
        arms = []
        for rule in rules:
            conditions = [_condition(columns[name], getattr(rule, name)) for name in MATCH_FIELDS
                          if name in columns]
            arms.append(f"WHEN {' AND '.join(conditions) or 'true'} THEN {rule.keep_days}")
        default = "NULL" if self.spec.default_days is None else str(self.spec.default_days)
        if not arms:
            return f"CAST({default} AS INTEGER)"
        return f"CAST(CASE {' '.join(arms)} ELSE {default} END AS INTEGER)"

    def run_days_sql(self, tenant: str, workflow: str, environment: str, risk_tier: str) -> str:
        """SQL: the days a run is kept (NULL: forever), over the named columns (``risk_tier``: the run's highest
        tier, or ``'none'``). Rules naming ``event_type`` are left out."""
        rules = tuple(r for r in self.ordered if r.event_type is None)
        return self._case(rules, {"tenant": tenant, "workflow": workflow, "environment": environment,
                                  "risk_tier": risk_tier})

    def event_days_sql(self, tenant: str, workflow: str, environment: str, risk_tier: str, event_type: str) -> str:
        """SQL: the days an event without a run is kept (NULL: forever), over the named columns."""
        return self._case(self.ordered, {"tenant": tenant, "workflow": workflow, "environment": environment,
                                         "risk_tier": risk_tier, "event_type": event_type})


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """The policy in the TOML file at ``path``; :class:`PolicyError` naming the file, entry and field."""
    spec = load_toml_model(path, PolicyFile, kind="retention policy file", error=PolicyError)
    return Policy(spec, os.fspath(path))
