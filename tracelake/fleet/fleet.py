"""Drive a fleet of simulated agents through the real SDK, with an optional bad canary.

``Fleet`` places each run in simulated time: most in the history window
(``history_days`` back to one day ago, the drift rules' baseline), a share in
the last 24 hours (their current window). In the current window the canary
workflow sends ``canary.share`` of its runs to the candidate version, whose
profile is the injected regression (lower success, higher cost). Events
carry their simulated ``ts``; the SDK sends them to Kafka like any agent's.

Deterministic for a seed and a ``now``.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tracelake.fleet import fakedata
from tracelake.fleet.clock import SimClock
from tracelake.fleet.payments import Payments, settle
from tracelake.fleet.workflows import BASELINE, REGRESSED, SYSTEM_PROMPTS, WORKFLOWS, Step, Workflow
from tracelake.sdk import Client, FlagReader


@dataclass(frozen=True, slots=True)
class Canary:
    workflow: str = "refund_request"
    baseline: str = "v3"
    candidate: str = "v4"
    release: str = "2026.11.3"
    share: float = 0.5


@dataclass(frozen=True, slots=True)
class FleetConfig:
    seed: int = 7
    now: datetime | None = None
    history_days: float = 8.0
    current_share: float = 0.45
    canary: Canary | None = field(default_factory=Canary)
    tenants: tuple[tuple[str, float], ...] = (("acme", 0.7), ("globex", 0.3))
    # The payment processor confirming refunds late (tracelake.fleet.payments); None: no confirmations.
    payments: Payments | None = None


@dataclass
class FleetStats:
    runs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    by_version: Counter[tuple[str, str]] = field(default_factory=Counter)
    refused: Counter[tuple[str, str]] = field(default_factory=Counter)  # (workflow, flag action) not run
    pinned: int = 0  # runs a pin_version flag moved to another version
    confirmations: Counter[str] = field(default_factory=Counter)  # outcome_confirmed sent, by state


class Fleet:
    """``fleet = Fleet(FleetConfig()); client = Client(..., clock=fleet.clock); fleet.run(client, runs=500)``.

    ``flags``: the SDK's flag reader per tenant (docs/flags.md); each agent asks it before a run and obeys:
    ``pause`` and a throttle's refusals skip the run, ``pin_version`` runs the pinned version.
    """

    def __init__(self, config: FleetConfig | None = None, flags: Mapping[str, FlagReader] | None = None) -> None:
        self.config = config or FleetConfig()
        self.flags = dict(flags or {})
        self.now = (self.config.now or datetime.now(UTC)).astimezone(UTC)
        self.clock = SimClock(self.now)
        self.rng = random.Random(self.config.seed)
        # The payment processor draws from its own generator: turning it on leaves the agents' runs as they were.
        self.payments_rng = random.Random(self.config.seed * 7919 + 1)
        self.stats = FleetStats()
        # Per (tenant, workflow, version): what one run leaves for a later one (a refund to issue again).
        self._carry: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._workflows = list(WORKFLOWS.values())
        self._weights = [w.weight for w in self._workflows]

    def _start_time(self, current: bool) -> datetime:
        if current:  # at least an hour ago: approval waits must not push run_finished past now
            return self.now - timedelta(hours=self.rng.uniform(1, 24))
        return self.now - timedelta(days=self.rng.uniform(1.05, self.config.history_days))

    def one_run(self, client: Client) -> str:
        """Emit one whole run; returns its outcome."""
        rng, canary = self.rng, self.config.canary
        workflow: Workflow = rng.choices(self._workflows, self._weights)[0]
        current = rng.random() < self.config.current_share
        version, release, profile = workflow.version, workflow.release, BASELINE
        if canary and current and workflow.name == canary.workflow and rng.random() < canary.share:
            version, release, profile = canary.candidate, canary.release, REGRESSED
        tenant = rng.choices([t for t, _ in self.config.tenants], [w for _, w in self.config.tenants])[0]
        reader = self.flags.get(tenant)
        if reader is not None:
            admission = reader.admit(workflow.name, version)
            if not admission.admitted:
                self.stats.refused[(workflow.name, admission.flag.action)] += 1
                return "refused"
            if admission.version and admission.version != version:
                self.stats.pinned += 1
                version, release = admission.version, workflow.release
                profile = BASELINE if version == workflow.version else profile
        self.clock.set(self._start_time(current))
        with client.run(workflow.name, version, input=f"{workflow.name.replace('_', ' ')} from {fakedata.email(rng)}",
                        initiator=rng.choice(["human", "human", "system"]), team=workflow.team, release=release,
                        tenant=tenant, environment="production") as run:
            step = Step(run=run, rng=rng, clock=self.clock, profile=profile,
                        system_prompt=SYSTEM_PROMPTS[workflow.name],
                        carry=self._carry.setdefault((tenant, workflow.name, version), {}))
            workflow.body(step)
            self.clock.advance(rng.uniform(5, 50))
        self.stats.runs += 1
        self.stats.outcomes[step.outcome] += 1
        self.stats.by_version[(workflow.name, version)] += 1
        if self.config.payments is not None and workflow.name == "refund_request" and step.outcome == "success":
            state = settle(client, self.config.payments, self.payments_rng, run_id=run.run_id, tenant=tenant,
                           workflow=workflow.name, version=version, finished=self.clock.t, now=self.now,
                           bad=profile is REGRESSED)
            if state is not None:
                self.stats.confirmations[state] += 1
        return step.outcome

    def run(self, client: Client, *, runs: int | None = None, duration_s: float | None = None,
            rate: float | None = None, progress: Callable[[int], None] | None = None) -> FleetStats:
        """Emit runs until ``runs`` are done or ``duration_s`` has passed, at most ``rate`` runs/s."""
        if runs is None and duration_s is None:
            raise ValueError("give runs, duration_s or both: the fleet never runs unbounded")
        started = time.monotonic()
        done = 0
        while (runs is None or done < runs) and (duration_s is None or time.monotonic() - started < duration_s):
            self.one_run(client)
            done += 1
            if progress:
                progress(done)
            if rate:
                ahead = done / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(min(ahead, 1.0))  # pacing, not synchronisation
        return self.stats
