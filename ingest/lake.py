"""Reading the lake back from the ingest side: which event ids are already stored."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as ds

EVENTS_TABLE = "events"
DEAD_LETTERS_TABLE = "dead_letters"


def events_dir(root: str | Path) -> Path:
    return Path(root) / EVENTS_TABLE


def stored_event_ids(root: str | Path, event_ids: set[str], dates: set[str]) -> set[str]:
    """The subset of ``event_ids`` already in the lake, looking only at those dates' partitions."""
    files = [
        str(path)
        for date in sorted(dates)
        for path in sorted((events_dir(root) / f"event_date={date}").glob("*.parquet"))
    ]
    if not files or not event_ids:
        return set()
    table = ds.dataset(files, format="parquet").to_table(
        columns=["event_id"], filter=pc.field("event_id").isin(sorted(event_ids))
    )
    return set(table.column("event_id").to_pylist())
