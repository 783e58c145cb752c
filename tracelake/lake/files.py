"""The lake's files: cheap detection of unreadable data files, and quarantine.

One bad file must not blind the lake. The views, ``ingest-file``'s duplicate
check and ``lake check`` take a table's live files from its Delta log
(:meth:`tracelake.lake.lake.Lake.data_files`) and, on a local lake, pass them
through :func:`split_files`, which keeps the readable ones and names the
others. A file the log does not list is not data: a stray or half-written
file in a partition directory is never read.

Detection (:func:`footer_problem`) reads 12 bytes per file: a Parquet file
starts with ``PAR1``, ends with a 4-byte footer length and ``PAR1``, and the
footer must fit between them. That catches zero-byte files, truncated files
(the footer is written last) and non-Parquet files. The verdict is cached
per process by ``(path, size, mtime_ns)``, so a file is opened once and then
only ``stat``-ed; a rewritten file is checked again. Corruption *inside* a
file whose footer is intact is found by ``tracelake lake check --deep``
(reads every row group) or when a query reads it. Files on object storage
are not footer-checked per query (two range requests per file); ``lake
check`` reads them.

Quarantine (:func:`quarantine`, local lakes) moves a live file to
``<lake>/_quarantine/<table>/event_date=…/<name>`` (``.1``, ``.2`` … on a
name clash), appends one JSON line ``{"at", "file", "moved_to", "size",
"error"}`` (paths relative to the lake) to
``<lake>/_quarantine/quarantine.jsonl``, then commits the file's removal to
the table (delta-rs ``repair``: a ``remove`` action for each live file that is
gone), so the table's version history says when it left.

The directory helpers (:func:`partitions`, :func:`table_partitions`,
:func:`partition_files`) list a *pre-Delta* Hive layout; only ``tracelake
lake convert`` uses them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from tracelake.fsutil import fsync_dir
from tracelake.lake.layout import DATA_GLOB, QUARANTINE_DIR, QUARANTINE_LOG, is_data_file, parse_partition, table_dir
from tracelake.lake.tables import TABLES as DECLARED
from tracelake.lake.tables import Table
from tracelake.lake.writer import make_dirs

if TYPE_CHECKING:
    from tracelake.lake.delta import DataFile
    from tracelake.lake.lake import Lake

__all__ = ["QUARANTINE_DIR", "QUARANTINE_LOG", "TABLES", "BadFile", "check_file", "deep_problem", "footer_problem",
           "one_line", "partition_files", "partitions", "quarantine", "scan_lake", "split_files", "split_partition",
           "table_partitions"]

MAGIC = b"PAR1"
TABLES = tuple(t.name for t in DECLARED)
_CACHE_MAX = 200_000


@dataclass(frozen=True)
class BadFile:
    """A Parquet file no reader can use: where, how big, and why (one line)."""

    path: Path
    size: int
    error: str

    def warning(self) -> str:
        """The one-line note the CLI prints after ``tracelake: warning: `` and the API returns in ``warnings``."""
        return f"skipped unreadable file {self.path} ({self.error})"


def footer_problem(path: str | os.PathLike[str], size: int) -> str | None:
    """Why ``path`` (``size`` bytes) is not a readable Parquet file by its first and last bytes; None if it looks fine.

    Raises ``OSError`` when the file cannot be opened or read (the caller decides: a vanished file
    is not a bad file).
    """
    if size == 0:
        return "zero-byte file"
    if size < 12:
        return f"{size} bytes: too small to be a Parquet file"
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(size - 8)
        tail = fh.read(8)
    if head != MAGIC:
        return "not a Parquet file (no magic bytes at the start)"
    if len(tail) < 8 or tail[4:] != MAGIC:
        return "truncated Parquet file (no magic bytes at the end)"
    footer = int.from_bytes(tail[:4], "little")
    if footer <= 0 or footer > size - 12:
        return f"corrupt Parquet footer (length {footer} does not fit in {size} bytes)"
    return None


_cache_lock = threading.Lock()
_cache: dict[str, tuple[int, int, str | None]] = {}


def check_file(path: str | os.PathLike[str], size: int, mtime_ns: int) -> str | None:
    """:func:`footer_problem`, cached by ``(path, size, mtime_ns)``. An unreadable file (permissions, EIO)
    is a problem too; raises ``FileNotFoundError`` when the file vanished (a compaction raced the listing)."""
    key = os.fspath(path)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == size and hit[1] == mtime_ns:
        return hit[2]
    try:
        verdict = footer_problem(path, size)
    except FileNotFoundError:
        raise
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"  # not cached: a permission fix should show at once
    with _cache_lock:
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()  # crude bound; a lake this size re-checks its files once
        _cache[key] = (size, mtime_ns, verdict)
    return verdict


def partition_files(directory: Path) -> tuple[list[Path], list[BadFile]]:
    """The ``*.parquet`` files directly in ``directory`` split into (readable, bad), each sorted by name.

    Hidden temporary files (``.name.tmp``) are not Parquet files and are not listed. A missing
    directory gives two empty lists; a file that vanishes meanwhile is left out of both.
    """
    good, bad = split_partition(directory)
    return [Path(path) for path in good], bad


def split_partition(directory: str | os.PathLike[str]) -> tuple[list[str], list[BadFile]]:
    """:func:`partition_files` with the readable files as strings (a pre-Delta partition directory)."""
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return [], []
    return _split(entry.path for entry in entries if is_data_file(entry.name) and entry.is_file())


def _split(paths: Iterable[str]) -> tuple[list[str], list[BadFile]]:
    """``paths`` split into (readable, bad) by the cached footer check; a file gone meanwhile is in neither."""
    good: list[str] = []
    bad: list[BadFile] = []
    for path in paths:
        try:
            st = os.stat(path)
            problem = check_file(path, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            continue
        if problem is None:
            good.append(path)
        else:
            bad.append(BadFile(Path(path), st.st_size, problem))
    return good, bad


def deep_problem(path: Path) -> str | None:
    """Read the footer and every row group with pyarrow: None when all of it decodes, else the error (one line)."""
    import pyarrow.parquet as pq

    try:
        reader = pq.ParquetFile(path)
        for index in range(reader.num_row_groups):
            reader.read_row_group(index)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoding failure makes the file unreadable; reported, not raised
        return one_line(exc)
    return None


def one_line(exc: BaseException) -> str:
    """An exception as one short line (``ArrowInvalid: …``)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def table_partitions(root: str | os.PathLike[str], table: str) -> list[Path]:
    """The partition directories (``event_date=YYYY-MM-DD``) of ``table``, sorted; never anything under
    ``_quarantine``, never a directory whose name is not a day."""
    return [path for _, path in sorted(partitions(root, table, with_files=False).items())]


def partitions(root: str | os.PathLike[str], table: str, *, with_files: bool = True) -> dict[date, Path]:
    """The partition directories of ``table`` by day; with ``with_files`` only those holding a data file.

    A missing table directory gives an empty dict.
    """
    out: dict[date, Path] = {}
    try:
        children = list(table_dir(root, table).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return out
    for child in children:
        day = parse_partition(child.name)
        if day is None or not child.is_dir():
            continue
        if with_files and not any(is_data_file(p.name) for p in child.glob(DATA_GLOB)):
            continue
        out[day] = child
    return out


def split_files(files: Iterable[DataFile]) -> tuple[list[str], list[BadFile]]:
    """Local live files split into (readable paths, bad), in the order given; a file that vanished meanwhile
    (a vacuum raced the listing) is left out of both."""
    return _split(item.uri for item in files)


def _remote_problem(lake: Lake, item: DataFile, deep: bool) -> str | None:
    import pyarrow.parquet as pq

    from tracelake.lake.lake import _filesystem, _fs_path

    filesystem: Any = _filesystem(lake)
    try:
        with filesystem.open_input_file(_fs_path(item.uri)) as fh:
            size = fh.size()
            if size < 12:
                return f"{size} bytes: too small to be a Parquet file"
            head = fh.read_at(4, 0)
            tail = fh.read_at(8, size - 8)
            if head != MAGIC or tail[4:] != MAGIC:
                return "not a Parquet file, or truncated (no magic bytes)"
            if deep:
                reader = pq.ParquetFile(fh)
                for index in range(reader.num_row_groups):
                    reader.read_row_group(index)
    except Exception as exc:  # noqa: BLE001 - any failure makes the file unreadable; reported, not raised
        return one_line(exc)
    return None


def scan_lake(lake: Lake, tables: Iterable[Table] = DECLARED, deep: bool = False) -> list[BadFile]:
    """Every bad live file of the lake's tables: the footer check, and with ``deep`` a full decode of the rest."""
    found: list[BadFile] = []
    for table in tables:
        files = lake.data_files(table)
        if lake.is_remote:
            for item in files:
                problem = _remote_problem(lake, item, deep)
                if problem is not None:
                    found.append(BadFile(Path(item.uri), item.size, problem))
            continue
        good, bad = split_files(files)
        found.extend(bad)
        if deep:
            for name in good:
                path = Path(name)
                try:
                    problem = deep_problem(path)
                    size = path.stat().st_size
                except FileNotFoundError:
                    continue
                if problem is not None:
                    found.append(BadFile(path, size, problem))
    return found


def quarantine(lake: Lake, bad: BadFile) -> Path:
    """Move ``bad`` under ``<root>/_quarantine/`` (same relative path), log it, and commit its removal from its
    table; returns the new path.

    Raises ``OSError`` when the move fails (the file stays where it was), ``ValueError`` when the file is
    not inside the (local) lake, ``FileNotFoundError`` when it vanished meanwhile.
    """
    base = lake.resolved
    source = bad.path.resolve()
    relative = source.relative_to(base)
    target = base / QUARANTINE_DIR / relative
    make_dirs(target.parent)
    candidate, n = target, 0
    while candidate.exists():
        n += 1
        candidate = target.with_name(f"{target.name}.{n}")
    os.rename(source, candidate)
    fsync_dir(source.parent)
    fsync_dir(candidate.parent)
    entry = {"at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
             "file": str(relative), "moved_to": str(candidate.relative_to(base)), "size": bad.size,
             "error": bad.error}
    log_path = base / QUARANTINE_DIR / QUARANTINE_LOG
    with open(log_path, "ab") as fh:
        fh.write(orjson.dumps(entry) + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    table = relative.parts[0]
    if table in TABLES:
        from tracelake.lake.delta import open_table

        delta = open_table(lake, table)
        if delta is not None:
            delta.repair()  # a remove action for the file that is now gone
    return candidate
