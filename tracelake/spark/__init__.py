"""The metrics on Spark: the same SQL as DuckDB's, transpiled with sqlglot, over the lake's Delta tables.

- :mod:`tracelake.spark.jars`: Delta Lake's Spark jars (and for ``s3://``
  lakes hadoop-aws) from Maven Central into the cache, once;
- :mod:`tracelake.spark.session`: the SparkSession (local or a cluster's master);
- :mod:`tracelake.spark.transpile`: DuckDB SQL → Spark SQL (sqlglot plus the
  few documented transforms sqlglot lacks);
- :mod:`tracelake.spark.sources`: DuckDB's file lists (the fast path's clean
  days, open files, runs rollup and tail) as Spark views over the same files;
- :mod:`tracelake.spark.caching`: what a metric keeps in Spark's cache;
- :mod:`tracelake.spark.metrics`: the views (fast path, or event level) and
  every metric of :mod:`tracelake.queries.metrics` on that session.

Needs the ``spark`` extra (``pip install 'tracelake[spark]'``: pyspark and
sqlglot) and Java 17+; nothing here imports pyspark at module level except
through those functions, so importing this package is cheap.
"""
