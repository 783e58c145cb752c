"""The demo's last act: the bad canary rolled back by its verdict, and the fleet obeying (docs/flags.md).

After the analysis, :func:`close_the_loop` applies the canary verdict as a rules file with
``[flags] canary_rollback = "pin_version"`` would (:func:`tracelake.queries.flags_auto.apply_canary`, once per
tenant the fleet serves: flags are per tenant), then runs a second wave of agents that read their flags through
the SDK from the demo's API (``GET /v1/flags``; one refresh, driven here, before the wave starts) and counts
which versions they ran. With a ``rollback`` verdict no run of the candidate is left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tracelake.lake.lake import LakeRef
from tracelake.sdk import Client


def close_the_loop(lake: LakeRef, api_url: str, client: Client, canary: Mapping[str, Any], *,
                   tenants: Sequence[str], now: datetime, runs: int, seed: int = 99) -> dict[str, Any]:
    """Flags from the verdict ``canary`` (a compare result), a refresh of each tenant's SDK flag reader, then
    ``runs`` more runs through ``client``; the report: verdict, flags set, and the second wave's versions."""
    from tracelake.fleet import Fleet, FleetConfig
    from tracelake.fleet.payments import Payments
    from tracelake.queries.flags_auto import FlagAutomation, apply_canary
    from tracelake.sdk import FlagReader, HttpFlagSource

    automation = FlagAutomation(canary_rollback="pin_version")
    changes = [change.to_json() for tenant in tenants
               if (change := apply_canary(lake, automation, canary, tenant=tenant)) is not None]
    readers = {tenant: FlagReader(HttpFlagSource(api_url, tenant=tenant), ttl_s=600) for tenant in tenants}
    refreshed = all(reader.refresh() for reader in readers.values())
    fleet = Fleet(FleetConfig(now=now, seed=seed, current_share=1.0, payments=Payments()), flags=readers)
    client.now = fleet.clock  # the second wave's events carry its simulated times
    fleet.run(client, runs=runs)
    workflow = str(canary["workflow"])
    after = {version: n for (name, version), n in sorted(fleet.stats.by_version.items()) if name == workflow}
    return {
        "verdict": canary["verdict"], "flags_set": changes, "flags_refreshed": refreshed,
        "after": {"runs": fleet.stats.runs, "workflow": workflow, "runs_by_version": after,
                  "candidate_runs": after.get(str(canary["candidate"]), 0), "pinned": fleet.stats.pinned},
    }
