"""The ingest subcommands: ``ingest-file``, ``consume``, ``redact``, ``compact``, ``lake convert|check`` (cli.md).

Each is registered on the ``tracelake`` group by :mod:`tracelake.cli.main`.
Heavy imports (the pipeline, the redaction model, Kafka) happen inside the
commands so ``tracelake --help`` stays fast. User errors are
:class:`~tracelake.errors.TracelakeError`: one line on stderr, exit 2
(:mod:`tracelake.cli.errors`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from tracelake.cli.options import bootstrap_option, command, format_option, group, lake_of, lake_option, settings
from tracelake.cli.output import emit
from tracelake.errors import TracelakeError, Unavailable, UserError
from tracelake.lifecycle import setup_logging, stop_on_signals

if TYPE_CHECKING:
    from tracelake.ingest.setup import PipelineParts
    from tracelake.lake.lake import Lake
    from tracelake.settings import Settings


def _parts(config: Settings, the_lake: Lake, **kw: Any) -> PipelineParts:
    """The pipeline's parts writing to ``the_lake``; a bad prices file or an unusable lake is a user error."""
    from tracelake.ingest.setup import make_parts

    try:
        return make_parts(config, lake=the_lake, **kw)
    except TracelakeError:
        raise
    except (OSError, ValueError) as exc:
        raise UserError(str(exc)) from None


@command("ingest-file")
@click.argument("paths", nargs=-1, required=True)
@lake_option
@format_option
def ingest_file(paths: tuple[str, ...], lake: str | None, fmt: str | None) -> None:
    """Read JSON Lines files ('-' for stdin) through validate → redact → write."""
    for path in paths:
        if path != "-" and not os.access(path, os.R_OK):
            raise UserError(f"cannot read {path}: no such file or not readable")
    config = settings(lake=lake)
    the_lake = lake_of(config)
    from tracelake.ingest.file_ingest import ingest_stream

    click.echo(f"ingesting into {the_lake} …", err=True)
    try:
        summary = ingest_stream(list(paths), _parts(config, the_lake), the_lake, stdin=sys.stdin.buffer)
    except OSError as exc:  # the lake refused a write (read-only, full, I/O error): one line, nothing half-written
        raise Unavailable(f"cannot write the lake at {config.lake}: {exc}") from None
    emit({"accepted": summary.accepted, "rejected": summary.rejected, "duplicates": summary.duplicates}, fmt)


@command()
@lake_option
@bootstrap_option
@click.option("--group", default=None, help="Consumer group id.")
def consume(lake: str | None, bootstrap: str | None, group: str | None) -> None:
    """The Kafka consumer: runs until SIGINT/SIGTERM, then flushes, commits and exits 0."""
    # First thing: a SIGTERM while the model loads (seconds) is a clean stop, not a kill.
    with stop_on_signals() as stop:
        config = settings(lake=lake, kafka_bootstrap=bootstrap, group=group)
        the_lake = lake_of(config)
        if not config.kafka_bootstrap:
            raise UserError("no Kafka configured: pass --bootstrap HOST:PORT or set TRACELAKE_KAFKA_BOOTSTRAP")
        click.echo("starting the consumer (loading the redaction model) …", err=True)
        from kafka.errors import KafkaError

        from tracelake.ingest.backends.kafka import KafkaBackend
        from tracelake.ingest.consumer import Consumer, lake_resume
        from tracelake.ingest.pipeline import build_pipeline
        from tracelake.ingest.sinks import KafkaDeadLetterSink

        setup_logging()
        try:
            dlq = KafkaDeadLetterSink(config.kafka_bootstrap, config.dlq_topic,
                                      max_message_bytes=config.dlq_max_message_bytes)
            backend = KafkaBackend(config.kafka_bootstrap, config.topic, config.group,
                                   session_timeout_ms=config.kafka_session_timeout_ms,
                                   heartbeat_interval_ms=config.kafka_heartbeat_interval_ms,
                                   max_poll_interval_ms=config.kafka_max_poll_interval_ms)
        except KafkaError as exc:
            raise Unavailable(f"cannot reach Kafka at {config.kafka_bootstrap}: {exc}") from None
        except ValueError as exc:  # group timings that do not fit together
            raise UserError(str(exc)) from None
        parts = _parts(config, the_lake, dlq=dlq)
        from tracelake.transforms.processor import interrupt_when
        from tracelake.transforms.redact import Redactor

        if isinstance(parts.redactor, Redactor):  # SIGTERM mid-batch: abandon it after the grace, exit 0
            parts.redactor.should_stop = interrupt_when(stop, config.stop_grace_s)
        if stop.is_set():
            backend.close()
            dlq.close()
            click.echo("stopped before consuming anything", err=True)
            return
        click.echo(f"consuming {config.topic} as group {config.group} into {the_lake} "
                   f"(Ctrl-C or SIGTERM: flush, commit, exit)", err=True)
        from tracelake.ingest.write_retry import guard_writes

        # Disk faults (read-only, full, EIO) are waited out holding the batch uncommitted (docs/ingest.md, Faults).
        health = guard_writes(parts, the_lake.state_dir, stop, group=config.group)
        try:
            complete = Consumer(backend, lambda commit: build_pipeline(parts, commit), parts.counters,
                                resume=lake_resume(the_lake)).run(stop)
        finally:
            health.close()
    click.echo("consumer stopped: everything written and committed" if complete else
               "consumer stopped mid-batch: the uncommitted batch will be re-delivered", err=True)


@command()
def redact() -> None:
    """JSON Lines events on stdin → the same events redacted on stdout."""
    redact_stream()


def redact_stream(batch: int = 500) -> None:
    """``tracelake redact``: valid events redacted to stdout, ``batch`` at a time; invalid lines on stderr.

    Fails closed: an event that cannot be redacted is reported, not printed.
    Raises :class:`UserError` after the last line when any line was invalid.
    """
    from tracelake.contract import Rejection, validate_event
    from tracelake.ingest.setup import make_redactor

    redactor = make_redactor(settings())
    bad = 0
    pending: list[dict[str, Any]] = []
    out = sys.stdout.buffer

    def flush() -> None:
        for result in redactor.redact_events(pending):
            if isinstance(result, tuple):
                out.write(orjson.dumps(result[0]) + b"\n")
            else:
                click.echo(f"tracelake: an event could not be redacted: {result.reason}", err=True)
        out.flush()
        pending.clear()

    for number, line in enumerate(sys.stdin.buffer, start=1):
        result = validate_event(line.rstrip(b"\r\n"))
        if isinstance(result, Rejection):
            bad += 1
            click.echo(f"line {number}: {result.reason}", err=True)
            continue
        pending.append(result.to_wire())
        if len(pending) >= batch:
            flush()
    flush()
    if bad:
        raise UserError(f"{bad} invalid line{'s' if bad > 1 else ''} skipped (reasons above)")


@command()
@lake_option
@click.option("--older-than", type=click.IntRange(min=0), default=1, show_default=True, metavar="DAYS",
              help="Compact date partitions at least this many days old (UTC).")
@click.option("--retention-hours", type=click.IntRange(min=0), default=168, show_default=True, metavar="HOURS",
              help="Vacuum: delete files that left the table at least this long ago.")
@format_option
def compact(lake: str | None, older_than: int, retention_hours: int, fmt: str | None) -> None:
    """Delta maintenance: rewrite closed partitions without duplicate rows and with few files, vacuum, checkpoint.

    Safe while consume runs. Unreadable files are moved to <lake>/_quarantine/ (a warning each on stderr)
    instead of stopping it.
    """
    from datetime import timedelta

    from tracelake.ingest.compact import compact_lake

    config = settings(lake=lake)
    try:
        report = compact_lake(lake_of(config), older_than_days=older_than, on_quarantine=_warn_quarantined,
                              retention_hours=retention_hours, run_horizon=timedelta(hours=config.run_max_duration_h))
    except OSError as exc:
        raise Unavailable(f"cannot compact the lake: {exc}") from None
    for row in report.partitions:
        if row.action == "skipped":
            click.echo(f"tracelake: warning: {row.table} {row.partition} not compacted: {row.note}", err=True)
    for done in report.maintenance:
        click.echo(f"tracelake: {done.table}: vacuum deleted {done.vacuumed} removed and {done.orphans} "
                   f"unreferenced file{'' if done.orphans == 1 else 's'}; checkpoint at version "
                   f"{done.checkpoint_version}", err=True)
    if report.rollup is not None and report.rollup.changed:
        click.echo(f"tracelake: runs rollup: {report.rollup.runs_recomputed} runs recomputed from "
                   f"{report.rollup.new_files} new files in {report.rollup.seconds:.1f} s", err=True)
    from tracelake.governance.seal_hooks import seal_quietly

    sealed = seal_quietly(lake_of(config), config.chain_key_file)  # the rewrites are legitimate, signed commits
    if sealed is not None and sealed.sealed:
        click.echo(f"tracelake: commit chain: {sealed.sealed} commits sealed", err=True)
    emit([r.__dict__ for r in report.partitions], fmt)


def _warn_quarantined(bad: Any, moved: Path) -> None:
    click.echo(f"tracelake: warning: quarantined unreadable file {bad.path} ({bad.error}) as {moved}", err=True)


@group()
def lake() -> None:
    """Lake maintenance: convert a pre-Delta lake, find and quarantine unreadable files, refresh the runs rollup."""


@lake.command("convert")
@lake_option
@click.option("--deep", is_flag=True, help="Also decode every row group first (quarantines corrupt files; slower).")
@format_option
def lake_convert(lake: str | None, deep: bool, fmt: str | None) -> None:
    """Turn a pre-Delta lake (Hive-partitioned Parquet) into Delta tables in place; every row kept.

    Tables already converted are left alone. Unreadable files are quarantined first, never converted.
    """
    from tracelake.lake.convert import convert_lake

    the_lake = lake_of(settings(lake=lake))
    try:
        done = convert_lake(the_lake, deep=deep, on_quarantine=_warn_quarantined)
    except OSError as exc:
        raise Unavailable(f"cannot convert the lake: {exc}") from None
    emit([d.__dict__ for d in done], fmt)


@lake.command("rollup")
@lake_option
@format_option
def lake_rollup(lake: str | None, fmt: str | None) -> None:
    """Bring the runs rollup (one row per run, what run metrics read) up to date with the events table now,
    after de-duplicating on disk the days still being written (their copies deleted, their files marked clean).

    Consumers do this by themselves, in the background, every TRACELAKE_ROLLUP_INTERVAL_S; queries add the
    runs touched since on the fly, so this is never needed for a correct answer, only for a fast one (e.g.
    after a bulk ingest-file). Safe while consumers run.
    """
    from datetime import timedelta

    from tracelake.ingest.derived import refresh_derived

    config = settings(lake=lake)
    the_lake = lake_of(config)
    try:
        done = refresh_derived(the_lake, timedelta(hours=config.run_max_duration_h), config.controls_config_file)
    except OSError as exc:
        raise Unavailable(f"cannot refresh the runs rollup: {exc}") from None
    emit([{**done.runs.__dict__, "seconds": round(done.runs.seconds, 3),
           "controls": {**done.controls.__dict__, "seconds": round(done.controls.seconds, 3)},
           "tidied": [{**t.__dict__, "day": t.day.isoformat()} for t in done.tidied]}], fmt)


@lake.command("check")
@lake_option
@click.option("--deep", is_flag=True, help="Also decode every row group (finds corruption inside a file; slower).")
@click.option("--dry-run", is_flag=True, help="Report unreadable files without moving them.")
@format_option
def lake_check(lake: str | None, deep: bool, dry_run: bool, fmt: str | None) -> None:
    """Find unreadable live Parquet files of the lake's tables and move them to <lake>/_quarantine/ (logged in
    quarantine.jsonl, their removal committed to the table). On an s3:// lake: report only.

    Exit 0 when every file is readable, 1 when some were found (quarantined unless --dry-run).
    """
    the_lake = lake_of(settings(lake=lake))
    if the_lake.is_remote:
        if not dry_run:
            click.echo("tracelake: note: the lake is on object storage: reporting only (quarantine needs a local "
                       "lake; --dry-run implied)", err=True)
        dry_run = True
    elif not the_lake.local_root.is_dir():
        raise UserError(f"no lake at {the_lake}")
    found = []
    for bad in the_lake.scan(deep=deep):
        moved = None
        if not dry_run:
            try:
                moved = str(the_lake.quarantine(bad))
            except FileNotFoundError:
                continue  # gone meanwhile (a compaction): nothing to quarantine
            except OSError as exc:
                raise Unavailable(f"cannot quarantine {bad.path}: {exc}") from None
        found.append({"file": str(bad.path), "size": bad.size, "error": bad.error, "moved_to": moved})
    emit(found, fmt)
    what = "found" if dry_run else "quarantined"
    click.echo(f"tracelake: {len(found)} unreadable file{'' if len(found) == 1 else 's'} {what}", err=True)
    if found:
        sys.exit(1)
