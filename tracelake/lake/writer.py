"""The lake writer interface, the lake's file and directory modes, and two small durable-filesystem helpers.

:class:`LakeWriter` has one method, ``write``; the implementation is the
Delta Lake writer (:class:`tracelake.lake.delta.DeltaLakeWriter`, made by
:meth:`tracelake.lake.lake.Lake.writer`). The pre-Delta Hive-partitioned
Parquet writer lives on in :mod:`tracelake.lake.legacy` only to make lakes
for ``tracelake lake convert`` to convert.

Modes, whatever the umask: files ``0640`` (:data:`LAKE_FILE_MODE`: owner
writes, the owner's group may read, others nothing), directories ``0750``
(:data:`LAKE_DIR_MODE`). Directories that already exist keep their mode.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa

from tracelake import fsutil

LAKE_FILE_MODE = 0o640
LAKE_DIR_MODE = 0o750


class LakeWriter(ABC):
    """Writes batches to one lake table (the one implementation: :class:`tracelake.lake.delta.DeltaLakeWriter`)."""

    @abstractmethod
    def write(self, table: pa.Table, name: str, positions: Mapping[str, int] | None = None) -> int:
        """Durably append ``table`` as batch ``name``, exactly once per source (``positions``: source id → last
        offset covered, recorded with it); return the number of data files added. Raises ``OSError`` (or a
        storage error) when the storage refuses: the caller must then not commit the batch's offsets."""


def make_dirs(path: Path, mode: int = LAKE_DIR_MODE) -> None:
    """``mkdir -p`` with the lake's directory mode (exactly ``mode``, whatever the umask)."""
    fsutil.make_dirs(path, mode)


