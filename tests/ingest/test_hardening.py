"""Issue 11 on the ingest side: depth and time range at the gate, tenant-scoped identity, lake file modes.

Every accepted event is visible through the ``events`` view; a deep or out-of-range event is dead-lettered
with its reason while the rest of its batch is stored; the same ``event_id`` in two tenants is two events.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from tests.helpers import CONTRACT
from tracelake.ingest.compact import compact_lake
from tracelake.ingest.file_ingest import ingest_stream
from tracelake.lake.lake import Lake, stored_event_ids
from tracelake.lake.tables import EVENTS_SCHEMA
from tracelake.queries.engine import open_lake
from tracelake.queries.views import connect


def event(event_id: str, ts: str = "2026-11-24T10:00:00.000Z", **fields: object) -> dict[str, object]:
    return {"schema_version": "1", "event_id": event_id, "event_type": "custom", "name": "step", "ts": ts,
            "run_id": "run-1", "workflow": "w", "workflow_version": "1", **fields}


def deep_attributes(depth: int) -> bytes:
    """An event line whose ``attributes`` nest ``depth`` levels (built as text: any depth)."""
    head = orjson.dumps(event(f"deep-{depth}"))[:-1]
    return head + b',"attributes":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- depth ---------------------------------------------------------------------------------------------------

def test_deep_events_are_dead_lettered_and_the_rest_of_the_batch_is_stored(tmp_path: Path, parts_factory) -> None:
    good = (CONTRACT / "examples.jsonl").read_bytes().splitlines()
    deep = [deep_attributes(65), deep_attributes(300), deep_attributes(5000)]
    path = write_lines(tmp_path / "in.jsonl", good[:6] + deep + good[6:])
    lake = tmp_path / "lake"
    summary = ingest_stream([str(path)], parts_factory(lake), lake)
    assert (summary.accepted, summary.rejected, summary.duplicates) == (12, 3, 0)
    con = connect(lake)
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 12
    reasons = [r[0] for r in con.execute("SELECT reason FROM dead_letters ORDER BY kafka_offset").fetchall()]
    assert reasons == ["attributes: nested more than 64 levels deep (JSON objects and arrays)"] * 2 + [
        "nested more than 64 levels deep (JSON objects and arrays)"]


def test_an_event_at_the_depth_limit_is_stored_and_read_back(tmp_path: Path, parts_factory) -> None:
    value: object = 1
    for _ in range(63):
        value = {"a": value}
    line = orjson.dumps(event("at-limit", attributes={"k": value}))
    lake = tmp_path / "lake"
    summary = ingest_stream([str(write_lines(tmp_path / "in.jsonl", [line]))], parts_factory(lake), lake)
    assert (summary.accepted, summary.rejected) == (1, 0)
    stored = connect(lake).execute("SELECT attributes FROM events").fetchone()[0]
    assert orjson.loads(stored) == {"k": value}


# --- time range: nothing accepted is invisible -------------------------------------------------------------

def test_every_accepted_timestamp_is_visible_and_the_out_of_range_ones_are_dead_lettered(
        tmp_path: Path, parts_factory) -> None:
    now = datetime.now(UTC)
    accepted = {"epoch": "1970-01-01T00:00:00.000Z", "epoch-offset": "1970-01-01T05:30:00.000+05:30",
                "now": iso(now), "tomorrow": iso(now + timedelta(hours=23, minutes=50))}
    refused = {"before-epoch": "1969-12-31T23:59:59.999Z", "year-999": "0999-01-01T00:00:00.000Z",
               "year-1": "0001-01-01T00:00:00Z", "too-late": iso(now + timedelta(hours=24, minutes=10)),
               "year-9999": "9999-12-31T23:59:59.999Z"}
    lines = [orjson.dumps(event(k, ts=v)) for k, v in {**accepted, **refused}.items()]
    lake = tmp_path / "lake"
    summary = ingest_stream([str(write_lines(tmp_path / "in.jsonl", lines))], parts_factory(lake), lake)
    assert (summary.accepted, summary.rejected) == (len(accepted), len(refused))
    con = connect(lake)
    seen = {r[0]: r[1] for r in con.execute("SELECT event_id, ts FROM events").fetchall()}
    assert set(seen) == set(accepted)
    assert seen["epoch"] == seen["epoch-offset"] == datetime(1970, 1, 1, tzinfo=UTC)
    # Every partition directory on disk is one the views read (besides the table's log).
    partitions = sorted(p.name for p in (lake / "events").iterdir() if p.name != "_delta_log")
    assert all(len(name) == len("event_date=YYYY-MM-DD") for name in partitions), partitions
    reasons = [r[0] for r in con.execute("SELECT reason FROM dead_letters ORDER BY kafka_offset").fetchall()]
    assert len(reasons) == len(refused) and all(r.startswith("ts: ") for r in reasons)
    assert sum("before 1970-01-01" in r for r in reasons) == 3
    assert sum("more than 24 h in the future" in r for r in reasons) == 2


# --- the CLI: one line per bad event, documented exit codes, never a traceback --------------------------------

def tracelake(*args: str, stdin: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "tracelake.cli.main", *args], input=stdin, capture_output=True,
                          timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def hostile_lines() -> list[bytes]:
    good = orjson.dumps(event("fine-1"))
    return [good, deep_attributes(300), deep_attributes(5000), orjson.dumps(event("old", ts="0999-01-01T00:00:00Z")),
            orjson.dumps(event("fine-2"))]


def test_cli_validate_reports_deep_and_out_of_range_lines(tmp_path: Path, hostile_lines: list[bytes]) -> None:
    result = tracelake("validate", "--format", "json", stdin=b"\n".join(hostile_lines) + b"\n")
    assert result.returncode == 1, result.stderr
    assert b"Traceback" not in result.stderr and b"RecursionError" not in result.stderr
    rows = orjson.loads(result.stdout)
    assert [r["line"] for r in rows] == [2, 3, 4]
    assert "nested more than 64 levels" in rows[0]["reason"] and "before 1970" in rows[2]["reason"]


def test_cli_redact_skips_deep_lines_and_exits_2(hostile_lines: list[bytes]) -> None:
    result = tracelake("redact", stdin=b"\n".join(hostile_lines) + b"\n")
    assert result.returncode == 2, result.stderr
    assert b"Traceback" not in result.stderr
    assert [orjson.loads(line)["event_id"] for line in result.stdout.splitlines()] == ["fine-1", "fine-2"]
    stderr = result.stderr.decode()
    assert "line 2: attributes: nested more than 64 levels" in stderr and "line 3: nested more than" in stderr


def test_cli_ingest_file_stores_the_rest_and_exits_0(tmp_path: Path, hostile_lines: list[bytes]) -> None:
    path = write_lines(tmp_path / "in.jsonl", hostile_lines)
    result = tracelake("ingest-file", str(path), "--lake", str(tmp_path / "lake"), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    assert orjson.loads(result.stdout) == {"accepted": 2, "rejected": 3, "duplicates": 0}
    con = connect(tmp_path / "lake")
    assert sorted(r[0] for r in con.execute("SELECT event_id FROM events").fetchall()) == ["fine-1", "fine-2"]


# --- tenant-scoped identity ------------------------------------------------------------------------------------

def test_same_event_id_in_two_tenants_is_two_events(tmp_path: Path, parts_factory) -> None:
    lines = [orjson.dumps(event("shared", tenant="acme", name="acme-step")),
             orjson.dumps(event("shared", tenant="globex", name="globex-step")),
             orjson.dumps(event("shared", tenant="acme", name="acme-resend"))]  # a true duplicate
    path = write_lines(tmp_path / "in.jsonl", lines)
    lake = tmp_path / "lake"
    summary = ingest_stream([str(path)], parts_factory(lake), lake)
    assert (summary.accepted, summary.duplicates) == (2, 1)
    again = ingest_stream([str(path)], parts_factory(lake), lake)
    assert (again.accepted, again.duplicates) == (0, 3)
    rows = connect(lake).execute("SELECT tenant, name FROM events ORDER BY tenant").fetchall()
    assert rows == [("acme", "acme-step"), ("globex", "globex-step")]
    for tenant in ("acme", "globex"):
        with open_lake(lake, tenant=tenant) as con:
            assert con.execute("SELECT tenant, name FROM events").fetchall() == [(tenant, f"{tenant}-step")]


def test_stored_event_ids_is_keyed_by_tenant(tmp_path: Path, parts_factory) -> None:
    lake = tmp_path / "lake"
    ingest_stream([str(write_lines(tmp_path / "in.jsonl", [orjson.dumps(event("x", tenant="acme"))]))],
                  parts_factory(lake), lake)
    keys = {("acme", "x"), ("globex", "x"), ("acme", "y")}
    assert stored_event_ids(lake, keys, {"2026-11-24"}) == {("acme", "x")}


def tenant_rows(items: list[tuple[str, str, str]], offset: int, day: str = "2026-11-20") -> pa.Table:
    ts = datetime.fromisoformat(f"{day}T10:00:00+00:00")
    return pa.Table.from_pylist(
        [{"event_id": i, "tenant": t, "event_type": "custom", "name": name, "ts": ts, "event_date": day,
          "source": "kafka", "kafka_topic": "t", "kafka_partition": 0, "kafka_offset": offset + n,
          "ingested_at": ts + timedelta(seconds=offset + n)}
         for n, (t, i, name) in enumerate(items)], schema=EVENTS_SCHEMA)


def test_views_and_compaction_key_on_tenant_and_event_id(tmp_path: Path) -> None:
    writer = Lake.at(tmp_path).writer("events")
    writer.write(tenant_rows([("acme", "e1", "first"), ("globex", "e1", "other-tenant")], 0), "t.p0.o0-1")
    writer.write(tenant_rows([("acme", "e1", "replayed"), ("globex", "e2", "solo")], 10), "t.p0.o10-11")
    query = "SELECT tenant, event_id, name FROM events ORDER BY tenant, event_id"
    expected = [("acme", "e1", "first"), ("globex", "e1", "other-tenant"), ("globex", "e2", "solo")]
    assert connect(tmp_path).execute(query).fetchall() == expected
    with open_lake(tmp_path, tenant="globex") as con:
        assert con.execute(query).fetchall() == expected[1:]
    (result,) = compact_lake(tmp_path, older_than_days=1).partitions
    assert (result.files_before, result.rows_in, result.rows_out) == (2, 4, 3)
    assert connect(tmp_path).execute(query).fetchall() == expected


# --- lake file modes -------------------------------------------------------------------------------------------

@pytest.fixture(params=[0o022, 0o002, 0o077])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_lake_files_and_directories_have_explicit_modes(tmp_path: Path, parts_factory, umask: int) -> None:
    from tracelake.lake.writer import LAKE_DIR_MODE, LAKE_FILE_MODE

    assert (LAKE_FILE_MODE, LAKE_DIR_MODE) == (0o640, 0o750)
    lake = tmp_path / "lake"
    lines = [orjson.dumps(event("a")), orjson.dumps(event("b", ts="2026-11-23T10:00:00Z")), b"{bad"]
    ingest_stream([str(write_lines(tmp_path / "in.jsonl", lines))], parts_factory(lake), lake)
    ingest_stream([str(write_lines(tmp_path / "in2.jsonl", [orjson.dumps(event("c"))]))], parts_factory(lake), lake)
    assert compact_lake(lake, older_than_days=1)  # the compacted file goes through the same writer
    files = sorted(p for p in lake.rglob("*") if p.is_file())
    directories = [*sorted(p for p in lake.rglob("*") if p.is_dir()), lake]
    assert len([f for f in files if f.suffix == ".parquet"]) >= 2 and any(f.suffix == ".json" for f in files)
    assert {(f.relative_to(lake).as_posix(), oct(mode(f))) for f in files} == {
        (f.relative_to(lake).as_posix(), oct(LAKE_FILE_MODE)) for f in files}
    assert {(d.name, oct(mode(d))) for d in directories} == {(d.name, oct(LAKE_DIR_MODE)) for d in directories}


def test_writer_modes_are_settable(tmp_path: Path, umask: int) -> None:
    lake = Lake(tmp_path / "lake", file_mode=0o600, dir_mode=0o700)
    assert lake.writer("events").write(tenant_rows([("acme", "e1", "x")], 0), "t.p0.o0-0") == 1
    (path,) = lake.data_files("events")
    assert mode(Path(path.uri)) == 0o600
    assert mode(Path(path.uri).parent) == mode(tmp_path / "lake" / "events") == mode(tmp_path / "lake") == 0o700
    assert {mode(p) for p in (tmp_path / "lake" / "events" / "_delta_log").iterdir()} == {0o600}


def test_an_existing_lake_root_keeps_its_mode(tmp_path: Path, umask: int) -> None:
    root = tmp_path / "lake"
    root.mkdir()
    root.chmod(0o755)  # made by the operator: not ours to change
    Lake.at(root).writer("events").write(tenant_rows([("acme", "e1", "x")], 0), "t.p0.o0-0")
    assert mode(root) == 0o755
    assert mode(root / "events") == 0o750


# --- the image runs as an unprivileged user (no Docker engine needed: the Dockerfile is read) --------------------

def test_docker_image_runs_as_an_unprivileged_user_owning_its_data_directories() -> None:
    dockerfile = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    lines = [line.strip() for line in dockerfile.splitlines() if line.strip() and not line.startswith("#")]
    instructions = [line.split()[0].upper() for line in lines if line.split()[0].isupper()]
    users = [line.split()[1] for line in lines if line.upper().startswith("USER ")]
    assert users and users[-1] not in ("root", "0", "0:0"), "the image must end with a non-root USER"
    # Nothing runs as root after the switch, and the entry point comes after it.
    last_user = max(i for i, kind in enumerate(instructions) if kind == "USER")
    assert "RUN" not in instructions[last_user:] and instructions.index("ENTRYPOINT") > last_user
    user = users[-1].split(":")[0]
    volumes = [word.strip('[]",') for line in lines if line.upper().startswith("VOLUME ")
               for word in line.split()[1:]]
    joined = " ".join(lines)
    assert "/lake" in volumes
    for path in ("/lake", "/keys", "/spool"):  # the compose volumes: they start with the image's ownership
        assert f"chown {user}:{user}" in joined and path in joined.split(f"chown {user}:{user}", 1)[1]
