"""A simulated payment system: it confirms the refunds the agents claim, late, and reverses some.

After a ``refund_request`` run that claims success, the payment processor settles the refund hours later
(simulated time) and says so with an ``outcome_confirmed`` event (events.md, "Confirmed outcomes"): mostly
``confirmed``, sometimes ``reversed`` (the charge bounced), more often for a bad version (its refunds were
wrong). Half of the confirmations name the run; the other half know only the refund's idempotency key, as a
real processor does. A confirmation that would arrive after the fleet's ``now`` has not arrived yet: it is not
sent (the run's claim is still pending).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from tracelake.contract import format_timestamp
from tracelake.sdk import Client


@dataclass(frozen=True, slots=True)
class Payments:
    """How the processor behaves: its delay (hours, uniform) and reversal rates (good / bad version)."""

    min_delay_h: float = 1.0
    max_delay_h: float = 48.0
    reversed_share: float = 0.03
    reversed_share_bad: float = 0.3


def settle(client: Client, payments: Payments, rng: random.Random, *, run_id: str, tenant: str, workflow: str,
           version: str, finished: datetime, now: datetime, bad: bool) -> str | None:
    """Send the confirmation of one claimed refund (``issue_refund`` of ``run_id``); returns its state, or None
    when it has not arrived by ``now``."""
    at = finished + timedelta(hours=rng.uniform(payments.min_delay_h, payments.max_delay_h))
    state = "reversed" if rng.random() < (payments.reversed_share_bad if bad else payments.reversed_share) \
        else "confirmed"
    by_key = rng.random() < 0.5
    if at > now:
        return None
    client.emit({
        "event_type": "outcome_confirmed", "ts": format_timestamp(at),
        "run_id": f"pay-{run_id}" if by_key else run_id,  # the processor's own reference when it lacks the run
        "idempotency_key": f"issue_refund:{run_id}", "workflow": workflow, "workflow_version": version,
        "tenant": tenant, "confirmation": state, "confirmation_source": "payments", "currency": "USD",
    })
    return state
