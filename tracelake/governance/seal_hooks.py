"""Sealing from the places that commit: the consumer, ``tracelake compact``, the scheduler, retention, erasure.

:func:`seal_configured` seals with the key the settings name (``TRACELAKE_CHAIN_KEY_FILE``) and does
nothing without one; :func:`seal_quietly` does the same but never raises: ingest, compaction and the
alert scheduler must not stop because the chain could not be extended (the next seal covers what this one
missed; ``tracelake verify`` meanwhile says ``unverifiable``, never ``clean``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from tracelake.errors import TracelakeError
from tracelake.governance.seal import SealReport, seal_lake
from tracelake.governance.signing import configured_key
from tracelake.lake.lake import Lake

log = logging.getLogger("tracelake.governance")


def seal_configured(lake: Lake, key_file: Path | None) -> SealReport | None:
    """Seal ``lake`` with the key at ``key_file``; None when no key is configured. Raises what
    :func:`~tracelake.governance.seal.seal_lake` raises, and ``ConfigError`` for a bad key file."""
    key = configured_key(key_file, None if lake.is_remote else lake.resolved)
    return None if key is None else seal_lake(lake, key)


def seal_quietly(lake: Lake, key_file: Path | None) -> SealReport | None:
    """:func:`seal_configured`, a failure logged on one line and returned as None instead of raised."""
    try:
        return seal_configured(lake, key_file)
    except (OSError, TracelakeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning("commit chain not sealed (verify reports the commits since as unsealed): %s", first)
        return None
