"""The lake on a real S3-compatible server (S3Proxy on 127.0.0.1): the same exactly-once writer, positions, file
listing and duplicate lookup as on local disk, and concurrent writers that lose no commit."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from tracelake.lake.lake import Lake
from tracelake.lake.tables import EVENTS_SCHEMA
from tracelake.locals3 import LocalS3

pytestmark = pytest.mark.s3


def rows(ids: list[str], *, first: int = 0, partition: int = 0, day: str = "2026-11-24") -> pa.Table:
    ts = datetime.fromisoformat(f"{day}T10:00:00+00:00").astimezone(UTC)
    return pa.Table.from_pylist(
        [{"event_id": i, "tenant": "acme", "event_type": "custom", "name": "x", "ts": ts, "event_date": day,
          "source": "kafka", "kafka_topic": "t", "kafka_partition": partition, "kafka_offset": first + n}
         for n, i in enumerate(ids)], schema=EVENTS_SCHEMA)


@pytest.fixture
def s3_lake(s3_server: LocalS3) -> Lake:
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    s3_server.create_bucket(bucket)
    return Lake.at(f"s3://{bucket}/prod/lake", s3_server.env())


def stored(lake: Lake) -> list[str]:
    import pyarrow.dataset as ds

    from tracelake.lake.lake import _filesystem, _fs_path

    files = [_fs_path(f.uri) for f in lake.data_files("events")]
    if not files:
        return []
    table = ds.dataset(files, format="parquet", filesystem=_filesystem(lake)).to_table(columns=["event_id"])
    return sorted(table.column("event_id").to_pylist())


def test_exactly_once_per_source_on_s3(s3_lake: Lake) -> None:
    writer = s3_lake.writer("events")
    assert writer.write(rows(["a", "b"], day="2026-11-24"), "o0-1") == 1
    assert writer.write(rows(["a", "b", "c"]), "o0-2") == 1  # re-delivered and extended: only c is new
    assert writer.write(rows(["a", "b", "c"]), "o0-2") == 0
    assert stored(s3_lake) == ["a", "b", "c"]
    assert s3_lake.positions("events", ["kafka:t:0"]) == {"kafka:t:0": 2}
    (item,) = {f.uri.rsplit("/", 1)[0] for f in s3_lake.data_files("events")}
    assert item.startswith(f"{s3_lake.uri}/events/event_date=2026-11-24")
    assert s3_lake.stored_event_ids({("acme", "a"), ("acme", "z"), ("globex", "b")}, {"2026-11-24"}) == {
        ("acme", "a")}


def test_concurrent_writers_on_s3_lose_no_commit_and_duplicate_nothing(s3_lake: Lake) -> None:
    s3_lake.writer("events").write(rows([]), "create", {"kafka:t:9": 0})
    errors: list[BaseException] = []

    def run(partition: int, replay: bool) -> None:
        writer = s3_lake.writer("events")
        try:
            for batch in range(4):
                names = [f"p{partition}-{batch}-{n}" for n in range(3)]
                writer.write(rows(names, first=batch * 3, partition=partition), f"p{partition}.b{batch}")
                if replay:  # a second owner of the same partition writing the same batch again
                    s3_lake.writer("events").write(rows(names, first=batch * 3, partition=partition), "again")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p, p == 0)) for p in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not errors and not any(t.is_alive() for t in threads)
    assert len(stored(s3_lake)) == 36 == len(set(stored(s3_lake)))
