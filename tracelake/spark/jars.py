"""Delta Lake's Spark jars from Maven Central, fetched once into the cache (like Kafka's and S3Proxy's).

``pyspark`` (the ``spark`` extra, from PyPI) brings Spark itself, its Scala
library and Hadoop's client jars. What it does not bring comes from Maven
Central through :func:`tracelake.localjvm.maven_fetch` (``mvn
dependency:copy-dependencies`` into ``$TRACELAKE_CACHE_DIR`` or
``~/.cache/tracelake``):

- ``delta``: ``io.delta:delta-spark_2.13`` and ``delta-storage`` (the Delta
  data source and its log store), about 10 MB; every lake needs them.
- ``s3``: ``org.apache.hadoop:hadoop-aws`` of exactly the Hadoop inside
  pyspark and the AWS SDK v2 ``bundle`` it depends on (about 600 MB, so only
  fetched for an ``s3://`` lake or ``tracelake spark install --s3``).

The versions are pinned together: Delta :data:`DELTA_VERSION` is built for
Spark :data:`SPARK_SERIES`, and :data:`HADOOP_VERSION` is the
``hadoop-client-api`` jar pyspark ships (:func:`check_pyspark` refuses
another Spark in one line).

Contract: :func:`install` is idempotent and safe from several processes; a
cache hit needs neither ``mvn`` nor the network. Without Java 17+, ``mvn`` or
the network it raises :class:`SparkUnavailable` with a one-line message.
"""

from __future__ import annotations

from pathlib import Path

from tracelake.errors import Unavailable
from tracelake.localjvm import cache_dir, maven_fetch, require_java

DELTA_VERSION = "4.3.1"  # delta-spark_2.13 4.3.x is built against Spark 4.1.0 (its pom's provided spark-sql)
SPARK_SERIES = "4.1"  # the pyspark the extra pins (>=4.1,<4.2)
HADOOP_VERSION = "3.4.2"  # pyspark 4.1's jars/hadoop-client-api-3.4.2.jar: hadoop-aws must match it exactly
EXTRA_HINT = "pip install 'tracelake[spark]'"

_DELTA_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.tracelake</groupId>
  <artifactId>spark-delta</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <!-- delta-spark + delta-storage only: Spark, Scala, Hadoop, Parquet, Jackson and the loggers come with
         pyspark (the older copies delta-spark's pom names beside them would shadow pyspark's). -->
    <dependency>
      <groupId>io.delta</groupId>
      <artifactId>delta-spark_2.13</artifactId>
      <version>{delta}</version>
      <exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>
    </dependency>
    <dependency>
      <groupId>io.delta</groupId>
      <artifactId>delta-storage</artifactId>
      <version>{delta}</version>
      <exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>
    </dependency>
  </dependencies>
</project>
"""

_S3_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.tracelake</groupId>
  <artifactId>spark-s3</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <!-- The s3a:// file system of the Hadoop inside pyspark, with the AWS SDK v2 bundle it was built with. -->
    <dependency>
      <groupId>org.apache.hadoop</groupId>
      <artifactId>hadoop-aws</artifactId>
      <version>{hadoop}</version>
    </dependency>
  </dependencies>
</project>
"""

_ALTERNATIVE = "compute the metric with DuckDB ('tracelake metrics')"


class SparkUnavailable(Unavailable, RuntimeError):
    """Spark cannot run here (no pyspark, no Java 17+, jars not fetched); the message says what to do."""


def check_java() -> str:
    """The ``java`` executable, or :class:`SparkUnavailable` saying to install Java 17+ (one line)."""
    return require_java("Spark", _ALTERNATIVE, SparkUnavailable)


def check_pyspark() -> str:
    """pyspark's version; :class:`SparkUnavailable` naming the extra when it is missing or another series."""
    try:
        import pyspark
    except ImportError:
        raise SparkUnavailable(f"Spark metrics need the 'spark' extra (pyspark, sqlglot); install it with: "
                               f"{EXTRA_HINT}") from None
    version = str(pyspark.__version__)
    if not version.startswith(SPARK_SERIES + "."):
        raise SparkUnavailable(f"pyspark {version} is installed, but Delta {DELTA_VERSION} needs Spark "
                               f"{SPARK_SERIES}.x; install the pinned one with: {EXTRA_HINT}")
    try:
        import sqlglot  # noqa: F401
    except ImportError:
        raise SparkUnavailable(f"Spark metrics need sqlglot (the 'spark' extra); install it with: "
                               f"{EXTRA_HINT}") from None
    return version


def _fetch(pom: str, name: str, marker: str, what: str, root: Path | None) -> list[Path]:
    libs = maven_fetch(pom, (root or cache_dir()) / name / "libs", marker=marker, what=what,
                       alternative=_ALTERNATIVE, error=SparkUnavailable)
    return sorted(libs.glob("*.jar"))


def install(*, s3: bool = False, root: Path | None = None) -> list[Path]:
    """Fetch Delta's Spark jars (and with ``s3`` the s3a file system) into the cache, once; return the jars."""
    jars = _fetch(_DELTA_POM.format(delta=DELTA_VERSION), f"spark-delta-{DELTA_VERSION}",
                  f"delta-spark_2.13-{DELTA_VERSION}.jar", f"Delta Lake {DELTA_VERSION} for Spark", root)
    if s3:
        jars += _fetch(_S3_POM.format(hadoop=HADOOP_VERSION), f"spark-hadoop-aws-{HADOOP_VERSION}",
                       f"hadoop-aws-{HADOOP_VERSION}.jar", f"hadoop-aws {HADOOP_VERSION} (s3a://)", root)
    return jars
