"""Stopping a long-running command cleanly, and its log lines.

``consume``, ``alerts schedule``, ``api``, ``kafka start`` and ``demo`` run
until SIGINT (Ctrl-C) or SIGTERM, then finish what they hold (flush,
commit, close) and exit 0: :func:`stop_on_signals` gives them the event
both signals set. :func:`setup_logging` is the one log format of those
commands (stderr; stdout stays for results).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while the block runs; the old handlers come back after it.

    Neither signal raises inside the block (no ``KeyboardInterrupt``): the
    command polls or waits on the event and stops in its own time. Off the
    main thread (where Python cannot install handlers, e.g. an embedding
    test) the event is returned and only ever set by its holder.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous: dict[signal.Signals, Any] = {}
    for sig in STOP_SIGNALS:
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for old_sig, handler in previous.items():
            signal.signal(old_sig, handler if handler is not None else signal.SIG_DFL)


def setup_logging(level: int = logging.INFO) -> None:
    """Log lines on stderr as ``<time> <LEVEL> <logger>: <message>`` (once per process; later calls do nothing)."""
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)
