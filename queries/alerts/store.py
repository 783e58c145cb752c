"""The lake's ``alerts`` table: ``<lake>/alerts/event_date=YYYY-MM-DD/alerts-<digest>.parquet``.

- :func:`store_new` keeps only alerts whose ``alert_id`` is not stored yet
  (ids are deterministic, so re-running an evaluation stores nothing twice),
  then writes them with the lake's writer (:meth:`tracelake.lake.lake.Lake.writer`):
  temp file, fsync, rename, directory fsync. The table (schema, JSON column
  ``group``) is declared in :mod:`tracelake.lake.tables`. The file name is a digest of the ids it holds, so a retry
  after a crash replaces the same file instead of adding a copy.
- The ``alerts`` view de-duplicates by ``alert_id`` as well, for two
  evaluations racing (a cron run and a manual one).
- :func:`list_alerts` reads them back (API ``GET /v1/alerts``, tenant-scoped
  through the connection).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa

from tracelake.lake.lake import LakeRef, as_lake
from tracelake.lake.tables import ALERTS
from tracelake.queries.engine import LakeConnection


def stored_ids(con: LakeConnection, ids: Sequence[str]) -> set[str]:
    """The subset of ``ids`` already in the ``alerts`` table."""
    if not ids:
        return set()
    rows = con.query("SELECT alert_id FROM alerts WHERE list_contains($ids, alert_id)", {"ids": list(ids)},
                     name="alerts: stored ids").rows
    return {row[0] for row in rows}


def to_table(alerts: Sequence[dict[str, Any]]) -> pa.Table:
    """Alerts as rows of the ``alerts`` table: ``group`` as JSON text, partitioned by the ``created_at`` day.

    Raises :class:`~tracelake.lake.tables.UnknownColumns` for a key the table has no column for."""
    rows = []
    for alert in alerts:
        row = {**alert, "group": orjson.dumps(alert["group"], option=orjson.OPT_SORT_KEYS).decode()}
        row[ALERTS.partition] = alert["created_at"].strftime("%Y-%m-%d")
        rows.append(row)
    return ALERTS.to_arrow(rows)


def store_new(lake: LakeRef, con: LakeConnection,
              alerts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Durably add the alerts not stored yet to ``lake`` (a :class:`~tracelake.lake.lake.Lake` or its root);
    return those (the ones to announce). Raises OSError on disk errors."""
    known = stored_ids(con, [a["alert_id"] for a in alerts])
    fresh, seen = [], set(known)
    for alert in alerts:
        if alert["alert_id"] not in seen:
            seen.add(alert["alert_id"])
            fresh.append(alert)
    if fresh:
        digest = hashlib.sha256("\n".join(sorted(a["alert_id"] for a in fresh)).encode()).hexdigest()[:24]
        as_lake(lake).writer(ALERTS).write(to_table(fresh), f"alerts-{digest}")
    return fresh


def list_alerts(con: LakeConnection, *, since: datetime | None = None, until: datetime | None = None,
                rule: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Stored alerts, newest first, ``group`` as a dict; ``since``/``until`` select by ``created_at``."""
    sql = """
        SELECT * EXCLUDE (event_date) FROM alerts
        WHERE ($since IS NULL OR created_at >= $since) AND ($until IS NULL OR created_at < $until)
          AND ($rule IS NULL OR rule = $rule)
        ORDER BY created_at DESC, alert_id
        LIMIT $limit
    """
    params = {"since": since, "until": until, "rule": rule, "limit": limit}
    rows = con.query(sql, params, name="alerts: list").dicts()
    for row in rows:
        row["group"] = orjson.loads(row["group"]) if row["group"] else {}
    return rows
