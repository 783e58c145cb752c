"""The ingest subcommands: ``ingest-file``, ``consume``, ``redact`` (cli.md)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

import click
import orjson

from tracelake.cli.output import CliError, emit
from tracelake.settings import Settings


def _settings(**options: object) -> Settings:
    try:
        return Settings.from_options(**options)
    except ValueError as exc:
        raise CliError(f"bad setting: {exc}".splitlines()[0]) from None


def _parts(settings: Settings, **kw: object):
    from tracelake.ingest.setup import make_parts

    try:
        return make_parts(settings, **kw)
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from None


def ingest_file(paths: tuple[str, ...], lake: str | None, fmt: str | None) -> None:
    for path in paths:
        if path != "-" and not os.access(path, os.R_OK):
            raise CliError(f"cannot read {path}: no such file or not readable")
    settings = _settings(lake=lake)
    from tracelake.ingest.file_ingest import ingest_stream

    click.echo(f"ingesting into {settings.lake} …", err=True)
    summary = ingest_stream(list(paths), _parts(settings), Path(settings.lake), stdin=sys.stdin.buffer)
    emit({"accepted": summary.accepted, "rejected": summary.rejected, "duplicates": summary.duplicates}, fmt)


def consume(lake: str | None, bootstrap: str | None, group: str | None) -> None:
    # First thing: a SIGTERM while the model loads (seconds) is a clean stop, not a kill.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    settings = _settings(lake=lake, kafka_bootstrap=bootstrap, group=group)
    if not settings.kafka_bootstrap:
        raise CliError("no Kafka configured: pass --bootstrap HOST:PORT or set TRACELAKE_KAFKA_BOOTSTRAP")
    click.echo("starting the consumer (loading the redaction model) …", err=True)
    from kafka.errors import KafkaError

    from tracelake.ingest.backends.kafka import KafkaBackend
    from tracelake.ingest.consumer import Consumer
    from tracelake.ingest.pipeline import build_pipeline
    from tracelake.ingest.sinks import KafkaDeadLetterSink

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        dlq = KafkaDeadLetterSink(settings.kafka_bootstrap, settings.dlq_topic)
        backend = KafkaBackend(settings.kafka_bootstrap, settings.topic, settings.group)
    except KafkaError as exc:
        raise CliError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}") from None
    parts = _parts(settings, dlq=dlq)
    if stop.is_set():
        backend.close()
        dlq.close()
        click.echo("stopped before consuming anything", err=True)
        return
    click.echo(f"consuming {settings.topic} as group {settings.group} into {settings.lake} "
               f"(Ctrl-C or SIGTERM: flush, commit, exit)", err=True)
    Consumer(backend, lambda commit: build_pipeline(parts, commit), parts.counters).run(stop)
    click.echo("consumer stopped: everything written and committed", err=True)


def redact(batch: int = 500) -> None:
    from tracelake.contract import Rejection, validate_event
    from tracelake.ingest.setup import make_redactor

    redactor = make_redactor(_settings())
    bad = 0
    pending: list[dict] = []
    out = sys.stdout.buffer

    def flush() -> None:
        for result in redactor.redact_events(pending):
            if isinstance(result, tuple):
                out.write(orjson.dumps(result[0]) + b"\n")
            else:
                # Fail closed: an event that cannot be redacted is not printed.
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
        raise CliError(f"{bad} invalid line{'s' if bad > 1 else ''} skipped (reasons above)")
