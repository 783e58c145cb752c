"""A separate Delta writer process for the concurrency test: appends COUNT one-row commits to TABLE.

Usage: python delta_writer.py TABLE NAME COUNT START_AT OPTIONS_JSON. Each commit carries
``writer`` and ``seq`` in its commit metadata; waits until START_AT (wall clock) so the writers collide.
"""

from __future__ import annotations

import sys
import time

import orjson
import pyarrow as pa
from deltalake import CommitProperties, write_deltalake


def main(table: str, name: str, count: int, start_at: float, options: dict[str, str]) -> None:
    time.sleep(max(0.0, start_at - time.time()))
    for seq in range(count):
        write_deltalake(
            table, pa.table({"writer": [name], "seq": [seq]}), mode="append", storage_options=options,
            commit_properties=CommitProperties(custom_metadata={"writer": name, "seq": str(seq)}),
        )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), orjson.loads(sys.argv[5]))
