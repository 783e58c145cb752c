"""How every subcommand prints: one JSON document, or a readable table.

``--format json`` prints exactly one JSON document on stdout and nothing else
there; progress and diagnostics go to stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click
import orjson

from tracelake.errors import UserError

# The CLI's user error is the hierarchy's (one line, exit 2); the old name stays for callers that use it.
CliError = UserError


def default_format() -> str:
    """``table`` on a terminal, ``json`` otherwise (a pipe, a file, a test)."""
    return "table" if sys.stdout.isatty() else "json"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


def render_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows as an aligned text table (the union of their keys as columns)."""
    if not rows:
        return "(no rows)"
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join([line, rule, *body])


def emit(data: Mapping[str, Any] | Sequence[Mapping[str, Any]], fmt: str | None) -> None:
    """Print a summary (object) or rows (array) in the chosen format."""
    fmt = fmt or default_format()
    if fmt == "json":
        click.echo(orjson.dumps(data, default=str).decode())
        return
    if isinstance(data, Mapping):
        width = max((len(k) for k in data), default=0)
        for key, value in data.items():
            click.echo(f"{key.ljust(width)}  {_cell(value)}")
    else:
        click.echo(render_table(data))
