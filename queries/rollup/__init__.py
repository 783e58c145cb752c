"""Rollups of the lake: tables derived from ``events`` and kept up to date incrementally.

:mod:`tracelake.queries.rollup.runs` — the ``runs`` rollup (one row per run), :func:`refresh_runs` and
the reader that adds the still-open tail (:func:`runs_view_statement`: the ``runs`` view of every
connection, :func:`read_runs`); see docs/analytics.md, "Run rollups".
"""

from tracelake.queries.rollup.runs import (
    APP_ID,
    RefreshReport,
    compute_runs,
    pending_files,
    read_runs,
    refresh_runs,
    run_facts,
    runs_view_statement,
    runs_view_statements,
)

__all__ = ["APP_ID", "RefreshReport", "compute_runs", "pending_files", "read_runs", "refresh_runs", "run_facts",
           "runs_view_statement", "runs_view_statements"]
