"""The main job and the tools: ``demo``, ``kafka install|start``, ``schema``, ``validate`` (cli.md).

Registered on the ``tracelake`` group by :mod:`tracelake.cli.main`; what
each needs is imported inside it.
"""

from __future__ import annotations

import sys
from typing import Any

import click
import orjson

from tracelake.cli.options import bootstrap_option, command, format_option, group
from tracelake.cli.output import default_format, emit
from tracelake.lifecycle import stop_on_signals


@command()
@click.option("--duration", type=click.FloatRange(min=1), default=60.0, show_default=True, metavar="S",
              help="Seconds the agent fleet runs.")
@click.option("--rate", type=click.FloatRange(min=0.1), default=12.0, show_default=True, metavar="N",
              help="Agent runs per second (each run is 5-20 events).")
@bootstrap_option
@click.option("--lake", default=None, metavar="DIR",
              help="Demo lake (default ./tracelake-demo; replaced by the next demo, other data refused); "
                   "with --s3 the folder for the S3 server's data, logs and state.")
@click.option("--s3", is_flag=True,
              help="Run the lake on a loopback S3 server (S3Proxy, Java 17): s3://tracelake/demo.")
@click.option("--no-serve", is_flag=True, help="Stop everything and exit after the report.")
@format_option
def demo(duration: float, rate: float, bootstrap: str | None, lake: str | None, s3: bool, no_serve: bool,
         fmt: str | None) -> None:
    """The whole pipeline on this machine: Kafka (local unless --bootstrap), consumer, API, an agent fleet
    with a bad canary, alerts and the canary verdict; then serves until Ctrl-C."""
    from tracelake.cli.demo import demo_settings, run_demo

    as_json = (fmt or default_format()) == "json"
    # The settings first (--lake, then TRACELAKE_LAKE, then the demo's own default), then the one Lake.
    report = run_demo(duration=duration, rate=rate, bootstrap=bootstrap, lake=lake, serve=not no_serve,
                      quiet=as_json, config=demo_settings(lake=lake, kafka_bootstrap=bootstrap), s3=s3)
    if as_json:
        emit(report, "json")


@group()
def kafka() -> None:
    """The local Apache Kafka broker (Maven Central + Java 17, no Docker)."""


@kafka.command("install")
def kafka_install() -> None:
    """Fetch the broker into the cache (once); print where."""
    from tracelake.localkafka import check_java, install

    check_java()
    click.echo(str(install()))


@kafka.command("start")
@click.option("--port", type=int, default=9092, show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Keep the broker's data here (default: a temporary directory).")
def kafka_start(port: int, data_dir: str | None) -> None:
    """Run a single-node KRaft broker on 127.0.0.1 until Ctrl-C."""
    from tracelake.localkafka import LocalKafka

    broker = LocalKafka(data_dir=data_dir, port=port)
    click.echo(f"starting Apache Kafka on 127.0.0.1:{port} …", err=True)
    broker.start()
    click.echo(f"Kafka is up: export TRACELAKE_KAFKA_BOOTSTRAP={broker.bootstrap}  (Ctrl-C stops it)", err=True)
    with stop_on_signals() as stop:
        try:
            while not stop.wait(1.0) and broker.running:
                pass
        finally:
            broker.close()


@command()
def schema() -> None:
    """Print the project's JSON Schema of trace event v1."""
    from tracelake.contract.schema import trace_event_schema

    click.echo(orjson.dumps(trace_event_schema(), option=orjson.OPT_INDENT_2).decode())


@command()
@click.argument("stream", metavar="PATH", type=click.File("rb"), default="-")
@format_option
def validate(stream: Any, fmt: str | None) -> None:
    """Check JSON Lines events against the contract; exit 1 if any is invalid."""
    from tracelake.contract import Rejection, validate_event

    rows = []
    with stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            result = validate_event(line.rstrip(b"\r\n"))
            if isinstance(result, Rejection):
                rows.append({"line": number, "reason": result.reason})
    emit(rows, fmt)
    if rows:
        sys.exit(1)
