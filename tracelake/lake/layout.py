"""Where the lake's rows live on disk: ``<lake>/<table>/event_date=YYYY-MM-DD/<batch>.parquet``.

One place spells the partition directory (``event_date=``), the data file
suffix, the hidden temporary names and the quarantine folder; every reader
and writer builds and parses paths through these functions.

Also here, because the CLI's settings check needs it without pyarrow:
:func:`check_location`, which accepts a local directory or an
``s3://bucket[/prefix]`` URL and refuses any other URL-shaped value in one
line (``gs://…`` would otherwise be taken for a local folder named ``gs:``).

Inside each table's directory the Delta Lake writer (delta-rs) names the
data files itself (``event_date=…/part-….parquet``); the names here are the
ones tracelake spells (partition directories, quarantine, temporary files of
the pre-Delta layout, which ``tracelake lake convert`` takes in).

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

URL_REFUSAL = ("a URL the lake cannot use: give a local directory or s3://bucket/prefix "
               "(S3 or an S3-compatible store)")
_S3 = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/[^\s]*)?$")


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


def is_s3(location: str) -> bool:
    """Whether ``location`` is an ``s3://`` URL (well-formed or not)."""
    return location.strip().lower().startswith("s3://")


def check_location(location: str | os.PathLike[str]) -> Path | str:
    """``location`` as a local ``Path``, or as the normalised text of an ``s3://bucket[/prefix]`` URL
    (no trailing slash); ``ValueError`` (one line) for any other URL or a malformed S3 one.

    A ``Path`` has already collapsed ``s3://b`` into ``s3:/b``: callers must pass the text as the user
    wrote it (the settings validator runs before any conversion).
    """
    text = os.fspath(location)
    if is_s3(text):
        url = text.strip().rstrip("/")
        if not _S3.match(url) or "//" in url[5:] or "/../" in url + "/" or "/./" in url + "/":
            raise ValueError(f"{text!r}: not an S3 location (s3://bucket/prefix, bucket names in lower case)")
        return url
    if is_url(text):
        raise ValueError(f"{text!r}: {URL_REFUSAL}")
    return Path(text)
