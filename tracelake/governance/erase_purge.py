"""After an erasure: delete the old files and the Delta log entries that could still hold the subject.

A Delta rewrite leaves the old data files on storage (removed from the table, kept for time travel) and
the old commits in ``_delta_log/``; and a commit's ``add`` action carries the file's column statistics,
whose ``minValues``/``maxValues`` hold string values (prefixes of up to 64 characters): a prompt that
begins with the subject's e-mail puts it in the log. So, per table the erasure changed
(:func:`purge_table`):

1. **vacuum** every file the table removed, at once (retention 0; ``lite`` mode: only files the log
   removed, never a file a concurrent writer has written but not committed yet), and unreferenced files at
   least :data:`tracelake.ingest.compact.ORPHAN_MIN_AGE_HOURS` old;
2. **checkpoint** the table (at ``version``: for ``events`` the version the runs rollup covers, so the
   rollup can still load it);
3. **delete the log entries** older than that checkpoint that can hold the subject: every commit file and
   older checkpoint that adds a file (no longer live) in a partition the erasure touched (its statistics
   may hold a truncated mention no search can recognise), or whose text matches a needle.

What it costs: time travel to a deleted version is gone (a reader of the latest version is unaffected: it
starts from the new checkpoint); the commit chain reports the deleted commits as ``expired`` (covered by
the checkpoint), not as tampering. Failure modes: ``OSError`` when the storage refuses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from tracelake.lake.delta import LOG_DIR, add_files, open_table, relative_path, storage_error
from tracelake.lake.lake import Lake
from tracelake.lake.tables import Table

_COMMIT = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(?:\.\d+\.\d+)?\.parquet$")


@dataclass
class PurgeReport:
    table: str
    vacuumed: int
    checkpoint_version: int
    log_files_deleted: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _needs_purge(actions: Iterable[dict[str, Any]], text: str, live: set[str], partitions: set[str],
                 table: Table, pattern: re.Pattern[str] | None) -> bool:
    if pattern is not None and pattern.search(text):
        return True
    prefixes = tuple(f"{table.partition}={day}/" for day in partitions)
    for action in actions:
        add = action.get("add") if isinstance(action, dict) else None
        if isinstance(add, dict):
            path = str(add.get("path") or "")
            if path not in live and path.startswith(prefixes):
                return True
    return False


def purge_table(lake: Lake, table: Table, partitions: set[str], pattern: re.Pattern[str] | None, *,
                version: int | None = None) -> PurgeReport | None:
    """Steps 1-3 of the module docstring for ``table``; None when the table does not exist. ``partitions``:
    the days (``YYYY-MM-DD``) the erasure changed; ``pattern``: the subject's needles in one expression."""
    import deltalake
    import pyarrow.parquet as pq

    from tracelake.governance.chain_files import LakeObjects
    from tracelake.ingest.compact import ORPHAN_MIN_AGE_HOURS

    delta = open_table(lake, table)
    if delta is None:
        return None
    try:
        vacuumed = len(delta.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False))
        vacuumed += len(delta.vacuum(retention_hours=ORPHAN_MIN_AGE_HOURS, dry_run=False,
                                     enforce_retention_duration=False, full=True))
        delta.update_incremental()
        at = int(delta.version()) if version is None else version
        pinned = deltalake.DeltaTable(lake.table_uri(table), version=at, storage_options=lake.storage_options or None)
        pinned.create_checkpoint()
    except deltalake.exceptions.DeltaError as exc:
        raise storage_error(exc) from exc
    live = {relative_path(lake, table, f) for f in add_files(lake, table, delta.get_add_actions(flatten=True))}
    objects = LakeObjects(lake)
    folder = f"{table.name}/{LOG_DIR}"
    deleted = 0
    for entry in objects.listing(folder):
        commit, checkpoint = _COMMIT.match(entry.path), _CHECKPOINT.match(entry.path)
        found = commit or checkpoint
        if found is None or int(found.group(1)) >= at:
            continue
        where = f"{folder}/{entry.path}"
        if commit is not None:
            text = objects.read(where).decode("utf-8", "replace")
            actions = [orjson.loads(line) for line in text.splitlines() if line.strip()]
        else:
            with objects.fs.open_input_file(objects.full(where)) as handle:
                actions = pq.read_table(handle).to_pylist()
            text = orjson.dumps(actions, default=str).decode()
        if _needs_purge(actions, text, live, partitions, table, pattern):
            objects.fs.delete_file(objects.full(where))
            deleted += 1
    return PurgeReport(table.name, vacuumed, at, deleted)
