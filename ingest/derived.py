"""The upkeep a consumer does after writing, in one call: what keeps every question on the fast path.

:func:`refresh_derived`, in this order (each step reads what the previous one committed):

1. :func:`tracelake.ingest.tidy.tidy_lake`: the days being written de-duplicated on disk and marked clean,
   so queries read them as they are;
2. :func:`tracelake.queries.rollup.refresh_runs`: the runs rollup brought up to the events table (including
   the files the tidy rewrote);
3. :func:`tracelake.queries.controls.results.refresh_controls`: ``control_results`` for the same runs, under
   the controls library configured by ``controls_config`` (the package's defaults when None).

Used by the consumer's upkeep step (:mod:`tracelake.ingest.strategies.rollup`, in the background, at most every
``TRACELAKE_ROLLUP_INTERVAL_S``), by ``tracelake lake rollup`` and by the benches, so all three do the same.
Failure modes: ``OSError`` when the storage refuses (nothing half-done is visible: each step commits once);
:class:`tracelake.queries.controls.model.ControlsError` for a bad controls configuration.

:func:`refresh_derived_isolated` runs the same in a worker process with a time limit, for the consumer: DuckDB
1.5 can park every worker thread of a large query for good, deaf to ``interrupt()`` (seen here on the 10M-event
bench lake; duckdb/duckdb#24961 describes the same shape: a window over a union with an ``IN``-subquery arm),
and a consumer blocked in its upkeep would stop ingesting. A worker past its limit is killed (a Delta commit is
atomic: a killed upkeep leaves nothing half-done) and the step counts a failure; the next upkeep starts again.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

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
                    controls_config: str | os.PathLike[str] | None = None, *, tidy: bool = True) -> DerivedReport:
    """Tidy (unless ``tidy`` is off), then refresh the runs rollup and the control results (module docstring)."""
    from tracelake.ingest.tidy import tidy_lake
    from tracelake.queries.controls.library import configure
    from tracelake.queries.controls.results import refresh_controls
    from tracelake.queries.rollup import refresh_runs

    tidied = tidy_lake(lake) if tidy else []
    runs = refresh_runs(lake, run_horizon)
    return DerivedReport(tidied, runs, refresh_controls(lake, run_horizon, configure(controls_config)))


UPKEEP_TIMEOUT_S = 900.0
"""How long one isolated upkeep may take before its worker is killed (a day's runs rebuilt on 2 cores at
1 B events a month took minutes: docs/scale.md)."""

_context_lock = threading.Lock()
_context: Any = None


def _forkserver() -> Any:
    """A forkserver context with the upkeep's modules preloaded (forking the consumer itself would copy its
    Kafka client's threads mid-use)."""
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["tracelake.ingest.derived", "tracelake.ingest.tidy",
                                            "tracelake.queries.rollup", "tracelake.queries.controls.results"])
            _context = context
        return _context


def _upkeep_worker(sender: Any, lake: Lake, run_horizon: timedelta,
                   controls_config: str | os.PathLike[str] | None, tidy: bool) -> None:
    try:
        sender.send(("ok", refresh_derived(lake, run_horizon, controls_config, tidy=tidy)))
    except BaseException as exc:  # noqa: BLE001 - sent to the parent, which raises it
        sender.send(("error", exc))
    finally:
        sender.close()


def refresh_derived_isolated(lake: Lake, run_horizon: timedelta,
                             controls_config: str | os.PathLike[str] | None = None,
                             timeout_s: float = UPKEEP_TIMEOUT_S, *, tidy: bool = True) -> DerivedReport:
    """:func:`refresh_derived` in a worker process; ``TimeoutError`` (the worker killed) past ``timeout_s``,
    what the worker raised otherwise, ``RuntimeError`` when it died without an answer."""
    context = _forkserver()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_upkeep_worker, args=(sender, lake, run_horizon, controls_config, tidy),
                              daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(timeout_s):
            raise TimeoutError(f"the upkeep took more than {timeout_s:g} s and was stopped")
        try:
            kind, payload = receiver.recv()
        except (EOFError, OSError):
            process.join(timeout=5)
            raise RuntimeError(f"the upkeep worker stopped with code {process.exitcode} and no answer") from None
        if kind == "error" and isinstance(payload, BaseException):
            raise payload
        report: DerivedReport = payload
        return report
    finally:
        receiver.close()
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)
