"""Lake tables the analytics stage writes: the ``alerts`` table (``metrics.md`` "Drift alerts")."""

from __future__ import annotations

import pyarrow as pa

ALERTS_TABLE = "alerts"

_TS = pa.timestamp("us", tz="UTC")

# One row per alert raised; ``group`` is the JSON object of the group's column values.
# ``tenant`` is the group's tenant when the rule groups by tenant (null otherwise): it is what a
# tenant-scoped reader is filtered on.
ALERTS_SCHEMA = pa.schema(
    [
        ("alert_id", pa.string()),
        ("rule", pa.string()),
        ("metric", pa.string()),
        ("group", pa.string()),
        ("window_start", _TS),
        ("window_end", _TS),
        ("baseline_value", pa.float64()),
        ("current_value", pa.float64()),
        ("delta", pa.float64()),
        ("p_value", pa.float64()),
        ("n_baseline", pa.int64()),
        ("n_current", pa.int64()),
        ("severity", pa.string()),
        ("created_at", _TS),
        ("tenant", pa.string()),
        ("event_date", pa.string()),
    ]
)
