"""File-system helpers shared by the SDK's spool and the lake writer (standard library only: the SDK imports it)."""

from __future__ import annotations

import os
from pathlib import Path


def make_dirs(path: Path, mode: int) -> None:
    """``mkdir -p`` where every directory created gets exactly ``mode`` (not ``mode & ~umask``).

    Directories that already exist are left as they are. Raises ``OSError``
    when a path component exists and is not a directory, or cannot be made.
    """
    missing: list[Path] = []
    probe = path
    while not probe.is_dir() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
        except FileExistsError:
            if not directory.is_dir():
                raise
            continue  # a concurrent writer made it (and sets its mode)
        os.chmod(directory, mode)


def fsync_dir(path: Path) -> None:
    """Make a directory's entries durable (a rename or a new file in it survives a crash); raises ``OSError``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
