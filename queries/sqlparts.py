"""Pieces every query builder of the analytics stage shares: SQL files shipped with the package, and
``IN`` lists of bound values.

Safety: a column reaches SQL only as a quoted identifier after the caller
checked it against its allow-list (and :func:`in_clause` refuses anything but
a plain identifier); every value is a bound parameter, never formatted into SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any


@cache
def read_sql(*parts: str) -> str:
    """The text of ``queries/sql/<parts…>`` as shipped in the package (cached).

    Raises ``FileNotFoundError`` for a file that is not there (a packaging bug).
    """
    path = resources.files("tracelake.queries") / "sql"
    for part in parts:
        path = path / part
    return path.read_text(encoding="utf-8")


def in_clause(column: str, values: Sequence[Any], params: dict[str, Any], prefix: str) -> str:
    """``"column" IN ($<prefix>0, …)`` with each value bound in ``params`` under the next free name.

    Names count up from ``<prefix>0``, skipping names ``params`` already holds,
    so several clauses can share one prefix. ``column`` must already be checked
    against the caller's allow-list; raises ``ValueError`` when it is not a plain
    identifier or ``values`` is empty (a programming error, never user input).
    """
    if not column.isidentifier() or not values:
        raise ValueError(f"in_clause needs an identifier and values, not {column!r} and {len(values)} values")
    names = []
    n = 0
    for value in values:
        while f"{prefix}{n}" in params:
            n += 1
        params[f"{prefix}{n}"] = value
        names.append(f"${prefix}{n}")
    return f'"{column}" IN ({", ".join(names)})'
