"""The upkeep a consumer does after writing, in one call: what keeps every question on the fast path.

:func:`refresh_derived`, in this order (each step reads what the previous one committed):

1. :func:`tracelake.ingest.tidy.tidy_lake`: the days being written de-duplicated on disk and marked clean,
   so queries read them as they are;
2. :func:`tracelake.queries.rollup.refresh_runs`: the runs rollup brought up to the events table (including
   the files the tidy rewrote);
3. :func:`tracelake.queries.controls.results.refresh_controls`: ``control_results`` for the same runs, under
   the controls library configured by ``controls_config`` (the package's defaults when None).

Used by the consumer's refresh step (:mod:`tracelake.ingest.strategies.rollup`, every
``TRACELAKE_ROLLUP_INTERVAL_S``), by ``tracelake lake rollup`` and by the benches, so all three do the same.
Failure modes: ``OSError`` when the storage refuses (nothing half-done is visible: each step commits once);
:class:`tracelake.queries.controls.model.ControlsError` for a bad controls configuration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from tracelake.lake.lake import Lake

if TYPE_CHECKING:
    from tracelake.ingest.tidy import TidyResult
    from tracelake.queries.controls.results import ControlsRefreshReport
    from tracelake.queries.rollup.runs import RefreshReport


@dataclass(frozen=True)
class DerivedReport:
    """What one upkeep did: the days tidied, the runs rollup's refresh, the control results' refresh."""

    tidied: list[TidyResult]
    runs: RefreshReport
    controls: ControlsRefreshReport


def refresh_derived(lake: Lake, run_horizon: timedelta,
                    controls_config: str | os.PathLike[str] | None = None) -> DerivedReport:
    """Tidy, then refresh the runs rollup and the control results (module docstring)."""
    from tracelake.ingest.tidy import tidy_lake
    from tracelake.queries.controls.library import configure
    from tracelake.queries.controls.results import refresh_controls
    from tracelake.queries.rollup import refresh_runs

    tidied = tidy_lake(lake)
    runs = refresh_runs(lake, run_horizon)
    return DerivedReport(tidied, runs, refresh_controls(lake, run_horizon, configure(controls_config)))
