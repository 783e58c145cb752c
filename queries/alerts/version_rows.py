"""The rows canary tests read, each metric asked once for every version compared on a page or in a call.

A canary test needs, per rule, the metric's rows of one ``(workflow, version)``
over one window: the metric with ``group_by=()`` and ``where`` =
that workflow and version. Asked that way, a page of ten canaries and nine
rules is 180 queries, each scanning the same day. :class:`VersionRows` asks
each metric once instead, grouped by ``(workflow, by)`` and filtered to the
workflows and versions compared, and hands out each group's rows.

Why that is the same answer: every metric's SQL (``queries/sql/``) applies
``where`` to the rows it aggregates and groups those same rows, so a group's
aggregate is the filtered aggregate. A group with no rows at all does not
appear in a grouped answer, while the question asked alone answers the
aggregate over nothing (one row of zero counts and NULL values, or no row for
the value series); for such a group the question is asked alone, once per
metric (the aggregate over nothing is the same for every group). Sums may
differ in the last bit (DuckDB adds in parallel, in any order).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Literal

from tracelake.queries.engine import LakeConnection
from tracelake.queries.metrics import Row, run_metric
from tracelake.queries.timewin import Window

By = Literal["workflow_version", "release"]


class VersionRows:
    """Each metric's rows per ``(workflow, version)`` over ``window``, on ``con``, fetched once per metric.

    ``pairs``: every ``(workflow, version)`` that will be asked for (the
    filter of the grouped query). The engine's errors from the queries.
    """

    def __init__(self, con: LakeConnection, window: Window, by: By, pairs: Iterable[tuple[str, str]]) -> None:
        self.con = con
        self.window = window
        self.by = by
        wanted = set(pairs)
        workflows = sorted({w for w, _ in wanted})
        versions = sorted({v for _, v in wanted})
        self._where = [("workflow", w) for w in workflows] + [(by, v) for v in versions]
        self._grouped: dict[str, dict[tuple[str, str], list[Row]]] = {}
        self._nothing: dict[str, list[Row]] = {}

    def rows(self, metric: str, workflow: str, version: str) -> list[Row]:
        """The rows the metric gives for ``workflow`` at ``version`` (``by``), as if asked alone."""
        if metric not in self._grouped:
            grouped: dict[tuple[str, str], list[Row]] = defaultdict(list)
            for row in self._ask(metric, ("workflow", self.by), self._where):
                grouped[(row["workflow"], row[self.by])].append(row)
            self._grouped[metric] = dict(grouped)
        found = self._grouped[metric].get((workflow, version))
        if found is not None:
            return found
        if metric not in self._nothing:  # no row of this group: the question alone (an aggregate over nothing)
            self._nothing[metric] = self._ask(metric, (), [("workflow", workflow), (self.by, version)])
        return self._nothing[metric]

    def _ask(self, metric: str, group_by: tuple[str, ...], where: list[tuple[str, str]]) -> list[Row]:
        return run_metric(self.con, metric, group_by=group_by, since=self.window.since, until=self.window.until,
                          where=where, internal=True)
