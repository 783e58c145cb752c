"""Where the lake's rows live on disk: ``<lake>/<table>/event_date=YYYY-MM-DD/<batch>.parquet``.

One place spells the partition directory (``event_date=``), the data file
suffix, the hidden temporary names and the quarantine folder; every reader
and writer builds and parses paths through these functions.

Also here, because the CLI's settings check needs it without pyarrow:
:func:`check_location`, which refuses a URL-shaped lake (``s3://…``). Object
storage arrives with the Delta Lake table; until then such a value would be
taken for a local folder named ``s3:`` and read back nothing.

Imports nothing beyond the standard library.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

PARTITION_COLUMN = "event_date"
PARTITION_PREFIX = f"{PARTITION_COLUMN}="
PARTITION_GLOB = f"{PARTITION_PREFIX}*"
DATA_SUFFIX = ".parquet"
DATA_GLOB = f"*{DATA_SUFFIX}"
QUARANTINE_DIR = "_quarantine"
QUARANTINE_LOG = "quarantine.jsonl"

_PARTITION = re.compile(rf"^{PARTITION_PREFIX}(\d{{4}}-\d{{2}}-\d{{2}})$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

URL_REFUSAL = ("a URL, but object storage comes with the Delta Lake table; "
               "for now the lake is a local directory")


def partition_name(day: str | date) -> str:
    """The directory name of one day's partition: ``event_date=2026-11-24``.

    ``day`` is a ``date`` or its ISO text (``YYYY-MM-DD``, as the rows' ``event_date`` column holds it);
    raises ``ValueError`` for anything else, so no odd directory name is ever created.
    """
    text = day.isoformat() if isinstance(day, date) else str(day)
    if parse_partition(PARTITION_PREFIX + text) is None:
        raise ValueError(f"not a partition day (YYYY-MM-DD): {day!r}")
    return PARTITION_PREFIX + text


def parse_partition(name: str) -> date | None:
    """The day of a partition directory name (``event_date=2026-11-24``); None when ``name`` is not one."""
    match = _PARTITION.match(name)
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:  # event_date=2026-13-45: the right shape, not a day
        return None


def data_file_name(batch: str) -> str:
    """The file name of batch ``batch`` in a partition (``<batch>.parquet``)."""
    return batch + DATA_SUFFIX


def temp_file_name(batch: str, token: str) -> str:
    """A hidden name for the file being written (never listed as data: it starts with a dot)."""
    return f".{batch}.{token}.tmp"


def is_data_file(name: str) -> bool:
    """Whether a file name in a partition is a data file readers list (not hidden, ``.parquet``)."""
    return name.endswith(DATA_SUFFIX) and not name.startswith(".")


def table_dir(root: str | os.PathLike[str], table: str) -> Path:
    """``<root>/<table>``."""
    return Path(root) / table


def partition_dir(root: str | os.PathLike[str], table: str, day: str | date) -> Path:
    """``<root>/<table>/event_date=<day>``; ``ValueError`` when ``day`` is not a day."""
    return Path(root) / table / partition_name(day)


def is_url(location: str) -> bool:
    """Whether ``location`` looks like a URL (``scheme://…``) rather than a local path."""
    return bool(_URL.match(location.strip())) or "://" in location


def check_location(location: str | os.PathLike[str]) -> Path:
    """``location`` as a local path; ``ValueError`` (one line, :data:`URL_REFUSAL`) when it is URL-shaped.

    A ``Path`` has already collapsed ``s3://b`` into ``s3:/b``: callers must pass the text as the user
    wrote it (the settings validator runs before the conversion).
    """
    text = os.fspath(location)
    if is_url(text):
        raise ValueError(f"{text!r}: {URL_REFUSAL}")
    return Path(text)
