"""What the commit chain reads from a table's Delta log: which commit files exist, what each adds and removes.

A Delta table's commits are ``<table>/_delta_log/<20-digit version>.json`` (one JSON action per line);
Parquet checkpoints ``<version>.checkpoint.parquet`` summarise the log up to a version, and
``cleanup_metadata`` (``tracelake compact``) deletes JSON commits older than the log retention that a
checkpoint covers. Data file paths in ``add``/``remove`` actions are relative to the table and
percent-encoded (Delta protocol): :func:`parse_commit` decodes them, so every path the chain stores is the
plain relative path of the object (``event_date=2026-11-24/part-….parquet``).

Failure modes: ``ValueError`` (one line) for a commit file that is not JSON lines; ``OSError`` from the storage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

import orjson

from tracelake.governance.chain_files import LakeObjects

LOG_DIR = "_delta_log"
_COMMIT = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(\.\d+\.\d+)?\.parquet$")


@dataclass
class LogListing:
    """The commit files of one table's log (version → size) and the newest checkpoint's version (-1: none)."""

    commits: dict[int, int] = field(default_factory=dict)
    checkpoint: int = -1

    @property
    def latest(self) -> int:
        """The newest version the log holds: its newest commit file, or a newer checkpoint."""
        return max(max(self.commits, default=-1), self.checkpoint)


@dataclass(frozen=True)
class Commit:
    """One commit's data-file actions: paths added, paths removed (relative to the table, decoded)."""

    adds: tuple[str, ...]
    removes: tuple[str, ...]


def log_path(table: str, version: int) -> str:
    return f"{table}/{LOG_DIR}/{version:020d}.json"


def list_log(objects: LakeObjects, table: str) -> LogListing:
    """The table's commit files and newest checkpoint (empty when the table has no log)."""
    out = LogListing()
    for entry in objects.listing(f"{table}/{LOG_DIR}"):
        if match := _COMMIT.match(entry.path):
            out.commits[int(match.group(1))] = entry.size
        elif match := _CHECKPOINT.match(entry.path):
            out.checkpoint = max(out.checkpoint, int(match.group(1)))
    return out


def parse_commit(data: bytes, where: str) -> Commit:
    """The data files a commit file adds and removes; ``ValueError`` naming ``where`` when it is not JSON lines."""
    adds: list[str] = []
    removes: list[str] = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            action = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise ValueError(f"{where}: line {number} is not JSON") from None
        if not isinstance(action, dict):
            raise ValueError(f"{where}: line {number} is not a Delta action")
        if isinstance(add := action.get("add"), dict) and isinstance(add.get("path"), str):
            adds.append(unquote(add["path"]))
        elif isinstance(remove := action.get("remove"), dict) and isinstance(remove.get("path"), str):
            removes.append(unquote(remove["path"]))
    return Commit(tuple(adds), tuple(removes))


def table_names(objects: LakeObjects) -> list[str]:
    """Every Delta table directly under the lake (a folder with a ``_delta_log``), except the lake's own
    bookkeeping folders (names starting with ``_``: the chain, quarantine, published keys)."""
    return [name for name in objects.folders() if not name.startswith("_")
            and objects.folders(name).count(LOG_DIR)]


def stored_files(objects: LakeObjects, table: str) -> dict[str, float]:
    """Every object under the table's folder outside its log (relative path → when last written): what the
    table holds on storage, referenced or not."""
    return {entry.path: entry.mtime for entry in objects.listing(table, recursive=True)
            if not entry.path.startswith(f"{LOG_DIR}/") and not entry.path.startswith("_")}
