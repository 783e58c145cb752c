"""The ``governance_log`` table: one append-only row per retention application and per erasure.

Each entry says when (``at``), what (``action``: ``retention`` or ``erase``), who asked (``actor``: the
command line's user or the API key id), under which policy (``policy_digest``: SHA-256 of the policy as
validated), about whom (``subject``: for an erasure the subject's keyed pseudonyms, or a salted SHA-256
when no pseudonym key is set, never the identifier itself) and what was done (``detail``: JSON, the
counts per table and partition, the table versions committed).

Written through the project's Delta writer (:meth:`tracelake.lake.lake.Lake.writer`): appends only, one
transaction per entry, never rewritten; nothing in tracelake deletes from it (retention leaves it alone).
Declared once as :data:`tracelake.lake.tables.GOVERNANCE_LOG`.

Failure modes: ``OSError`` when the storage refuses the append, :class:`tracelake.errors.Unavailable`
when other writers keep winning the commit race (the writer's bounded retries).
"""

from __future__ import annotations

import getpass
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from tracelake.lake.delta import open_table
from tracelake.lake.lake import LakeRef, as_lake
from tracelake.lake.tables import GOVERNANCE_LOG


@dataclass(frozen=True)
class LogEntry:
    """One governance log row as written (``detail`` decoded)."""

    entry_id: str
    at: datetime
    action: str
    actor: str
    policy_digest: str | None
    subject: str | None
    detail: dict[str, Any]


def default_actor() -> str:
    """Who runs a command line: ``cli:<login>`` (``cli:unknown`` when the login cannot be told)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli:unknown"


def append_entry(lake_ref: LakeRef, action: str, detail: Mapping[str, Any], *, actor: str | None = None,
                 policy_digest: str | None = None, subject: str | None = None,
                 at: datetime | None = None) -> LogEntry:
    """Append one entry to ``governance_log`` (created on first use) and return it.

    ``subject`` must already be non-identifying (pseudonyms or a salted hash): this function cannot tell.
    Raises ``OSError`` / :class:`~tracelake.errors.Unavailable` as the writer does.
    """
    lake = as_lake(lake_ref)
    when = (at or datetime.now(UTC)).astimezone(UTC)
    entry = LogEntry(uuid.uuid4().hex, when, action, actor or default_actor(), policy_digest, subject,
                     dict(detail))
    row = {"entry_id": entry.entry_id, "at": when, "action": action, "actor": entry.actor,
           "policy_digest": policy_digest, "subject": subject,
           "detail": orjson.dumps(entry.detail, default=str, option=orjson.OPT_SORT_KEYS).decode(),
           GOVERNANCE_LOG.partition: when.date().isoformat()}
    lake.writer(GOVERNANCE_LOG).write(GOVERNANCE_LOG.to_arrow([row]), f"governance:{action}:{entry.entry_id}")
    return entry


def read_entries(lake_ref: LakeRef) -> list[LogEntry]:
    """Every entry of the log, oldest first; empty when there is none yet."""
    lake = as_lake(lake_ref)
    delta = open_table(lake, GOVERNANCE_LOG)
    if delta is None:
        return []
    rows = delta.to_pyarrow_table().sort_by("at").to_pylist()
    return [LogEntry(r["entry_id"], r["at"], r["action"], r["actor"], r["policy_digest"], r["subject"],
                     orjson.loads(r["detail"] or "{}")) for r in rows]
