"""Reading the lake back from the ingest side: which events — ``(tenant, event_id)`` — are already stored."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

EVENTS_TABLE = "events"
DEAD_LETTERS_TABLE = "dead_letters"


def events_dir(root: str | Path) -> Path:
    return Path(root) / EVENTS_TABLE


def stored_event_ids(root: str | Path, keys: set[tuple[str, str]], dates: set[str]) -> set[tuple[str, str]]:
    """The subset of ``keys`` — ``(tenant, event_id)`` pairs — already in the lake, looking only at those
    dates' partitions. An event's identity is tenant-scoped: another tenant's row with the same
    ``event_id`` does not count. Files that fail the footer check (:mod:`tracelake.ingest.lakefiles`) are
    not read; a file that is corrupt inside is a ``TracelakeError`` naming it (run ``tracelake lake check``)."""
    from tracelake.ingest.lakefiles import partition_files

    # Unreadable files are left out (as the views do): they hold no event anyone can see.
    files = [
        str(path)
        for date in sorted(dates)
        for path in partition_files(events_dir(root) / f"event_date={date}")[0]
    ]
    if not files or not keys:
        return set()
    try:
        table = ds.dataset(files, format="parquet").to_table(
            columns=["tenant", "event_id"], filter=pc.field("event_id").isin(sorted({i for _, i in keys}))
        )
    except (pa.ArrowException, OSError) as exc:
        from tracelake.errors import Unavailable
        from tracelake.ingest.lakefiles import one_line

        raise Unavailable(f"cannot read the lake's events to skip duplicates ({one_line(exc)}); "
                          "run 'tracelake lake check --deep' to quarantine the unreadable file") from None
    found = zip(table.column("tenant").to_pylist(), table.column("event_id").to_pylist(), strict=True)
    return {("default" if tenant is None else tenant, event_id) for tenant, event_id in found} & keys
