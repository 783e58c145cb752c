"""The ``tracelake`` console command (``docs/contract/cli.md``).

Every subcommand of the contract exists from the start; those a later stage
fills say so and exit 2. User errors are one line on stderr with exit 2,
never a traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click
import orjson

from tracelake import __version__
from tracelake.cli.output import CliError, default_format, emit, format_option

NOT_YET = "is not implemented yet in this version of tracelake"


def _not_yet(name: str) -> None:
    raise CliError(f"'tracelake {name}' {NOT_YET}")


lake_option = click.option("--lake", type=click.Path(file_okay=False), default=None, help="Lake root (TRACELAKE_LAKE).")
bootstrap_option = click.option(
    "--bootstrap", default=None, metavar="HOST:PORT", help="Kafka bootstrap servers (TRACELAKE_KAFKA_BOOTSTRAP)."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="tracelake")
def cli() -> None:
    """tracelake: the evidence layer for AI agents in production."""


# -- ingest --------------------------------------------------------------
@cli.command("ingest-file")
@click.argument("paths", nargs=-1, required=True)
@lake_option
@format_option
def ingest_file(paths: tuple[str, ...], lake: str | None, fmt: str | None) -> None:
    """Read JSON Lines files ('-' for stdin) through validate → redact → write."""
    from tracelake.cli import ingest_commands

    ingest_commands.ingest_file(paths, lake, fmt)


@cli.command()
@lake_option
@bootstrap_option
@click.option("--group", default=None, help="Consumer group id.")
def consume(lake: str | None, bootstrap: str | None, group: str | None) -> None:
    """The Kafka consumer: runs until SIGINT/SIGTERM, then flushes, commits and exits 0."""
    from tracelake.cli import ingest_commands

    ingest_commands.consume(lake, bootstrap, group)


@cli.command()
def redact() -> None:
    """JSON Lines events on stdin → the same events redacted on stdout."""
    from tracelake.cli import ingest_commands

    ingest_commands.redact()


@cli.command()
@lake_option
@click.option("--older-than", type=click.IntRange(min=0), default=1, show_default=True, metavar="DAYS",
              help="Compact date partitions at least this many days old (UTC).")
@format_option
def compact(lake: str | None, older_than: int, fmt: str | None) -> None:
    """Merge the small files of closed partitions atomically (safe while consume runs)."""
    from tracelake.ingest.compact import compact_lake
    from tracelake.settings import Settings

    results = compact_lake(Settings.from_options(lake=lake).lake, older_than_days=older_than)
    emit([r.__dict__ for r in results], fmt)


# -- analyse -------------------------------------------------------------
tenant_option = click.option("--tenant", default=None, help="Only this tenant's rows (as a tenant-scoped API key).")


@cli.command()
@click.argument("name")
@lake_option
@click.option("--group-by", default=None, metavar="A,B", help="Group columns ('' for one total row).")
@click.option("--since", default=None, metavar="T", help="RFC 3339 start, inclusive.")
@click.option("--until", default=None, metavar="T", help="RFC 3339 end, exclusive.")
@click.option("--where", multiple=True, metavar="KEY=VALUE", help="Filter on a group column (repeatable).")
@tenant_option
@format_option
def metrics(name: str, lake: str | None, group_by: str | None, since: str | None, until: str | None,
            where: tuple[str, ...], tenant: str | None, fmt: str | None) -> None:
    """One metric of metrics.md (success_rate, cost_per_success, …)."""
    from tracelake.cli import analytics_commands

    analytics_commands.metrics(name, lake, group_by, since, until, where, tenant, fmt)


@cli.command()
@click.argument("statement")
@lake_option
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Row limit (default 10000).")
@click.option("--timeout", type=click.FloatRange(min=0.001), default=None, metavar="S",
              help="Lower the time limit (seconds).")
@tenant_option
@click.option("--since", default=None, metavar="T", help="Views read only the partitions from T.")
@click.option("--until", default=None, metavar="T", help="Views read only the partitions before T.")
@format_option
def sql(statement: str, lake: str | None, limit: int | None, timeout: float | None, tenant: str | None,
        since: str | None, until: str | None, fmt: str | None) -> None:
    """Read-only ad-hoc SQL over the lake's views."""
    from tracelake.cli import analytics_commands

    analytics_commands.sql(statement, lake, limit, timeout, tenant, since, until, fmt)


@cli.group()
def alerts() -> None:
    """Drift alerts and canary comparisons."""


rules_option = click.option("--rules", type=click.Path(dir_okay=False), default=None,
                            help="TOML rules file (TRACELAKE_ALERTS_RULES_FILE).")
webhook_option = click.option("--webhook", default=None, metavar="URL",
                              help="Slack-compatible webhook for new alerts (TRACELAKE_ALERTS_WEBHOOK_URL).")


@alerts.command("run")
@lake_option
@rules_option
@click.option("--now", default=None, metavar="T", help="Evaluation time (default: now).")
@click.option("--fail-on-alert", is_flag=True, help="Exit 1 when any rule fires.")
@webhook_option
@format_option
def alerts_run(lake: str | None, rules: str | None, now: str | None, fail_on_alert: bool, webhook: str | None,
               fmt: str | None) -> None:
    """Evaluate the drift rules once, store new alerts, print them."""
    from tracelake.cli import analytics_commands

    analytics_commands.alerts_run(lake, rules, now, fail_on_alert, webhook, fmt)


@alerts.command("schedule")
@click.option("--cron", required=True, metavar="EXPR", help="Cron expression in UTC, e.g. '*/15 * * * *'.")
@lake_option
@rules_option
@webhook_option
def alerts_schedule(cron: str, lake: str | None, rules: str | None, webhook: str | None) -> None:
    """Run 'alerts run' on a cron schedule in a long-running process."""
    from tracelake.cli import analytics_commands

    analytics_commands.alerts_schedule(cron, lake, rules, webhook)


@alerts.command("compare")
@click.option("--workflow", required=True)
@click.option("--baseline", required=True, metavar="V1")
@click.option("--candidate", required=True, metavar="V2")
@lake_option
@click.option("--since", default=None, metavar="T", help="Window start (default: until − 24h).")
@click.option("--until", default=None, metavar="T", help="Window end (default: now).")
@click.option("--by", type=click.Choice(["workflow_version", "release"]), default="workflow_version",
              show_default=True, help="What baseline and candidate name.")
@rules_option
@tenant_option
@format_option
def alerts_compare(workflow: str, baseline: str, candidate: str, lake: str | None, since: str | None,
                   until: str | None, by: str, rules: str | None, tenant: str | None, fmt: str | None) -> None:
    """Canary comparison of two versions of one workflow (exit 0 promote, 1 rollback, 3 hold)."""
    from tracelake.cli import analytics_commands

    analytics_commands.alerts_compare(workflow, baseline, candidate, lake, since, until, by, rules, tenant, fmt)


# -- serve ---------------------------------------------------------------
@cli.command()
@lake_option
@click.option("--host", default=None, help="Address to bind (TRACELAKE_API_HOST; default 127.0.0.1). "
              "Without a keys file only 127.0.0.1 is used.")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (TRACELAKE_API_PORT; default 8000).")
@click.option("--keys", type=click.Path(dir_okay=False), default=None,
              help="TOML keys file (TRACELAKE_API_KEYS_FILE); without one: local mode, no keys, 127.0.0.1 only.")
def api(lake: str | None, host: str | None, port: int | None, keys: str | None) -> None:
    """Serve the HTTP API of api.md."""
    from tracelake.cli import api_commands

    api_commands.api(lake, host, port, keys)


@cli.group()
def keys() -> None:
    """API keys (api.md)."""


@keys.command("create")
@click.option("--tenant", required=True)
@click.option("--role", required=True, type=click.Choice(["ingest", "read", "admin"]))
@click.option("--id", "key_id", default=None)
@click.option("--keys", type=click.Path(dir_okay=False), default=None, help="Keys file (TRACELAKE_API_KEYS_FILE).")
def keys_create(tenant: str, role: str, key_id: str | None, keys: str | None) -> None:
    """Generate a key, store its hash, print it once."""
    from tracelake.cli import api_commands

    api_commands.keys_create(tenant, role, key_id, keys)


@keys.command("list")
@click.option("--keys", type=click.Path(dir_okay=False), default=None, help="Keys file (TRACELAKE_API_KEYS_FILE).")
@format_option
def keys_list(keys: str | None, fmt: str | None) -> None:
    """List key ids, tenants and roles (never keys)."""
    from tracelake.cli import api_commands

    api_commands.keys_list(keys, fmt)


# -- the main job and tools ------------------------------------------------
@cli.command()
@click.option("--duration", type=click.FloatRange(min=1), default=60.0, show_default=True, metavar="S",
              help="Seconds the agent fleet runs.")
@click.option("--rate", type=click.FloatRange(min=0.1), default=12.0, show_default=True, metavar="N",
              help="Agent runs per second (each run is 5-20 events).")
@bootstrap_option
@click.option("--lake", default=None, metavar="DIR",
              help="Demo lake (default ./tracelake-demo; replaced by the next demo, other data refused).")
@click.option("--no-serve", is_flag=True, help="Stop everything and exit after the report.")
@format_option
def demo(duration: float, rate: float, bootstrap: str | None, lake: str | None, no_serve: bool,
         fmt: str | None) -> None:
    """The whole pipeline on this machine: Kafka (local unless --bootstrap), consumer, API, an agent fleet
    with a bad canary, alerts and the canary verdict; then serves until Ctrl-C."""
    from tracelake.cli.demo import run_demo

    as_json = (fmt or default_format()) == "json"
    report = run_demo(duration=duration, rate=rate, bootstrap=bootstrap, lake=lake, serve=not no_serve,
                      quiet=as_json)
    if as_json:
        emit(report, "json")


@cli.group()
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
    import signal
    import threading

    from tracelake.localkafka import LocalKafka

    broker = LocalKafka(data_dir=data_dir, port=port)
    click.echo(f"starting Apache Kafka on 127.0.0.1:{port} …", err=True)
    broker.start()
    click.echo(f"Kafka is up: export TRACELAKE_KAFKA_BOOTSTRAP={broker.bootstrap}  (Ctrl-C stops it)", err=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0) and broker.running:
            pass
    except KeyboardInterrupt:
        pass
    finally:
        broker.close()


@cli.command()
def schema() -> None:
    """Print the project's JSON Schema of trace event v1."""
    from tracelake.contract.schema import trace_event_schema

    click.echo(orjson.dumps(trace_event_schema(), option=orjson.OPT_INDENT_2).decode())


@cli.command()
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


def main(argv: list[str] | None = None) -> int:
    """Entry point: click's usage errors become one line on stderr (exit 2)."""
    from tracelake.localkafka import LocalKafkaError

    try:
        cli.main(args=argv, prog_name="tracelake", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("tracelake: aborted", err=True)
        return 130
    except click.UsageError as exc:
        sub = exc.ctx.command_path.partition(" ")[2] if exc.ctx else ""
        hint = f" (see 'tracelake {sub} --help')".replace("  ", " ")
        click.echo(f"tracelake: error: {exc.format_message()}{hint}", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"tracelake: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except LocalKafkaError as exc:
        click.echo(f"tracelake: error: {exc}", err=True)
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
