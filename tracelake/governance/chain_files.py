"""Byte-level access to a lake's objects for the commit chain: list a folder, hash a file, read and write small files.

One code path for a local lake and an ``s3://`` one: both go through a pyarrow filesystem (the lake's own
S3 options, :func:`tracelake.lake.lake._filesystem`). Paths here are *lake-relative* (``events/_delta_log``),
joined to the lake's root by :class:`LakeObjects`.

Hashing streams the file in 8 MiB blocks (:data:`BLOCK`): memory stays flat whatever the file's size.

Failure modes: ``FileNotFoundError`` for an object that is not there; other ``OSError`` when the storage
refuses (callers turn them into :class:`tracelake.errors.Unavailable`).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pyarrow import fs

from tracelake.lake.lake import Lake, _filesystem

BLOCK = 8 * 1024 * 1024
# Files hashed at once: hashlib and pyarrow's reads release the GIL, so threads use every core on local disk
# and hide the round trips of S3.
HASH_WORKERS = max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class Entry:
    """One object under a folder: its path relative to the folder listed, its size, when it was last written
    (seconds since the epoch; 0 when the storage does not say)."""

    path: str
    size: int
    mtime: float = 0.0


class LakeObjects:
    """The objects of one lake (see the module docstring)."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        found: Any = _filesystem(lake)
        self.fs: fs.FileSystem = found if found is not None else fs.LocalFileSystem()
        self.base = lake.uri.split("://", 1)[1] if lake.is_remote else str(lake.resolved)
        self.base = self.base.rstrip("/")
        # Hashes :meth:`sha256_many` took through this object (data files are written once, never changed in
        # place by the lake): a seal that lost a race re-reads the chain without hashing the same files again.
        # Verify makes a new object per run, so it always reads the bytes.
        self.hashed: dict[str, tuple[str, int]] = {}

    def full(self, relative: str) -> str:
        return f"{self.base}/{relative.lstrip('/')}" if relative else self.base

    def listing(self, folder: str, *, recursive: bool = False) -> list[Entry]:
        """Files under ``folder`` (paths relative to it, sorted); empty when the folder does not exist."""
        root = self.full(folder)
        selector = fs.FileSelector(root, recursive=recursive, allow_not_found=True)
        out = []
        for info in self.fs.get_file_info(selector):
            if info.type == fs.FileType.File:
                when = info.mtime.timestamp() if info.mtime is not None else 0.0
                out.append(Entry(info.path[len(root) + 1:], int(info.size or 0), when))
        return sorted(out, key=lambda e: e.path)

    def folders(self, folder: str = "") -> list[str]:
        """Names of the folders directly under ``folder``."""
        root = self.full(folder)
        selector = fs.FileSelector(root, recursive=False, allow_not_found=True)
        return sorted(info.path[len(root) + 1:] for info in self.fs.get_file_info(selector)
                      if info.type == fs.FileType.Directory)

    def exists(self, relative: str) -> bool:
        return bool(self.fs.get_file_info(self.full(relative)).type == fs.FileType.File)

    def read(self, relative: str) -> bytes:
        """The whole object (small files: commits, keys)."""
        with self.fs.open_input_stream(self.full(relative)) as stream:
            return bytes(stream.read())

    def sha256(self, relative: str) -> tuple[str, int]:
        """(hex SHA-256, size) of the object, read in :data:`BLOCK` blocks."""
        digest = hashlib.sha256()
        size = 0
        with self.fs.open_input_stream(self.full(relative)) as stream:
            while True:
                block = stream.read(BLOCK)
                if not block:
                    break
                size += len(block)
                digest.update(block)
        return digest.hexdigest(), size

    def sha256_many(self, relatives: list[str]) -> dict[str, tuple[str, int] | None]:
        """:meth:`sha256` of each object, :data:`HASH_WORKERS` at a time; None for an object that is not there."""

        def one(relative: str) -> tuple[str, int] | None:
            if relative in self.hashed:
                return self.hashed[relative]
            try:
                found = self.sha256(relative)
            except FileNotFoundError:
                return None
            self.hashed[relative] = found
            return found

        if len(relatives) <= 1:
            return {relative: one(relative) for relative in relatives}
        with ThreadPoolExecutor(HASH_WORKERS) as pool:
            return dict(zip(relatives, pool.map(one, relatives), strict=True))

    def write(self, relative: str, data: bytes) -> None:
        """Create or replace a small object (the published public key) at once: a reader sees the old bytes or
        the new ones, never part (an S3 PUT is atomic; locally a temporary file is renamed into place)."""
        where = self.full(relative)
        if self.lake.is_remote:
            with self.fs.open_output_stream(where) as out:
                out.write(data)
            return
        self.fs.create_dir(where.rsplit("/", 1)[0], recursive=True)
        temporary = f"{where}.{uuid.uuid4().hex}.tmp"
        with self.fs.open_output_stream(temporary) as out:
            out.write(data)
        self.fs.move(temporary, where)
