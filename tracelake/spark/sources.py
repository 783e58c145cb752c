"""DuckDB's file lists (``read_parquet([...], hive_partitioning = true, union_by_name = true)``) as Spark views.

The fast path's view statements (:func:`tracelake.queries.views.view_statements` over the lake as it is: clean
days, open days, the runs rollup and its tail) name the exact Parquet files each part reads. :class:`FileViews`
turns each such list into a Spark temporary view over the same files (``__tracelake_files_<n>``; one view per
distinct list, so the clean prefix of a day read twice is one relation) and is the sqlglot transform that puts
the view's name where the ``read_parquet(...)`` call was.

How the files are read: ``spark.read.schema(S).option("basePath", table).parquet(*files)``, ``S`` the lake
table's declared schema (:mod:`tracelake.lake.tables`) with the partition column as a DATE read from the
``event_date=`` directory, as DuckDB's hive partitioning reads it. A file that lacks a declared column gives
NULLs for it (DuckDB's ``union_by_name``). A file that is not under one of the lake's tables raises
``ValueError``: the statements only ever list table files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from tracelake.lake.lake import Lake
from tracelake.lake.tables import RUNS, TABLES, Table

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

FILES_PREFIX = "__tracelake_files_"

_SPARK_TYPES = {
    pa.string(): "STRING", pa.float64(): "DOUBLE", pa.int64(): "BIGINT", pa.int32(): "INT", pa.bool_(): "BOOLEAN",
    pa.timestamp("us", tz="UTC"): "TIMESTAMP", pa.date32(): "DATE",
}


def spark_path(uri: str) -> str:
    """Where Spark reads a file or table URI: ``s3://`` as Hadoop's ``s3a://``, anything else as it is."""
    return "s3a://" + uri[len("s3://"):] if uri.startswith("s3://") else uri


def schema_ddl(table: Table) -> str:
    """The Spark DDL of ``table``'s declared columns, the partition column as a DATE."""
    columns = []
    for field in table.schema:
        kind = "DATE" if field.name == table.partition else _SPARK_TYPES.get(field.type)
        if kind is None:
            raise ValueError(f"{table.name}.{field.name}: no Spark type for {field.type}")
        columns.append(f"`{field.name}` {kind}")
    return ", ".join(columns)


def table_of(lake: Lake, uri: str) -> Table:
    """The lake table ``uri`` (a data file's URI) belongs to."""
    for table in (*TABLES, RUNS):
        root = lake.table_uri(table).rstrip("/") + "/"
        if uri.startswith(root):
            return table
    raise ValueError(f"{uri} is no data file of the lake at {lake.root}")


def _file_list(node: exp.Expression) -> list[str] | None:
    """The file URIs of a ``read_parquet([...], ...)`` table function; None for any other node."""
    if not isinstance(node, exp.ReadParquet) or not node.expressions:
        return None
    first = node.expressions[0]
    if isinstance(first, exp.Array) and all(isinstance(e, exp.Literal) and e.is_string for e in first.expressions):
        return [str(e.this) for e in first.expressions]
    if isinstance(first, exp.Literal) and first.is_string:
        return [str(first.this)]
    raise ValueError(f"read_parquet over {first.sql('duckdb')[:80]}: only literal file lists are read by Spark")


class FileViews:
    """The Spark temporary views over the file lists of one set of view statements (module docstring)."""

    def __init__(self, spark: SparkSession, lake: Lake) -> None:
        self.spark = spark
        self.lake = lake
        self.views: dict[tuple[str, ...], str] = {}

    def view(self, files: list[str]) -> str:
        """The name of the temporary view over ``files`` (all of one table), registered on first use."""
        key = tuple(files)
        if key not in self.views:
            table = table_of(self.lake, files[0])
            if any(table_of(self.lake, f) is not table for f in files[1:]):
                raise ValueError(f"one read_parquet list spans several tables: {files[0]} …")
            name = f"{FILES_PREFIX}{len(self.views)}"
            frame = (self.spark.read.schema(schema_ddl(table))
                     .option("basePath", spark_path(self.lake.table_uri(table)))
                     .parquet(*(spark_path(f) for f in files)))
            frame.createOrReplaceTempView(name)
            self.views[key] = name
        return self.views[key]

    def rewrite(self, tree: exp.Expression) -> exp.Expression:
        """A sqlglot transform: every ``read_parquet([...])`` table becomes its view, its alias kept."""
        def swap(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Table):
                files = _file_list(node.this)
                if files is not None:
                    table = exp.to_table(self.view(files))
                    if node.args.get("alias") is not None:
                        table.set("alias", node.args["alias"].copy())
                    return table
            return node
        return tree.transform(swap)

    def drop(self) -> None:
        """Drop every temporary view this object registered."""
        for name in self.views.values():
            self.spark.catalog.dropTempView(name)
        self.views.clear()


def drop_file_views(spark: SparkSession) -> None:
    """Drop the file views a previous set of statements left on the session (they pin its file lists)."""
    for table in spark.catalog.listTables():
        if table.isTemporary and table.name.startswith(FILES_PREFIX):
            spark.catalog.dropTempView(table.name)
