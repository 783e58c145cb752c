"""An agent fleet simulator that drives the real SDK (demo, tests, benchmarks).

Four workflows from the seed (refund proposals, access requests, duplicate
tickets, CRM hygiene) with planner / executor / verifier roles, small and
large model tiers, failing tools, policy gates, approvals, escalations, safe
fallbacks, post-condition checks, budget halts, fake personal data and
secrets, and an injectable bad canary.
"""

from tracelake.fleet.clock import SimClock
from tracelake.fleet.fleet import Canary, Fleet, FleetConfig, FleetStats
from tracelake.fleet.workflows import BASELINE, REGRESSED, WORKFLOWS, Profile

__all__ = ["BASELINE", "REGRESSED", "WORKFLOWS", "Canary", "Fleet", "FleetConfig", "FleetStats", "Profile", "SimClock"]
