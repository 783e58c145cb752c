"""One local[2] SparkSession for every Spark test module (a JVM start costs seconds; a second one costs heap).

``spark`` hands out the running session (``getOrCreate``), so a test that stops it (the CLI command does, when it
is done) leaves the next test a fresh one; the last one running is stopped at the end of the test session.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

SPARK_CONF = {"spark.sql.shuffle.partitions": "2"}


@pytest.fixture(scope="session")
def _spark_stopped_at_end() -> Iterator[None]:
    yield
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


@pytest.fixture
def spark(_spark_stopped_at_end: None) -> Any:
    from tracelake.spark.session import spark_session

    return spark_session("local[2]", conf=SPARK_CONF)
