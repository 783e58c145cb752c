"""Rollups of the lake: tables derived from ``events`` and kept up to date incrementally.

:mod:`tracelake.queries.rollup.runs` — the ``runs`` rollup (one row per run), :func:`refresh_runs` and
the reader that adds the still-open tail (:func:`read_runs`, :func:`create_runs_view`). Not wired into the
CLI, API or dashboard yet; see docs/analytics.md, "Run rollups (design)".
"""

from tracelake.queries.rollup.runs import (
    APP_ID,
    RefreshReport,
    compute_runs,
    create_runs_view,
    read_runs,
    refresh_runs,
)

__all__ = ["APP_ID", "RefreshReport", "compute_runs", "create_runs_view", "read_runs", "refresh_runs"]
