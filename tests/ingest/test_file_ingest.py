"""ingest-file: every line accounted for, re-ingesting adds nothing, stdin works."""

from __future__ import annotations

import io
from pathlib import Path

import orjson

from tests.helpers import CONTRACT
from tracelake.ingest.file_ingest import ingest_stream
from tracelake.queries.views import connect


def test_examples_then_reingest_adds_nothing(tmp_path: Path, parts_factory) -> None:
    lake = tmp_path / "lake"
    path = CONTRACT / "examples.jsonl"
    first = ingest_stream([str(path)], parts_factory(lake), lake)
    assert (first.accepted, first.rejected, first.duplicates) == (12, 0, 0)
    again = ingest_stream([str(path)], parts_factory(lake), lake)
    assert (again.accepted, again.rejected, again.duplicates) == (0, 0, 12)
    assert connect(lake).execute("SELECT count(*) FROM events").fetchone()[0] == 12


def test_hostile_file_every_line_accounted_for(tmp_path: Path, parts_factory) -> None:
    good = (CONTRACT / "examples.jsonl").read_bytes().splitlines()
    hostile = [
        b"", b"   ", b"{", b"null", b"[]", b"\"just a string\"", b"\xff\xfe\x00garbage",
        b'{"schema_version":"1"}', b'{"a":' * 5000, b"{}" * 10,
        orjson.dumps({**orjson.loads(good[0]), "ts": "2026-11-24T10:00:00"}),
        orjson.dumps({**orjson.loads(good[0]), "attributes": {"blob": "x" * (1024 * 1024 + 10)}}),
        good[0],  # a duplicate of line 1
        orjson.dumps({**orjson.loads(good[0]), "event_id": "fresh-1", "input": "call Secretname"}),
    ]
    lines = good + hostile
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    lake = tmp_path / "lake"
    summary = ingest_stream([str(path)], parts_factory(lake), lake)
    assert summary.accepted + summary.rejected + summary.duplicates == len(lines)
    assert (summary.accepted, summary.duplicates) == (13, 1)
    con = connect(lake)
    reasons = [r[0] for r in con.execute("SELECT reason FROM dead_letters ORDER BY kafka_offset").fetchall()]
    assert len(reasons) == summary.rejected == len(hostile) - 2
    assert any(r.startswith("too_large") for r in reasons)
    assert any(r == "ts: timestamp has no UTC offset" for r in reasons)
    assert con.execute("SELECT input FROM events WHERE event_id = 'fresh-1'").fetchone()[0] == "call <PERSON>"


def test_stdin(tmp_path: Path, parts_factory) -> None:
    lake = tmp_path / "lake"
    data = (CONTRACT / "examples.jsonl").read_bytes()
    summary = ingest_stream(["-"], parts_factory(lake), lake, stdin=io.BytesIO(data))
    assert summary.accepted == 12
