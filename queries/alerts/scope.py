"""Whether a connection a caller opened can answer a job's queries (its tenant and its window).

Alert evaluations and canary comparisons run on the caller's connection when
one is given (the dashboard opens one per page, the alert job one per run),
so a connection pruned to too few partitions, or scoped to another tenant,
would answer wrongly rather than fail. :func:`check_connection` makes that a
loud programming error instead.
"""

from __future__ import annotations

from tracelake.queries.engine import LakeConnection
from tracelake.queries.timewin import Window, format_time


class ConnectionScopeError(ValueError):
    """A caller's connection does not read what a job needs (a bug in the caller, never a user error)."""


def check_connection(con: LakeConnection, needed: Window, tenant: str | None) -> None:
    """Raise :class:`ConnectionScopeError` unless ``con`` is scoped to ``tenant`` and its window holds ``needed``.

    A connection without a window reads every partition, so it holds any window.
    """
    if con.tenant != tenant:
        raise ConnectionScopeError(f"the connection reads tenant {con.tenant!r}, the job needs {tenant!r}")
    have = con.window
    if have is not None and (have.since > needed.since or have.until < needed.until):
        raise ConnectionScopeError(
            f"the connection reads [{format_time(have.since)}, {format_time(have.until)}), the job needs "
            f"[{format_time(needed.since)}, {format_time(needed.until)})")
