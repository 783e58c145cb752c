"""Where the covered events of the runs the rollup's tail recomputes can be: a time range, from the rollup itself.

The tail (:func:`tracelake.queries.rollup.runs.runs_view_statement`) recomputes each run touched by an events
file the rollup does not cover yet from *all* its events. Those in the new files are read whole; the others
sit in covered files, which used to be scanned over every day within the run horizon for the touched run ids
(two days of events for a one-day question). But a touched run with covered events has a rollup row, and its
``first_ts``/``last_ts`` bound exactly those events (the row was computed from all of them); a touched run
without a row has all its events in the new files. So the covered files need only be read between the
smallest ``first_ts`` and the largest ``last_ts`` of the touched runs the rollup knows — a literal range
DuckDB prunes files and row groups with — and not at all when it knows none (a tail of new runs).

:func:`known_range` computes that range with pyarrow (the new files' run keys, the rollup rows of the days
near them) and caches it per process for the exact (covered version, new files) pair, so the connections that
share one lake version compute it once. Failure modes: none raised: a file that cannot be read gives
:data:`UNKNOWN` (the caller reads every nearby covered file, as before).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from tracelake.lake.lake import Lake, _filesystem, _fs_path

UNKNOWN: Final = "unknown"
MAX_LISTED_RUNS = 1000
"""Known touched runs named one by one in the covered scan's filter (more: the time range alone)."""


@dataclass(frozen=True)
class Known:
    """The touched runs the rollup knows: the time range of their events, and their run ids (None: too many to
    list)."""

    first: datetime
    last: datetime
    run_ids: tuple[str, ...] | None


Range = Known | None | Literal["unknown"]

_cache: dict[tuple[str, int, frozenset[str]], Range] = {}
_lock = threading.Lock()
_MAX_CACHED = 64


def known_range(lake: Lake, covered: int, tail_files: Sequence[str], rollup_files: Sequence[str]) -> Range:
    """The first and last event time (and the run ids, when few) of the touched runs (runs with an event in
    ``tail_files``) that have a row in ``rollup_files`` (the rollup's files of the days near the tail); None
    when none has one; :data:`UNKNOWN` when a file could not be read."""
    key = (lake.uri, covered, frozenset(tail_files))
    with _lock:
        if key in _cache:
            return _cache[key]
    found = _compute(lake, tail_files, rollup_files)
    with _lock:
        if len(_cache) >= _MAX_CACHED:
            _cache.clear()
        _cache[key] = found
    return found


def _dataset(lake: Lake, files: Sequence[str]) -> ds.Dataset:
    filesystem = _filesystem(lake)
    paths = [_fs_path(uri) for uri in files] if filesystem is not None else list(files)
    return ds.dataset(paths, format="parquet", filesystem=filesystem)


def _plain(table: pa.Table) -> pa.Table:
    """``table`` with ``string_view`` columns as plain strings."""
    return pa.table({name: column.cast(pa.string()) if column.type == pa.string_view() else column
                     for name, column in zip(table.column_names, table.columns, strict=True)})


def _compute(lake: Lake, tail_files: Sequence[str], rollup_files: Sequence[str]) -> Range:
    if not tail_files or not rollup_files:
        return None
    try:
        touched = _dataset(lake, tail_files).to_table(
            columns=["tenant", "run_id"],
            filter=pc.field("run_id").is_valid() & (pc.field("event_type") != "outcome_confirmed"))
        if touched.num_rows == 0:
            return None
        runs = pc.unique(touched.column("run_id").cast(pa.string()))
        rows = _plain(_dataset(lake, rollup_files).to_table(columns=["tenant", "run_id", "first_ts", "last_ts"]))
        # Filtered here, not in the scan: the rollup's strings may be string_view, which pyarrow's filters and
        # takes do not handle.
        rows = rows.filter(pc.is_in(rows.column("run_id"), value_set=runs))
    except (pa.ArrowException, OSError, ValueError):
        return UNKNOWN
    if rows.num_rows == 0:
        return None
    keys = set(zip(touched.column("tenant").cast(pa.string()).to_pylist(),
                   touched.column("run_id").cast(pa.string()).to_pylist(), strict=True))
    firsts, lasts, ids = [], [], set()
    for tenant, run_id, first, last in zip(*(rows.column(c).to_pylist() for c in rows.column_names), strict=True):
        if (tenant, run_id) in keys and first is not None and last is not None:
            firsts.append(first)
            lasts.append(last)
            ids.add(run_id)
    if not firsts:
        return None
    return Known(min(firsts), max(lasts), tuple(sorted(ids)) if len(ids) <= MAX_LISTED_RUNS else None)
