"""A separate Delta writer process for the concurrency test: appends COUNT one-row commits to TABLE.

Usage: python delta_writer.py TABLE NAME COUNT OPTIONS_JSON. Each commit carries ``writer`` and ``seq``
in its commit metadata. Once its imports are done it prints ``ready`` and waits for a line on stdin, so
the parent starts every writer at once, after all of them are ready, and they collide.
"""

from __future__ import annotations

import sys

import orjson
import pyarrow as pa
from deltalake import CommitProperties, write_deltalake


def main(table: str, name: str, count: int, options: dict[str, str]) -> None:
    print("ready", flush=True)
    if sys.stdin.readline() != "go\n":
        raise SystemExit(f"{name}: no go from the parent")
    for seq in range(count):
        write_deltalake(
            table, pa.table({"writer": [name], "seq": [seq]}), mode="append", storage_options=options,
            commit_properties=CommitProperties(custom_metadata={"writer": name, "seq": str(seq)}),
        )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), orjson.loads(sys.argv[4]))
