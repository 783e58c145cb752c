"""Erasure of one person: found by keyed pseudonym and by raw mentions the redactor missed, re-redacted or
removed in every table (events, rollup, dead letters), logged without the identifier; and the proof: after
the vacuum, no file under the lake (data files, Delta logs with their column statistics, checkpoints, the
governance log) holds the subject's value or pseudonym. Concurrent appends survive; S3 lakes too."""

from __future__ import annotations

import itertools
import re
import threading
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from tests.helpers import file_rows
from tracelake.errors import UserError
from tracelake.governance.erase import erase_subject
from tracelake.governance.erase_subject import Subject
from tracelake.governance.log import read_entries
from tracelake.ingest.compact import compact_lake
from tracelake.lake.lake import Lake
from tracelake.lake.tables import DEAD_LETTERS, EVENTS
from tracelake.queries.engine import open_lake
from tracelake.queries.rollup import compute_runs, read_runs, refresh_runs
from tracelake.transforms.redact.spans import pseudonym

KEY = b"test-pseudonym-key"
EMAIL = "Dana.Lee@Example.org"
PHONE = "+1 415 555 0134"
NAME = "Dana Lee"
TOKEN = f"<EMAIL_ADDRESS:{pseudonym('EMAIL_ADDRESS', EMAIL, KEY)}>"
NAME_TOKEN = f"<PERSON:{pseudonym('PERSON', NAME, KEY)}>"
OTHER = "<EMAIL_ADDRESS:0badc0de>"

_ids = itertools.count(1)


def event(run_id: str | None, day: str, **fields: Any) -> dict[str, Any]:
    when = datetime.fromisoformat(f"{day}T10:00:00+00:00").astimezone(UTC) if "ts" not in fields else fields.pop("ts")
    row = {"event_id": f"e{next(_ids):05d}", "schema_version": "1", "event_type": "llm_call", "ts": when,
           "run_id": run_id, "workflow": "refund", "tenant": "acme", "environment": "production",
           "ingested_at": when, "source": "test", "event_date": when.date().isoformat()}
    row.update(fields)
    return row


def subject_events() -> list[dict[str, Any]]:
    return [
        # the prompt starts with the raw e-mail: the Delta log's minValues/maxValues hold it
        event("r1", "2026-11-20", prompt=f"{EMAIL.lower()} asks for a refund", completion="ok"),
        event("r1", "2026-11-20", event_type="tool_call", tool_name="crm",
              tool_args=orjson.dumps({"customer": TOKEN, "phone": "(415) 555-0134"}).decode()),
        event("r1", "2026-11-20", event_type="run_finished", outcome="success",
              output=f"Replied to {NAME_TOKEN}; dana   LEE was told."),
        event("r2", "2026-11-21", prompt="unrelated customer", attributes=orjson.dumps({"who": OTHER}).decode()),
        event(EMAIL, "2026-11-21", event_type="run_started"),  # the e-mail as a run id: the row goes
        event(None, "2026-11-22", event_type="custom", name="note", detail=f"call {PHONE} back"),
    ]


def build(lake: Lake) -> None:
    rows = subject_events()
    lake.writer(EVENTS).write(EVENTS.to_arrow(rows[:3]), "seed-1")
    lake.writer(EVENTS).write(EVENTS.to_arrow(rows[3:]), "seed-2")
    when = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    lake.writer(DEAD_LETTERS).write(DEAD_LETTERS.to_arrow([
        {"received_at": when, "source": "kafka", "reason": "invalid", "kafka_topic": "t", "kafka_partition": 0,
         "kafka_offset": 1, "event_date": "2026-11-21", "payload": f'{{"email": "{EMAIL}", "oops": true}}'},
        {"received_at": when, "source": "kafka", "reason": "invalid", "kafka_topic": "t", "kafka_partition": 0,
         "kafka_offset": 2, "event_date": "2026-11-21", "payload": '{"email": "someone@else.org"}'},
    ]), "seed-dl")
    refresh_runs(lake)
    # compaction rewrites the closed partitions: the first small files leave the table (still in the log)
    compact_lake(lake, older_than_days=1, today=date(2026, 11, 27))


def subject() -> Subject:
    return Subject(emails=[EMAIL], phones=[PHONE], names=[NAME], key=KEY)


FORBIDDEN = re.compile("|".join([re.escape(EMAIL), re.escape(TOKEN[1:-1].split(":")[1]),
                                 re.escape(NAME_TOKEN[1:-1].split(":")[1]), r"dana\s+lee",
                                 r"415\D{0,3}555\D{0,3}0134"]), re.IGNORECASE)


def _strings(value: Any) -> list[str]:
    return [orjson.dumps(value, default=str).decode()]


def holders(root: Path) -> list[str]:
    """Every file under ``root`` holding the subject: Parquet files read (values and footer statistics), every
    other file (Delta logs, checkpoints' JSON, keys) as text."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            meta = pq.ParquetFile(path).metadata
            stats = [str(meta.row_group(g).column(c).statistics) for g in range(meta.num_row_groups)
                     for c in range(meta.num_columns)]
            text = orjson.dumps(table.to_pylist(), default=str).decode() + "\n".join(stats)
        else:
            text = path.read_bytes().decode("utf-8", "replace")
        if FORBIDDEN.search(text):
            found.append(str(path.relative_to(root)))
    return found


def test_subject_needs_an_identifier() -> None:
    with pytest.raises(UserError, match="name the person"):
        Subject()
    with pytest.raises(UserError, match="--phone"):
        Subject(phones=["call me"])
    with pytest.raises(UserError, match="--pseudonym"):
        Subject(pseudonyms=["<EMAIL:xyz>"])


def test_log_subject_names_nobody_but_can_be_checked() -> None:
    one = subject()
    logged = one.log_subject()
    assert not FORBIDDEN.search(logged)
    assert one.matches_log(logged) and subject().matches_log(logged)
    assert not Subject(emails=["other@example.org"], key=KEY).matches_log(logged)


def test_dry_run_lists_runs_and_counts_and_writes_nothing(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path / "lake")
    build(lake)
    before = sorted(p.name for p in (tmp_path / "lake").rglob("*"))
    result = erase_subject(lake, subject(), dry_run=True)
    assert {r["run_id"] for r in result.runs} == {"r1", EMAIL}
    totals = result.totals()
    assert totals["events"]["rows"] == 5  # three of r1, the run id, the note's phone
    assert totals["dead_letters"]["rows"] == 1
    assert totals["runs"]["rows"] == 1  # the run whose id is the e-mail
    assert sorted(p.name for p in (tmp_path / "lake").rglob("*")) == before
    assert read_entries(lake) == []


def test_erase_then_vacuum_leaves_nothing_holding_the_subject(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path / "lake")
    build(lake)
    assert holders(tmp_path / "lake")  # the subject is there: in data files and in the Delta logs' stats

    result = erase_subject(lake, subject(), vacuum=True)

    assert holders(tmp_path / "lake") == []
    # the rows were re-redacted, not dropped (but the row whose run id was the e-mail)
    events = {r: p for r, p in zip(file_rows(lake, "events", "event_id"), file_rows(lake, "events", "prompt"),
                                   strict=True)}
    assert len(events) == 5
    assert "<EMAIL_ADDRESS> asks for a refund" in events.values()
    outputs = [o for o in file_rows(lake, "events", "output") if o]
    assert outputs == ["Replied to <PERSON>; <PERSON> was told."]
    assert any(OTHER in (a or "") for a in file_rows(lake, "events", "attributes"))  # someone else is untouched
    assert sorted(file_rows(lake, "dead_letters", "payload")) == ['{"email": "<EMAIL_ADDRESS>", "oops": true}',
                                                                   '{"email": "someone@else.org"}']
    assert read_runs(lake).to_pylist() == compute_runs(lake).to_pylist()
    with open_lake(lake) as con:  # every table through the views, too
        for view in ("events", "runs", "dead_letters"):
            rows = con.query(f"SELECT * FROM {view}", name="proof").rows
            assert not FORBIDDEN.search(orjson.dumps(rows, default=str).decode())
    entry = read_entries(lake)[-1]
    assert entry.action == "erase" and subject().matches_log(entry.subject or "")
    assert result.log_entry is not None and result.purged
    # the derived tables can still load the events version they cover (no rebuild after the purge)
    from deltalake import DeltaTable

    from tracelake.governance.retention_apply import covered_events_version

    covered = covered_events_version(lake)
    assert covered is not None
    DeltaTable(lake.table_uri("events"), version=covered)
    # the lake still reads: a fresh connection, the rollup, the log from its new checkpoint
    assert sorted(r for r in file_rows(lake, "events", "run_id") if r) == ["r1", "r1", "r1", "r2"]


def test_remove_mode_removes_the_rows(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path / "lake")
    build(lake)
    erase_subject(lake, subject(), mode="remove")
    assert sorted(r or "" for r in file_rows(lake, "events", "run_id")) == ["r2"]
    assert file_rows(lake, "dead_letters", "payload") == ['{"email": "someone@else.org"}']
    assert {r["run_id"] for r in read_runs(lake).to_pylist()} == {"r2"}


def test_by_pseudonym_alone(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path / "lake")
    build(lake)
    hexdigits = TOKEN[1:-1].split(":")[1]
    erase_subject(lake, Subject(pseudonyms=[hexdigits]))
    args = [a for a in file_rows(lake, "events", "tool_args") if a]
    assert args == ['{"customer":"<EMAIL_ADDRESS>","phone":"(415) 555-0134"}']  # only the pseudonym was named


def test_concurrent_appends_survive_an_erasure(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path / "lake")
    build(lake)
    start = threading.Event()
    appended: list[str] = []
    errors: list[Exception] = []

    def append() -> None:
        writer = lake.writer(EVENTS)
        start.wait(30)
        try:
            for n in range(12):  # bounded; into a partition the erasure rewrites, and into another
                day = "2026-11-20" if n % 2 else "2026-11-27"
                writer.write(EVENTS.to_arrow([event(f"new-{n}", day, prompt="fine")]), f"concurrent-{n}")
                appended.append(f"new-{n}")
        except Exception as exc:  # noqa: BLE001 - reported below (a thread cannot raise into the test)
            errors.append(exc)

    thread = threading.Thread(target=append)
    thread.start()
    start.set()
    erase_subject(lake, subject(), vacuum=True)
    thread.join(120)
    assert not thread.is_alive() and not errors
    assert set(appended) <= set(file_rows(lake, "events", "run_id")) and len(appended) == 12
    prompts = " ".join(p or "" for p in file_rows(lake, "events", "prompt"))
    assert not FORBIDDEN.search(prompts)


@pytest.mark.s3
def test_erase_on_s3(s3_server: Any) -> None:
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    s3_server.create_bucket(bucket)
    lake = Lake.at(f"s3://{bucket}/prod/lake", s3_server.env())
    build(lake)
    result = erase_subject(lake, subject(), vacuum=True)
    assert result.purged
    texts = [orjson.dumps(file_rows(lake, table, column), default=str).decode()
             for table, column in (("events", "prompt"), ("events", "tool_args"), ("events", "output"),
                                   ("dead_letters", "payload"))]
    assert not FORBIDDEN.search(" ".join(texts))
    # every object in the bucket: Parquet files read (values and footer statistics), the rest as text
    from tracelake.governance.chain_files import LakeObjects

    objects = LakeObjects(lake)
    listed = objects.listing("", recursive=True)
    assert any(e.path.endswith(".checkpoint.parquet") for e in listed)
    for entry in listed:
        if entry.path.endswith(".parquet"):
            with objects.fs.open_input_file(objects.full(entry.path)) as handle:
                parquet = pq.ParquetFile(handle)
                meta = parquet.metadata
                stats = [str(meta.row_group(g).column(c).statistics) for g in range(meta.num_row_groups)
                         for c in range(meta.num_columns)]
                text = orjson.dumps(parquet.read().to_pylist(), default=str).decode() + "\n".join(stats)
        else:
            text = objects.read(entry.path).decode("utf-8", "replace")
        assert not FORBIDDEN.search(text), entry.path


def test_erasure_keeps_the_commit_chain_verifiable(tmp_path: Path) -> None:
    """Sealed before and after each erasure commit: the purged log entries are 'expired' (under the new
    checkpoint), never 'tampered'."""
    from tracelake.governance.seal import seal_lake
    from tracelake.governance.signing import generate
    from tracelake.governance.verify import verify_lake

    key = generate(tmp_path / "chain.pem")
    lake = Lake.at(tmp_path / "lake")
    build(lake)
    seal_lake(lake, key)
    erase_subject(lake, subject(), vacuum=True, after_commit=lambda: seal_lake(lake, key))
    report = verify_lake(lake)
    assert report.status == "clean", [f for f in report.findings if f.severity != "info"]
    assert {f.kind for f in report.findings} <= {"expired"}


def test_a_match_never_spans_two_columns(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path / "lake")
    lake.writer(EVENTS).write(EVENTS.to_arrow([event("r9", "2026-11-20", prompt="call 415", completion="5550134")]),
                              "seed")
    result = erase_subject(lake, subject(), mode="remove", dry_run=True)
    assert result.totals()["events"]["rows"] == 0
