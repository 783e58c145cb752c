"""A SparkSession that reads the lake's Delta tables: the cached Delta jars, UTC, quiet logs.

:func:`spark_session` builds (or returns the running) session for ``master``
(``local[*]`` by default, or a cluster URL such as ``spark://host:7077`` /
``yarn``): Delta's SQL extension and catalog, the jars of
:func:`tracelake.spark.jars.install` on ``spark.jars`` (shipped to the
executors by the driver), the session time zone UTC (the lake's instants are
UTC; the metric windows are bound as UTC timestamps). A local master binds to
127.0.0.1 and keeps its shuffles and Delta's snapshot small (one partition per
core); a cluster keeps its own defaults. An ``s3://`` lake is read through
Hadoop's ``s3a://`` file system with the lake's ``AWS_*`` options
(:func:`s3a_conf`).

Logging: Spark's log4j2 writes only errors, and not the query-context dumps
(the CLI reports a failing query in one line); the file is written once into
the cache.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from tracelake.localjvm import cache_dir
from tracelake.spark.jars import SparkUnavailable, check_java, check_pyspark, install

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tracelake.lake.lake import Lake

DEFAULT_MASTER = "local[*]"

_LOG4J2 = """# tracelake: Spark's driver logs errors only, on stderr (written by tracelake.spark.session)
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = spark: %p %c{1}: %m%n%ex{3}
logger.context.name = SQLQueryContextLogger
logger.context.level = off
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = off
"""


def local_cores(master: str) -> int | None:
    """The number of cores of a ``local`` / ``local[N]`` / ``local[*]`` master; None for a cluster."""
    match = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\d+)?\])?", master.strip())
    if not match:
        return None
    cores = match.group(1)
    if cores is None:
        return 1
    if cores == "*":
        return os.cpu_count() or 1
    return max(1, int(cores))


def s3a_conf(options: Mapping[str, str]) -> dict[str, str]:
    """Hadoop ``s3a`` settings from a lake's object-store options (the ``AWS_*`` names)."""
    conf = {"spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem"}
    keys = {"AWS_ACCESS_KEY_ID": "fs.s3a.access.key", "AWS_SECRET_ACCESS_KEY": "fs.s3a.secret.key",
            "AWS_SESSION_TOKEN": "fs.s3a.session.token", "AWS_ENDPOINT_URL": "fs.s3a.endpoint",
            "AWS_REGION": "fs.s3a.endpoint.region"}
    for name, key in keys.items():
        if options.get(name):
            conf[f"spark.hadoop.{key}"] = options[name]
    if options.get("AWS_SESSION_TOKEN"):
        conf["spark.hadoop.fs.s3a.aws.credentials.provider"] = (
            "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider")
    if options.get("AWS_ENDPOINT_URL"):
        # A custom endpoint (S3Proxy, MinIO …) serves buckets by path unless told otherwise.
        conf["spark.hadoop.fs.s3a.path.style.access"] = str(
            options.get("AWS_VIRTUAL_HOSTED_STYLE_REQUEST") != "true").lower()
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(
            not options["AWS_ENDPOINT_URL"].startswith("http://")).lower()
    return conf


def _log_config() -> Path:
    path = cache_dir() / "spark-log4j2.properties"
    if not path.exists() or path.read_text() != _LOG4J2:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(_LOG4J2)
        os.replace(tmp, path)
    return path


def spark_conf(master: str = DEFAULT_MASTER, *, lake: Lake | None = None,
               jars: list[Path] | None = None) -> dict[str, str]:
    """The session settings (see the module docstring); ``jars`` default to the cached Delta (and s3a) jars."""
    remote = lake is not None and lake.is_remote
    if jars is None:
        jars = install(s3=remote)
    log = f"-Dlog4j2.configurationFile={_log_config().as_uri()}"
    conf = {
        "spark.app.name": "tracelake",
        "spark.jars": ",".join(str(j) for j in jars),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": log,
        "spark.executor.extraJavaOptions": log,
    }
    cores = local_cores(master)
    if cores is not None:
        conf.update({
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.sql.shuffle.partitions": str(cores),
            "spark.default.parallelism": str(cores),
            "spark.databricks.delta.snapshotPartitions": str(cores),
            # Adaptive execution re-plans after every shuffle: worth it on a cluster's large stages, not on a
            # local session's small ones (time_to_safe_fallback on the golden lake: 52 s with it, 14 s without).
            "spark.sql.adaptive.enabled": "false",
            # The fast path reads explicit file lists (tracelake.spark.sources): list them on the driver, not in
            # a Spark job per list (the default threshold, 32 paths, is passed by a month of compacted days).
            "spark.sql.sources.parallelPartitionDiscovery.threshold": "100000",
        })
    if remote and lake is not None:
        conf.update(s3a_conf(lake.storage_options))
    return conf


def spark_session(master: str = DEFAULT_MASTER, *, lake: Lake | None = None,
                  conf: Mapping[str, str] | None = None) -> SparkSession:
    """The SparkSession for ``master`` (see the module docstring); ``conf`` adds or overrides settings.

    Raises :class:`tracelake.spark.jars.SparkUnavailable` (one line) without pyspark, Java 17+ or the jars.
    """
    check_pyspark()
    check_java()
    from pyspark.errors import PySparkException
    from pyspark.sql import SparkSession

    settings = {**spark_conf(master, lake=lake), **(conf or {})}
    builder = SparkSession.builder.master(master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except (PySparkException, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SparkUnavailable(f"cannot start Spark (master {master}): {first[:300]}") from None
    session.sparkContext.setLogLevel("ERROR")
    return session
