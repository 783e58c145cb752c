"""A durable, size-bounded FIFO of encoded events on local disk.

The SDK spools what it could not hand to Kafka and re-sends it later, oldest
first. Contract:

- **Layout.** One directory per spool: numbered segment files
  (``seg-000000000001.jsonl``, one JSON event per line, append-only), a
  ``cursor`` file (``segment offset``: everything before it was delivered) and
  a ``lock`` file. The owning process holds an exclusive ``flock`` on
  ``lock``; a spool whose lock is free belongs to a process that has gone and
  may be adopted by another (:func:`orphaned_spools`).
- **Durability.** :meth:`Spool.append` writes and, unless ``fsync=False``,
  fsyncs before it returns; :meth:`Spool.ack` persists the cursor atomically
  (temp file + rename). A crash between a send and its ``ack`` re-sends those
  events: delivery is at-least-once, and the lake de-duplicates by
  ``event_id``.
- **Bound and policy.** At most ``max_bytes`` of un-delivered events are kept.
  When an append would pass the bound, the events that do not fit are
  **dropped, newest first**, and counted in ``dropped``: the spool keeps the
  oldest, contiguous history of each run rather than a history with holes.
- A torn last line (crash mid-write) is skipped and counted in ``corrupt``.
- **Private at rest.** Spooled events are raw (not yet redacted): every
  directory the spool creates (the spool root included) is ``0700`` and every
  file (segments, ``cursor``, ``lock``) ``0600``, set explicitly so the umask
  does not matter. Opening an existing spool (adopting an orphan) tightens
  its directory and files to the same modes.

Not thread-safe by itself; the SDK calls it under its own lock.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tracelake.errors import Unavailable
from tracelake.fsutil import fsync_dir, make_dirs

SEGMENT_BYTES = 4 * 1024 * 1024
DIR_MODE = 0o700
FILE_MODE = 0o600
_PREFIX = "seg-"
_SUFFIX = ".jsonl"


class SpoolLocked(Unavailable, RuntimeError):
    """Another live process owns this spool directory."""


def _segment_name(number: int) -> str:
    return f"{_PREFIX}{number:012d}{_SUFFIX}"


def _make_private_dirs(path: Path) -> None:
    """``mkdir -p`` whose new directories are ``0700`` whatever the umask; existing parents are left alone."""
    make_dirs(path, DIR_MODE)


def _open_private(path: Path, flags: int) -> int:
    """A file descriptor on ``path`` (created ``0600`` when missing, whatever the umask)."""
    fd = os.open(path, flags | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def _append(path: Path) -> Any:
    return os.fdopen(_open_private(path, os.O_WRONLY | os.O_APPEND), "ab")


class Spool:
    """One process's spool directory; see the module docstring for the contract."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        max_bytes: int = 256 * 1024 * 1024,
        segment_bytes: int = SEGMENT_BYTES,
        fsync: bool = True,
    ) -> None:
        self.directory = Path(directory)
        _make_private_dirs(self.directory)
        os.chmod(self.directory, DIR_MODE)  # an adopted spool too: raw events are the owner's alone
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self.dropped = 0
        self.corrupt = 0
        self._lock_fd = _open_private(self.directory / "lock", os.O_RDWR)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise SpoolLocked(f"spool {self.directory} is in use by another process") from None
        for entry in self.directory.iterdir():
            if entry.is_file() and entry.stat().st_mode & 0o777 != FILE_MODE:
                entry.chmod(FILE_MODE)  # written by an older version under a looser umask
        self._cursor = self._read_cursor()
        self._drop_delivered_segments()
        self._records = self._count_pending()

    # -- bookkeeping -------------------------------------------------------
    def _segments(self) -> list[int]:
        numbers = []
        for entry in self.directory.iterdir():
            name = entry.name
            if name.startswith(_PREFIX) and name.endswith(_SUFFIX):
                numbers.append(int(name[len(_PREFIX) : -len(_SUFFIX)]))
        return sorted(numbers)

    def _read_cursor(self) -> tuple[int, int]:
        try:
            seg, off = (self.directory / "cursor").read_text().split()
            return int(seg), int(off)
        except (FileNotFoundError, ValueError):
            segments = self._segments()
            return (segments[0] if segments else 1), 0

    def _write_cursor(self) -> None:
        tmp = self.directory / "cursor.tmp"
        with os.fdopen(_open_private(tmp, os.O_WRONLY | os.O_TRUNC), "w") as fh:
            fh.write(f"{self._cursor[0]} {self._cursor[1]}\n")
            if self.fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, self.directory / "cursor")

    def _drop_delivered_segments(self) -> None:
        for number in self._segments():
            if number < self._cursor[0]:
                (self.directory / _segment_name(number)).unlink(missing_ok=True)

    def _count_pending(self) -> int:
        return sum(1 for _ in self._iter_pending())

    def _iter_pending(self) -> Iterator[tuple[int, int, bytes]]:
        """(segment, end offset, record) for every undelivered record, oldest first."""
        seg0, off0 = self._cursor
        for number in self._segments():
            if number < seg0:
                continue
            start = off0 if number == seg0 else 0
            with open(self.directory / _segment_name(number), "rb") as fh:
                fh.seek(start)
                offset = start
                for line in fh:
                    offset += len(line)
                    if not line.endswith(b"\n"):
                        # Torn write at a crash: the event was never acknowledged
                        # to anyone, so skipping it loses nothing durable.
                        self.corrupt += 1
                        continue
                    yield number, offset, line[:-1]

    # -- public ------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Records appended and not yet acknowledged."""
        return self._records

    @property
    def size_bytes(self) -> int:
        total = 0
        for number in self._segments():
            total += (self.directory / _segment_name(number)).stat().st_size
        return total - (self._cursor[1] if self._cursor[0] in self._segments() else 0)

    def append(self, records: list[bytes], sync: bool | None = None) -> int:
        """Append records (each one JSON line without its newline).

        Returns how many were stored; the rest were dropped (bound reached) and
        counted in ``dropped``. ``sync=False`` skips the fsync for this call
        (the overload path on the agent's thread; the next synced append or the
        OS makes it durable).
        """
        do_sync = self.fsync if sync is None else sync and self.fsync
        if not records:
            return 0
        budget = self.max_bytes - self.size_bytes
        segments = self._segments()
        number = segments[-1] if segments else max(self._cursor[0], 1)
        created = not segments
        path = self.directory / _segment_name(number)
        written = path.stat().st_size if path.exists() else 0
        stored = 0
        fh = _append(path)  # rolled over inside the loop
        try:
            for record in records:
                size = len(record) + 1
                if size > budget:
                    break
                if written and written + size > self.segment_bytes:
                    self._sync_close(fh, do_sync)
                    number += 1
                    created = True
                    fh = _append(self.directory / _segment_name(number))
                    written = 0
                fh.write(record + b"\n")
                written += size
                budget -= size
                stored += 1
        finally:
            self._sync_close(fh, do_sync)
        if created and do_sync:
            fsync_dir(self.directory)
        self.dropped += len(records) - stored
        self._records += stored
        return stored

    @staticmethod
    def _sync_close(fh: Any, sync: bool) -> None:
        if sync:
            fh.flush()
            os.fsync(fh.fileno())
        fh.close()

    def peek(self, limit: int) -> list[bytes]:
        """Up to ``limit`` undelivered records, oldest first, without removing them."""
        out: list[bytes] = []
        for _, _, record in self._iter_pending():
            out.append(record)
            if len(out) >= limit:
                break
        return out

    def ack(self, count: int) -> None:
        """Mark the ``count`` oldest pending records delivered; delete spent segments."""
        if count <= 0:
            return
        seen = 0
        position = self._cursor
        for number, offset, _ in self._iter_pending():
            position = (number, offset)
            seen += 1
            if seen >= count:
                break
        self._cursor = position
        self._records = max(0, self._records - seen)
        if self._records == 0:
            # Everything delivered: start the next segment clean.
            last = self._segments()
            self._cursor = ((last[-1] if last else position[0]) + 1, 0)
        self._write_cursor()
        self._drop_delivered_segments()

    def close(self, remove_if_empty: bool = False) -> None:
        """Release the lock; optionally remove the directory when nothing is pending."""
        if self._lock_fd < 0:
            return
        if remove_if_empty and self._records == 0:
            for entry in self.directory.iterdir():
                entry.unlink(missing_ok=True)
            self.directory.rmdir()
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
        self._lock_fd = -1


def new_spool_dir(root: str | os.PathLike[str]) -> Path:
    """A fresh per-process directory under ``root``."""
    return Path(root) / f"p{os.getpid()}-{uuid.uuid4().hex[:12]}"


def orphaned_spools(root: str | os.PathLike[str], max_bytes: int, fsync: bool = True) -> Iterator[Spool]:
    """Spools under ``root`` whose owner has gone (lock free), each opened and locked."""
    base = Path(root)
    if not base.is_dir():
        return
    for entry in sorted(base.iterdir()):
        if not entry.is_dir() or not (entry / "lock").exists():
            continue
        try:
            yield Spool(entry, max_bytes=max_bytes, fsync=fsync)
        except (SpoolLocked, OSError):
            continue
