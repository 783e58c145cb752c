"""A gate for the OTLP work, in a module of its own: the route's worker process unpickles it by this name."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tracelake.api.otlp_work import ingest_otlp


class Gate:
    """``ingest_otlp`` held at a gate: it tells which process it runs in, then waits until the test lets it
    through (a FIFO: opening it blocks until the other end opens). Picklable, for the route's worker process."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        os.mkfifo(directory / "gate")

    def __call__(self, *args: Any) -> Any:
        (self.directory / "pid.tmp").write_text(str(os.getpid()))
        (self.directory / "pid.tmp").rename(self.directory / "pid")
        with open(self.directory / "gate") as gate:
            gate.read()
        return ingest_otlp(*args)

    def reached_in(self) -> int | None:
        """The pid of the process holding the work at the gate, once it is there."""
        try:
            return int((self.directory / "pid").read_text())
        except FileNotFoundError:
            return None

    def release(self) -> None:
        """Let the work through; nothing to do when it never reached the gate."""
        try:
            fd = os.open(self.directory / "gate", os.O_WRONLY | os.O_NONBLOCK)  # ENXIO: nobody at the gate
        except OSError:
            return
        os.close(fd)
