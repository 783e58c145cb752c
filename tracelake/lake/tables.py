"""The lake's tables, each declared once: name, Arrow schema, partition column, JSON columns, identity.

Every module that names a table, builds its rows or reads its columns takes
them from here: the ingest writer, compaction, the alerts store, the DuckDB
views, the run timelines.

The ``events`` schema is the contract (:class:`tracelake.contract.model.TraceEvent`)
flattened: one column per contract field, nested values (objects, lists,
``tool_result``) as JSON text, then the pipeline's own columns
(:data:`EVENTS_PIPELINE_COLUMNS`). :func:`contract_problems` checks the two
against each other (tests/lake runs it), so a field added to the contract
without a column fails the suite instead of vanishing from the lake; and
:meth:`Table.to_arrow` refuses a row with a key the schema lacks instead of
dropping it, as ``pa.Table.from_pylist(rows, schema=…)`` would.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

import pyarrow as pa

from tracelake.lake.layout import PARTITION_COLUMN

_TS = pa.timestamp("us", tz="UTC")

# Contract fields whose values are JSON (objects, lists, any value), stored as JSON text; DuckDB reads them with ->>.
CONTRACT_JSON_COLUMNS: tuple[str, ...] = ("error", "attributes", "tool_args", "tool_result", "references")

# Contract fields stored under another column (field -> column, or -> "attributes" as a key there, where the
# field's value wins over an attribute of the same name): a field listed here must say where it goes, and
# docs/ingest.md ("Lake layout") must say so too. The outcome_confirmed fields live in ``attributes`` so that
# adding the event type changed no table schema (lakes written before it keep working, no schema migration).
CONTRACT_FIELD_MAPPINGS: Mapping[str, str] = {
    "confirmation": "attributes", "confirmation_source": "attributes", "amount": "attributes",
    "currency": "attributes",
}



def mapped_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    """``event`` with each field of :data:`CONTRACT_FIELD_MAPPINGS` moved where it is stored (into the
    ``attributes`` object, over a same-named attribute); the event unchanged when it has none."""
    present = [name for name in CONTRACT_FIELD_MAPPINGS if name in event]
    if not present:
        return dict(event)
    out = {k: v for k, v in event.items() if k not in CONTRACT_FIELD_MAPPINGS}
    for name in present:
        target = CONTRACT_FIELD_MAPPINGS[name]
        if target == "attributes":
            attributes = dict(out.get("attributes") or {})
            attributes[name] = event[name]
            out["attributes"] = attributes
        else:
            out[target] = event[name]
    return out


# Columns of ``events`` that are not contract fields: added by the pipeline (processor.to_row).
EVENTS_PIPELINE_COLUMNS: tuple[str, ...] = (
    "cost_source", "redactions", "ingested_at", "source", "kafka_topic", "kafka_partition", "kafka_offset",
    PARTITION_COLUMN,
)

EVENTS_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("schema_version", pa.string()),
        ("event_type", pa.string()),
        ("ts", _TS),
        ("run_id", pa.string()),
        ("workflow", pa.string()),
        ("workflow_version", pa.string()),
        ("tenant", pa.string()),
        ("team", pa.string()),
        ("release", pa.string()),
        ("environment", pa.string()),
        ("agent", pa.string()),
        ("span_id", pa.string()),
        ("parent_span_id", pa.string()),
        ("duration_ms", pa.float64()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("attributes", pa.string()),
        ("input", pa.string()),
        ("initiator", pa.string()),
        ("outcome", pa.string()),
        ("output", pa.string()),
        ("outcome_reason", pa.string()),
        ("model", pa.string()),
        ("provider", pa.string()),
        ("model_tier", pa.string()),
        ("input_tokens", pa.int64()),
        ("cached_input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("cost_usd", pa.float64()),
        ("prompt", pa.string()),
        ("completion", pa.string()),
        ("tool_name", pa.string()),
        ("tool_args", pa.string()),
        ("tool_result", pa.string()),
        ("schema_valid", pa.bool_()),
        ("success", pa.bool_()),
        ("mutating", pa.bool_()),
        ("idempotency_key", pa.string()),
        ("retry_of", pa.string()),
        ("query", pa.string()),
        ("references", pa.string()),
        ("action", pa.string()),
        ("risk_tier", pa.string()),
        ("rule", pa.string()),
        ("decision", pa.string()),
        ("approver", pa.string()),
        ("wait_ms", pa.float64()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("trigger_event_id", pa.string()),
        ("check", pa.string()),
        ("passed", pa.bool_()),
        ("budget", pa.string()),
        ("limit", pa.float64()),
        ("used", pa.float64()),
        ("name", pa.string()),
        # pipeline columns (EVENTS_PIPELINE_COLUMNS)
        ("cost_source", pa.string()),
        ("redactions", pa.string()),
        ("ingested_at", _TS),
        ("source", pa.string()),
        ("kafka_topic", pa.string()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
        (PARTITION_COLUMN, pa.string()),
    ]
)

DEAD_LETTERS_SCHEMA = pa.schema(
    [
        ("received_at", _TS),
        ("source", pa.string()),
        ("reason", pa.string()),
        ("payload", pa.string()),
        ("kafka_topic", pa.string()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
        (PARTITION_COLUMN, pa.string()),
    ]
)

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
        (PARTITION_COLUMN, pa.string()),
    ]
)


class UnknownColumns(ValueError):
    """A row carries keys its table has no column for: writing it would silently drop them.

    A bug, not bad input (the contract and the schema disagree, or a row builder invents a key):
    raised rather than dropping data; ``tests/lake`` keeps the contract and the schema in step.
    """


@dataclass(frozen=True)
class Table:
    """One lake table.

    - ``schema``: every column, the partition column included (it lives in the directory name, not the file).
    - ``partition``: the column the table is partitioned by, one directory per value (a UTC day).
    - ``json_columns``: columns holding JSON text (decoded by readers that return objects).
    - ``identity``: the columns that identify one logical row; copies of a row (re-delivery, a re-sent
      event, a retried write) share them, and readers and compaction keep one copy.
    - ``copy_order``: the order that picks the copy kept (the first).
    """

    name: str
    schema: pa.Schema
    identity: tuple[str, ...]
    copy_order: tuple[str, ...]
    partition: str = PARTITION_COLUMN
    json_columns: tuple[str, ...] = ()
    _names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = frozenset(self.schema.names)
        missing = [c for c in (self.partition, *self.identity, *self.copy_order, *self.json_columns) if c not in names]
        if missing:
            raise ValueError(f"table {self.name}: {missing} are not columns of its schema")
        object.__setattr__(self, "_names", names)

    @property
    def file_schema(self) -> pa.Schema:
        """The schema of the table's files: without the partition column (it is in the path)."""
        return self.schema.remove(self.schema.get_field_index(self.partition))

    @property
    def delta_schema(self) -> pa.Schema:
        """The schema of the Delta table: every column, the partition column as a DATE (Spark, Trino and
        DuckDB then read it as a date; rows carry it as ``YYYY-MM-DD`` text, see :meth:`for_delta`)."""
        index = self.schema.get_field_index(self.partition)
        return self.schema.set(index, pa.field(self.partition, pa.date32()))

    def for_delta(self, table: pa.Table) -> pa.Table:
        """``table`` (this table's columns, any subset in any order) with exactly :attr:`delta_schema`:
        missing columns as nulls, the partition column cast to a date. Raises :class:`UnknownColumns` for a
        column the table lacks and ``pyarrow.ArrowException`` for a value that does not fit."""
        self.check_columns(table)
        columns = []
        for column in self.delta_schema:
            if column.name in table.column_names:
                columns.append(table.column(column.name).cast(column.type))
            else:
                columns.append(pa.nulls(table.num_rows, column.type))
        return pa.Table.from_arrays(columns, schema=self.delta_schema)

    def to_arrow(self, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
        """``rows`` as an Arrow table of exactly this schema; missing keys are nulls.

        Raises :class:`UnknownColumns` naming the keys when a row has a key the schema lacks (where
        ``pa.Table.from_pylist`` would drop it without a word), and ``pyarrow.ArrowException`` when a
        value does not fit its column's type.
        """
        names = self._names
        for row in rows:
            if not names.issuperset(row):
                extra = sorted(set(row) - names)
                raise UnknownColumns(f"table {self.name} has no column for {', '.join(map(repr, extra))}; "
                                     "add it to the table's schema (tracelake/lake/tables.py)")
        return pa.Table.from_pylist(list(rows), schema=self.schema)

    def check_columns(self, table: pa.Table) -> None:
        """Raise :class:`UnknownColumns` when ``table`` has a column this table lacks (it would be written)."""
        extra = [name for name in table.column_names if name not in self._names]
        if extra:
            raise UnknownColumns(f"table {self.name} has no column for {', '.join(map(repr, extra))}")


EVENTS = Table(
    "events", EVENTS_SCHEMA,
    identity=("tenant", "event_id"),
    copy_order=("ingested_at", "kafka_partition", "kafka_offset"),
    json_columns=(*CONTRACT_JSON_COLUMNS, "redactions"),
)
DEAD_LETTERS = Table(
    "dead_letters", DEAD_LETTERS_SCHEMA,
    identity=("source", "kafka_topic", "kafka_partition", "kafka_offset"),
    copy_order=("received_at",),
)
ALERTS = Table(
    "alerts", ALERTS_SCHEMA,
    identity=("alert_id",),
    copy_order=("created_at",),
    json_columns=("group",),
)

# The run rollup (tracelake.queries.rollup): one row per run (tenant, run_id), exactly the columns of the
# ``runs`` view (queries/sql/run_facts.sql computes both). Partitioned by the day of the run's
# finish (of its first event while in flight). Maintained by ``refresh_runs``, never by the ingest writer;
# kept out of TABLES (compaction, conversion, lake check and Spark's table list do not handle it yet).
RUNS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("tenant", pa.string()),
        ("workflow", pa.string()),
        ("workflow_version", pa.string()),
        ("team", pa.string()),
        ("release", pa.string()),
        ("environment", pa.string()),
        ("started_at", _TS),
        ("finished_at", _TS),
        ("outcome", pa.string()),
        ("total_cost_usd", pa.float64()),
        ("llm_calls", pa.int64()),
        ("tool_calls", pa.int64()),
        ("model_ms", pa.float64()),
        ("tool_ms", pa.float64()),
        ("run_ms", pa.float64()),
        ("escalated", pa.bool_()),
        ("fell_back", pa.bool_()),
        ("first_ts", _TS),
        # beyond the runs view
        ("events", pa.int64()),
        ("cost_reported_usd", pa.float64()),
        ("cost_estimated_usd", pa.float64()),
        ("tool_calls_validity_known", pa.int64()),
        ("tool_calls_valid", pa.int64()),
        ("tool_calls_success_known", pa.int64()),
        ("tool_calls_successful", pa.int64()),
        ("postcondition_checks", pa.int64()),
        ("postconditions_passed", pa.int64()),
        ("postconditions_failed", pa.int64()),
        ("escalations", pa.int64()),
        ("fallbacks", pa.int64()),
        ("safe_fallback_at", _TS),
        ("safe_fallback_trigger", pa.string()),
        ("ttsf_ms", pa.float64()),
        ("last_ts", _TS),
        (PARTITION_COLUMN, pa.string()),
    ]
)
RUNS = Table(
    "runs", RUNS_SCHEMA,
    identity=("tenant", "run_id"),
    copy_order=("first_ts",),
)

# Workflow flags (tracelake.queries.flags, docs/flags.md): one row per change, never updated, so the table is
# the audit trail (who, when, old -> new, why); a workflow's flag is its latest row. Partitioned by the day of
# the change. Kept out of TABLES like RUNS (small; compaction, conversion and Spark do not handle it).
FLAGS_SCHEMA = pa.schema(
    [
        ("change_id", pa.string()),
        ("tenant", pa.string()),
        ("workflow", pa.string()),
        ("action", pa.string()),
        ("rate", pa.float64()),
        ("version", pa.string()),
        ("reason", pa.string()),
        ("who", pa.string()),
        ("changed_at", _TS),
        ("previous_action", pa.string()),
        ("previous_rate", pa.float64()),
        ("previous_version", pa.string()),
        (PARTITION_COLUMN, pa.string()),
    ]
)
FLAGS = Table(
    "flags", FLAGS_SCHEMA,
    identity=("change_id",),
    copy_order=("changed_at",),
)

# Control verdicts (tracelake.queries.controls): one row per run and control version (docs/controls.md),
# maintained like the runs rollup (refresh_controls) and partitioned the same way (the day of the run's finish,
# of its first event while in flight). ``evidence`` is the JSON list of the event_ids that decided the verdict.
# Kept out of TABLES like RUNS.
CONTROL_RESULTS_SCHEMA = pa.schema(
    [
        ("tenant", pa.string()),
        ("run_id", pa.string()),
        ("control_id", pa.string()),
        ("control_version", pa.int64()),
        ("severity", pa.string()),
        ("verdict", pa.string()),
        ("evidence", pa.string()),
        ("workflow", pa.string()),
        ("workflow_version", pa.string()),
        ("team", pa.string()),
        ("release", pa.string()),
        ("environment", pa.string()),
        ("finished_at", _TS),
        ("first_ts", _TS),
        (PARTITION_COLUMN, pa.string()),
    ]
)
CONTROL_RESULTS = Table(
    "control_results", CONTROL_RESULTS_SCHEMA,
    identity=("tenant", "run_id", "control_id", "control_version"),
    copy_order=("first_ts",),
    json_columns=("evidence",),
)

# The governance log (tracelake.governance.log): one row per retention application or erasure, append-only
# (never rewritten, never expired by the retention policy). ``subject`` never holds an identifier: keyed
# pseudonyms or a salted hash; ``detail`` is the JSON of what was done (counts per table and partition).
# Partitioned by the day of ``at``. Kept out of TABLES like RUNS (compaction and the views do not handle it).
GOVERNANCE_LOG_SCHEMA = pa.schema(
    [
        ("entry_id", pa.string()),
        ("at", _TS),
        ("action", pa.string()),
        ("actor", pa.string()),
        ("policy_digest", pa.string()),
        ("subject", pa.string()),
        ("detail", pa.string()),
        (PARTITION_COLUMN, pa.string()),
    ]
)
GOVERNANCE_LOG = Table(
    "governance_log", GOVERNANCE_LOG_SCHEMA,
    identity=("entry_id",),
    copy_order=("at",),
    json_columns=("detail",),
)

TABLES: tuple[Table, ...] = (EVENTS, DEAD_LETTERS, ALERTS)
_BY_NAME = {table.name: table for table in TABLES}


def by_name(name: str) -> Table:
    """The declaration of table ``name``; ``KeyError`` naming the known tables when there is none."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no lake table {name!r} (tables: {', '.join(_BY_NAME)})") from None


# -- the events schema against the contract --------------------------------------------------------------------------

def _column_kind(annotation: Any) -> str:
    """What column a contract field's type needs: ``json``, ``string``, ``int64``, ``float64``, ``bool``,
    ``timestamp``; ``unknown`` for a type this mapping does not know (the check then fails: extend it)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _column_kind(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        kinds = {_column_kind(arg) for arg in typing.get_args(annotation) if arg is not type(None)}
        return kinds.pop() if len(kinds) == 1 else "json"
    if origin is typing.Literal:
        kinds = {_column_kind(type(arg)) for arg in typing.get_args(annotation)}
        return kinds.pop() if len(kinds) == 1 else "unknown"
    if annotation is Any or origin in (dict, list, tuple, set) or annotation in (dict, list):
        return "json"
    if isinstance(annotation, type):
        from pydantic import BaseModel

        if issubclass(annotation, BaseModel):
            return "json"
        if issubclass(annotation, bool):
            return "bool"
        if issubclass(annotation, Enum) or issubclass(annotation, str):
            return "string"
        if issubclass(annotation, int):
            return "int64"
        if issubclass(annotation, float):
            return "float64"
        if issubclass(annotation, datetime):
            return "timestamp"
    return "unknown"


_ARROW_KIND = {"json": pa.string(), "string": pa.string(), "int64": pa.int64(), "float64": pa.float64(),
               "bool": pa.bool_(), "timestamp": _TS}


def contract_problems(model: Any = None, events: Table = EVENTS,
                      mappings: Mapping[str, str] = CONTRACT_FIELD_MAPPINGS,
                      pipeline_columns: Iterable[str] = EVENTS_PIPELINE_COLUMNS) -> list[str]:
    """Where the ``events`` table and the contract model disagree; empty when they fit. One line each.

    Every model field needs a column of the right type (nested values: a string column listed in
    ``json_columns``), or an entry in ``mappings``; every column must be a model field or a pipeline
    column. ``model`` defaults to :class:`~tracelake.contract.model.TraceEvent` (a parameter so the check
    itself can be tested with a model that gained a field).
    """
    if model is None:
        from tracelake.contract.model import TraceEvent

        model = TraceEvent
    problems: list[str] = []
    fields = model.model_fields
    for name, info in fields.items():
        if name in mappings:
            if mappings[name] not in events.schema.names:
                problems.append(f"contract field {name!r} is mapped to {mappings[name]!r}, which is no column")
            continue
        kind = _column_kind(info.annotation)
        if name not in events.schema.names:
            problems.append(f"contract field {name!r} has no column in the {events.name} table "
                            "(add one to tracelake/lake/tables.py, or map it in CONTRACT_FIELD_MAPPINGS)")
            continue
        if kind == "unknown":
            problems.append(f"contract field {name!r}: type {info.annotation!r} has no known column type")
            continue
        column = events.schema.field(name).type
        if column != _ARROW_KIND[kind]:
            problems.append(f"contract field {name!r} ({kind}) is stored as {column}, expected {_ARROW_KIND[kind]}")
        if (kind == "json") != (name in events.json_columns):
            where = "missing from" if kind == "json" else "listed in"
            problems.append(f"contract field {name!r} ({kind}) is {where} the table's JSON columns")
    extra = set(pipeline_columns)
    for name in events.schema.names:
        if name not in fields and name not in extra and name not in mappings.values():
            problems.append(f"column {name!r} is neither a contract field nor a pipeline column")
    return problems
