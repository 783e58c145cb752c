"""What the subcommands share: options declared once, the command class, settings.

Every leaf command is a :class:`Command`: before its body runs (after click
has parsed its arguments, so ``--help`` always works) it checks every
``TRACELAKE_*`` variable, the pipeline's and the SDK's, so a bad value is
the same one-line :class:`~tracelake.errors.ConfigError` on every command,
whether or not that command reads the variable.

Nothing here imports more than click: ``tracelake --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tracelake.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])

if TYPE_CHECKING:
    from tracelake.lake.lake import Lake
    from tracelake.settings import Settings

__all__ = [
    "Command",
    "Group",
    "bootstrap_option",
    "check_environment",
    "command",
    "format_option",
    "group",
    "lake_of",
    "lake_option",
    "rules_option",
    "settings",
    "tenant_option",
    "webhook_option",
]


def check_environment() -> None:
    """Raise :class:`ConfigError` naming the first ``TRACELAKE_*`` variable whose value does not fit."""
    from tracelake.sdk.config import SdkConfig
    from tracelake.settings import Settings

    Settings()
    try:
        SdkConfig.resolve()
    except ValueError as exc:  # the SDK's own message names the variable
        raise ConfigError(str(exc)) from None


def settings(**options: Any) -> Settings:
    """The pipeline settings: the options that were given (not None), then the environment.

    Keys are field names of :class:`~tracelake.settings.Settings`; raises
    :class:`ConfigError` naming the option (``--port``) or the variable.
    """
    from tracelake.queries.controls.library import configure
    from tracelake.settings import Settings

    config = Settings.from_options(**options)
    # The controls' thresholds are part of every connection's control_results view (docs/controls.md).
    configure(config.controls_config_file)
    return config


def lake_of(config: Settings) -> Lake:
    """The command's one :class:`~tracelake.lake.lake.Lake`, built from its settings and handed down.

    The settings have already refused a URL-shaped ``--lake`` / ``TRACELAKE_LAKE``.
    """
    from tracelake.lake.lake import Lake

    return Lake.from_settings(config)


class Command(click.Command):
    """A subcommand whose body runs only in a valid environment (see the module docstring)."""

    def invoke(self, ctx: click.Context) -> Any:
        check_environment()
        return super().invoke(ctx)


class Group(click.Group):
    """A group whose commands are :class:`Command` and whose subgroups are :class:`Group`."""

    command_class = Command
    group_class = type  # subgroups: this same class


def command(name: str | None = None, **attrs: Any) -> Any:
    """``click.command`` making a :class:`Command`."""
    return click.command(name, cls=Command, **attrs)


def group(name: str | None = None, **attrs: Any) -> Any:
    """``click.group`` making a :class:`Group`."""
    return click.group(name, cls=Group, **attrs)


lake_option = click.option("--lake", type=click.Path(file_okay=False), default=None, metavar="DIR|s3://…",
                           help="Where the lake is: a directory or s3://bucket/prefix (TRACELAKE_LAKE).")
bootstrap_option = click.option(
    "--bootstrap", default=None, metavar="HOST:PORT", help="Kafka bootstrap servers (TRACELAKE_KAFKA_BOOTSTRAP)."
)
tenant_option = click.option("--tenant", default=None, help="Only this tenant's rows (as a tenant-scoped API key).")


def metric_options(function: F) -> F:
    """The arguments of a metric question, spelled once for every command that asks one (``tracelake metrics``,
    ``tracelake spark metrics``): NAME, ``--lake``, ``--group-by``, ``--since``, ``--until``, ``--where``,
    ``--tenant``."""
    decorators = (
        click.argument("name"),
        lake_option,
        click.option("--group-by", default=None, metavar="A,B", help="Group columns ('' for one total row)."),
        click.option("--since", default=None, metavar="T", help="RFC 3339 start, inclusive."),
        click.option("--until", default=None, metavar="T", help="RFC 3339 end, exclusive."),
        click.option("--where", multiple=True, metavar="KEY=VALUE", help="Filter on a group column (repeatable)."),
        tenant_option,
    )
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


rules_option = click.option("--rules", type=click.Path(dir_okay=False), default=None,
                            help="TOML rules file (TRACELAKE_ALERTS_RULES_FILE).")
webhook_option = click.option("--webhook", default=None, metavar="URL",
                              help="Slack-compatible webhook for new alerts (TRACELAKE_ALERTS_WEBHOOK_URL).")
format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "table"]),
    default=None,
    help="Output format (default: table on a terminal, json otherwise).",
)
