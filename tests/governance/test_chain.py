"""The commit chain: sealing, and verify naming each kind of tampering exactly (local lakes and S3).

Every lake here is the test's own (tmp_path or a fresh bucket): tampering edits its files in place.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import deltalake
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracelake.errors import ConfigError
from tracelake.governance.chain import CHAIN_DIR, ChainStore
from tracelake.governance.seal import PUBLIC_KEY_PATH, seal_lake
from tracelake.governance.signing import SigningKey, generate, load_signing_key
from tracelake.governance.verify import UNREFERENCED_GRACE_S, VerifyReport, verify_lake
from tracelake.lake.lake import Lake, _filesystem, _fs_path
from tracelake.lake.tables import EVENTS_SCHEMA
from tracelake.locals3 import LocalS3

DAY = "2026-11-24"


def rows(ids: list[str], *, first: int = 0, partition: int = 0, day: str = DAY, run: str = "r1") -> pa.Table:
    ts = datetime.fromisoformat(f"{day}T10:00:00+00:00").astimezone(UTC)
    return pa.Table.from_pylist(
        [{"event_id": i, "tenant": "acme", "run_id": run, "event_type": "custom", "name": "x", "ts": ts,
          "event_date": day, "source": "kafka", "kafka_topic": "t", "kafka_partition": partition,
          "kafka_offset": first + n} for n, i in enumerate(ids)], schema=EVENTS_SCHEMA)


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    return generate(tmp_path / "keys" / "chain.pem")


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    the_lake = Lake.at(tmp_path / "lake")
    writer = the_lake.writer("events")
    writer.write(rows(["a", "b"]), "b1")
    writer.write(rows(["c"], first=2, day="2026-11-25"), "b2")
    return the_lake


def findings(report: VerifyReport) -> set[tuple[str, str | None, int | None, str | None]]:
    return {(f.kind, f.table, f.version, f.path) for f in report.findings if f.severity != "info"}


def event_files(lake: Lake) -> list[str]:
    """The live events files, relative to the table."""
    base = lake.table_uri("events") + "/"
    return sorted(f.uri[len(base):] for f in lake.data_files("events"))


def test_sealed_lake_verifies_clean_and_new_commits_are_unverifiable_until_sealed(lake: Lake, key: SigningKey) -> None:
    report = seal_lake(lake, key)
    assert (report.sealed, report.tables) == (3, {"events": [0, 1, 2]})
    assert (lake.resolved / PUBLIC_KEY_PATH).read_bytes() == key.public.pem()
    clean = verify_lake(lake)
    assert (clean.status, clean.exit_code, clean.findings) == ("clean", 0, [])
    assert clean.head == report.head and clean.files_checked == 2
    assert seal_lake(lake, key).sealed == 0  # nothing new

    lake.writer("events").write(rows(["d"], first=3), "b3")
    late = verify_lake(lake)
    assert (late.status, late.exit_code) == ("unverifiable", 3)
    assert findings(late) == {("unsealed", "events", 3, "events/_delta_log/00000000000000000003.json")}
    assert seal_lake(lake, key).tables == {"events": [3]}
    assert verify_lake(lake).status == "clean"


def test_edited_row_is_reported_altered(lake: Lake, key: SigningKey) -> None:
    seal_lake(lake, key)
    target = event_files(lake)[0]
    path = lake.table_dir("events") / target
    table = pq.read_table(path)
    names = table.column("name").to_pylist()
    table = table.set_column(table.schema.get_field_index("name"), "name", pa.array(["edited", *names[1:]]))
    pq.write_table(table, path)
    report = verify_lake(lake)
    assert (report.status, report.exit_code) == ("tampered", 1)
    assert findings(report) == {("altered", "events", None, target)}


def test_dropped_file_is_reported_missing(lake: Lake, key: SigningKey) -> None:
    seal_lake(lake, key)
    target = event_files(lake)[1]
    (lake.table_dir("events") / target).unlink()
    assert findings(verify_lake(lake)) == {("missing", "events", None, target)}


def test_added_file_is_reported_added(lake: Lake, key: SigningKey) -> None:
    seal_lake(lake, key)
    source = lake.table_dir("events") / event_files(lake)[0]
    extra = source.with_name("part-00000-smuggled.zstd.parquet")
    shutil.copy(source, extra)
    where = f"event_date={DAY}/{extra.name}"
    fresh = verify_lake(lake)  # as young as a lost commit race's file: not yet called tampering
    assert (fresh.status, findings(fresh)) == ("unverifiable", {("unreferenced", "events", None, where)})
    old = time.time() - 2 * UNREFERENCED_GRACE_S
    os.utime(extra, (old, old))
    report = verify_lake(lake)
    assert report.status == "tampered"
    assert findings(report) == {("added", "events", None, where)}


def test_a_file_of_a_lost_commit_race_is_recorded_by_the_next_seal(lake: Lake, key: SigningKey) -> None:
    seal_lake(lake, key)
    source = lake.table_dir("events") / event_files(lake)[0]
    orphan = source.with_name("part-00000-lost-race.zstd.parquet")
    shutil.copy(source, orphan)
    report = seal_lake(lake, key)
    (entry,) = ChainStore(lake).read().entries[-1:]
    assert (report.sealed, entry.kind, entry.version, list(entry.adds)) == (
        1, "orphans", 2, [f"event_date={DAY}/{orphan.name}"])
    old = time.time() - 2 * UNREFERENCED_GRACE_S
    os.utime(orphan, (old, old))
    assert verify_lake(lake).status == "clean"
    assert seal_lake(lake, key).sealed == 0  # recorded once
    orphan.unlink()  # vacuum deletes it: not tampering
    assert verify_lake(lake).status == "clean"


def test_rewritten_commit_is_reported_rewritten(lake: Lake, key: SigningKey) -> None:
    seal_lake(lake, key)
    commit = lake.table_dir("events") / "_delta_log" / "00000000000000000001.json"
    commit.write_bytes(commit.read_bytes().replace(b'"b1"', b'"forged"'))
    report = verify_lake(lake)
    assert report.status == "tampered"
    assert findings(report) == {("rewritten", "events", 1, "events/_delta_log/00000000000000000001.json")}


def test_truncated_chain_is_reported_against_the_anchored_head(lake: Lake, key: SigningKey) -> None:
    seal_lake(lake, key)
    lake.writer("events").write(rows(["d"], first=3), "b3")
    anchored = seal_lake(lake, key).head
    # Cut the chain's last commit (the entries of the second seal).
    log = sorted((lake.resolved / CHAIN_DIR / "_delta_log").glob("*.json"))
    log[-1].unlink()
    unanchored = verify_lake(lake)
    assert unanchored.status == "unverifiable"  # indistinguishable from "not sealed yet" without an anchor
    assert findings(unanchored) == {("unsealed", "events", 3, "events/_delta_log/00000000000000000003.json")}
    anchored_report = verify_lake(lake, expect_head=anchored)
    assert anchored_report.status == "tampered"
    assert "chain_truncated" in anchored_report.kinds()


def test_a_garbled_published_key_is_reported(lake: Lake, key: SigningKey) -> None:
    seal_lake(lake, key)
    (lake.resolved / PUBLIC_KEY_PATH).write_bytes(b"not a key")
    report = verify_lake(lake, key.public)
    assert report.status == "tampered"
    assert findings(report) == {("published_key", None, None, PUBLIC_KEY_PATH)}


def test_a_deleted_chain_data_file_is_reported(lake: Lake, key: SigningKey) -> None:
    seal_lake(lake, key)
    (chain_file,) = (lake.resolved / CHAIN_DIR).glob("*.parquet")
    chain_file.unlink()
    report = verify_lake(lake)
    assert report.status == "tampered" and "chain_unreadable" in report.kinds()


def test_a_deleted_chain_is_reported_truncated(lake: Lake, key: SigningKey) -> None:
    seal_lake(lake, key)
    shutil.rmtree(lake.resolved / CHAIN_DIR)
    report = verify_lake(lake)
    assert report.status == "tampered" and "chain_truncated" in report.kinds()


def test_rows_deleted_from_the_chain_tail_are_reported_truncated(lake: Lake, key: SigningKey) -> None:
    seal_lake(lake, key)
    deltalake.DeltaTable(str(lake.resolved / CHAIN_DIR)).delete("seq = 2")
    report = verify_lake(lake)
    assert report.status == "tampered"
    assert "chain_truncated" in report.kinds()


def test_a_changed_entry_or_another_key_is_reported(lake: Lake, key: SigningKey, tmp_path: Path) -> None:
    seal_lake(lake, key)
    other = generate(tmp_path / "other.pem")
    assert "signature" in verify_lake(lake, other.public).kinds()
    # Re-write the chain with entry 1's recorded hash of a file changed (the entry no longer hashes right).
    chain = deltalake.DeltaTable(str(lake.resolved / CHAIN_DIR))
    table = chain.to_pyarrow_table().sort_by("seq")
    adds = table.column("adds").to_pylist()
    adds[1] = adds[1].replace('"sha256":"', '"sha256":"0')
    table = table.set_column(table.schema.get_field_index("adds"), "adds", pa.array(adds))
    deltalake.write_deltalake(chain, table, mode="overwrite")
    report = verify_lake(lake)
    assert report.status == "tampered"
    assert {"entry_altered", "altered"} <= report.kinds()


def test_compaction_vacuum_and_a_delta_delete_are_sealed_and_verify_clean(lake: Lake, key: SigningKey) -> None:
    from tracelake.ingest.compact import compact_lake

    writer = lake.writer("events")
    writer.write(rows(["e", "f"], first=3), "b3")
    writer.write(rows(["a", "b"], partition=1), "b4")  # copies: the day is rewritten
    seal_lake(lake, key)
    report = compact_lake(lake, older_than_days=1, today=datetime(2026, 11, 27).date(), retention_hours=0)
    assert any(p.action == "rewrite" for p in report.partitions)
    assert verify_lake(lake).status == "unverifiable"
    sealed = seal_lake(lake, key)
    assert set(sealed.tables) >= {"events", "runs"}
    assert verify_lake(lake).status == "clean"
    deltalake.DeltaTable(lake.table_uri("events")).delete("event_id = 'c'")
    seal_lake(lake, key)
    after = verify_lake(lake)
    assert (after.status, after.findings) == ("clean", [])


def test_no_key_seals_nothing_and_a_key_inside_the_lake_is_refused(lake: Lake, tmp_path: Path) -> None:
    assert seal_lake(lake, None).sealed == 0
    assert not (lake.resolved / CHAIN_DIR).exists()
    report = verify_lake(lake)
    assert report.status == "unverifiable" and "no_public_key" in report.kinds()
    with pytest.raises(ConfigError, match="inside the lake"):
        generate(lake.resolved / "key.pem", lake_root=lake.resolved)
    outside = generate(tmp_path / "k.pem")
    shutil.copy(tmp_path / "k.pem", lake.resolved / "k.pem")
    with pytest.raises(ConfigError, match="inside the lake"):
        load_signing_key(lake.resolved / "k.pem", lake_root=lake.resolved)
    assert outside.key_id


def test_a_lake_that_publishes_another_key_is_not_sealed(lake: Lake, key: SigningKey, tmp_path: Path) -> None:
    seal_lake(lake, key)
    with pytest.raises(ConfigError, match="publishes chain key"):
        seal_lake(lake, generate(tmp_path / "second.pem"))


def test_concurrent_writers_sealers_and_verify_leave_one_clean_chain(tmp_path: Path, key: SigningKey) -> None:
    lake = Lake.at(tmp_path / "lake")
    errors: list[BaseException] = []
    done = threading.Event()

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                errors.append(exc)
        return run

    def write(partition: int) -> None:
        writer = lake.writer("events")
        for batch in range(6):
            writer.write(rows([f"p{partition}-{batch}"], first=batch, partition=partition), f"w{partition}-{batch}")

    def seal_until_done() -> None:
        for _ in range(50):  # bounded; each round seals what the writers committed so far
            seal_lake(lake, key)
            if done.is_set():
                return

    verdicts: list[list[str]] = []

    def verify_until_done() -> None:
        for _ in range(50):  # bounded; verify while the lake is written and sealed
            report = verify_lake(lake)
            if report.status == "tampered":
                verdicts.append([f.line() for f in report.findings])
            if done.is_set():
                return

    writers = [threading.Thread(target=guarded(functools.partial(write, p))) for p in (0, 1)]
    sealers = [threading.Thread(target=guarded(seal_until_done)) for _ in range(2)]
    sealers.append(threading.Thread(target=guarded(verify_until_done)))
    for thread in (*writers, *sealers):
        thread.start()
    for thread in writers:
        thread.join(120)
    done.set()
    for thread in sealers:
        thread.join(120)
    assert not errors
    assert verdicts == []  # never "tampered" while written and sealed (unsealed or unreferenced meanwhile)
    seal_lake(lake, key)
    state = ChainStore(lake).read()
    assert [e.seq for e in state.entries] == list(range(len(state.entries)))
    versions = [e.version for e in state.entries if e.table == "events" and e.kind != "orphans"]
    # Every commit of the table sealed once, in order (the create, 12 appends, and any commit a create race adds).
    committed = sorted(int(p.stem) for p in (lake.table_dir("events") / "_delta_log").glob("*.json"))
    assert versions == committed and len(versions) >= 13
    assert verify_lake(lake).status == "clean"


# -- on S3 (S3Proxy on 127.0.0.1) -----------------------------------------------------------------------------------

@pytest.fixture
def s3_lake(s3_server: LocalS3) -> Lake:
    bucket = f"chain-{uuid.uuid4().hex[:10]}"
    s3_server.create_bucket(bucket)
    return Lake.at(f"s3://{bucket}/prod/lake", s3_server.env())


@pytest.mark.s3
def test_seal_and_verify_on_s3_name_a_dropped_and_an_altered_file(s3_lake: Lake, key: SigningKey) -> None:
    writer = s3_lake.writer("events")
    writer.write(rows(["a", "b"]), "b1")
    writer.write(rows(["c"], first=2, day="2026-11-25"), "b2")
    assert seal_lake(s3_lake, key).sealed == 3
    assert verify_lake(s3_lake).status == "clean"
    files = event_files(s3_lake)
    filesystem = _filesystem(s3_lake)
    assert filesystem is not None
    base = _fs_path(s3_lake.table_uri("events"))
    filesystem.delete_file(f"{base}/{files[0]}")  # type: ignore[attr-defined]
    with filesystem.open_output_stream(f"{base}/{files[1]}") as out:  # type: ignore[attr-defined]
        out.write(b"PAR1 not the sealed bytes PAR1")
    report = verify_lake(s3_lake, key.public)
    assert report.status == "tampered"
    assert findings(report) == {("missing", "events", None, files[0]), ("altered", "events", None, files[1])}


def test_log_cleanup_before_the_first_seal_gives_a_snapshot_and_after_it_expired_commits(
        lake: Lake, key: SigningKey) -> None:
    log = lake.table_dir("events") / "_delta_log"
    delta = deltalake.DeltaTable(lake.table_uri("events"))
    delta.create_checkpoint()  # at version 2
    for version in (0, 1):  # what cleanup_metadata does to commit files past the log retention
        (log / f"{version:020d}.json").unlink()
    report = seal_lake(lake, key)
    (entry,) = ChainStore(lake).read().entries
    assert (report.tables, entry.kind, entry.version) == ({"events": [2]}, "snapshot", 2)
    assert sorted(entry.adds) == event_files(lake)
    assert verify_lake(lake).status == "clean"

    lake.writer("events").write(rows(["d"], first=3), "b3")
    lake.writer("events").write(rows(["e"], first=4), "b4")
    seal_lake(lake, key)
    deltalake.DeltaTable(lake.table_uri("events")).create_checkpoint()  # at version 4
    (log / f"{3:020d}.json").unlink()
    report_after = verify_lake(lake)
    assert report_after.status == "clean"
    assert [(f.kind, f.version) for f in report_after.findings] == [("expired", 3)]
    (log / f"{4:020d}.json").unlink()  # the checkpoint at version 4 covers it: expired too, not missing
    assert verify_lake(lake).status == "clean"


def test_a_deleted_commit_no_checkpoint_covers_is_reported(lake: Lake, key: SigningKey) -> None:
    seal_lake(lake, key)
    lake.writer("events").write(rows(["d"], first=3), "b3")
    seal_lake(lake, key)
    (lake.table_dir("events") / "_delta_log" / f"{3:020d}.json").unlink()
    report = verify_lake(lake)
    assert report.status == "tampered"
    assert ("commit_missing", "events", 3, "events/_delta_log/00000000000000000003.json") in findings(report)


@pytest.mark.s3
def test_concurrent_sealers_on_s3_append_one_chain(s3_lake: Lake, key: SigningKey) -> None:
    writer = s3_lake.writer("events")
    errors: list[BaseException] = []

    def seal_some() -> None:
        try:
            for _ in range(3):
                seal_lake(s3_lake, key)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    for batch in range(4):
        writer.write(rows([f"e{batch}"], first=batch), f"b{batch}")
        sealers = [threading.Thread(target=seal_some) for _ in range(2)]
        for thread in sealers:
            thread.start()
        for thread in sealers:
            thread.join(120)
    assert not errors
    state = ChainStore(s3_lake).read()
    assert [e.seq for e in state.entries] == list(range(len(state.entries)))
    assert [e.version for e in state.entries if e.kind == "commit"] == list(range(5))  # create + 4 appends
    assert verify_lake(s3_lake).status == "clean"


def test_sealing_an_empty_lake_publishes_nothing(tmp_path: Path, key: SigningKey) -> None:
    lake = Lake.at(tmp_path / "empty")
    assert seal_lake(lake, key).sealed == 0
    assert not (tmp_path / "empty" / PUBLIC_KEY_PATH).exists()
    report = verify_lake(lake, key.public)
    assert (report.status, report.findings) == ("clean", [])
