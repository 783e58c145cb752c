"""The ``tracelake`` console command (``docs/contract``, cli.md).

The group is defined here; each subcommand is defined once, with its click
decorators, in the module of its stage and registered below:

- :mod:`tracelake.cli.ingest_commands`: ``ingest-file``, ``consume``, ``redact``, ``compact``, ``lake check``;
- :mod:`tracelake.cli.analytics_commands`: ``metrics``, ``sql``, ``alerts run|schedule|compare``;
- :mod:`tracelake.cli.flags_commands`: ``flags set|get|list|history``;
- :mod:`tracelake.cli.api_commands`: ``api``, ``keys create|list``;
- :mod:`tracelake.cli.tool_commands`: ``demo``, ``kafka install|start``, ``schema``, ``validate``;
- :mod:`tracelake.cli.s3_commands`: ``s3 install|start``.

Those modules import only click at the top, so ``tracelake --help`` stays
fast. Errors: :func:`main` runs the group through the one wrapper,
:func:`tracelake.cli.errors.run` (one line on stderr, exit 2 for a user
error, never a traceback); a bad ``TRACELAKE_*`` variable is reported the
same way by every command (:class:`tracelake.cli.options.Command`).
"""

from __future__ import annotations

import sys

import click

from tracelake import __version__
from tracelake.cli import (
    analytics_commands,
    api_commands,
    audit_commands,
    controls_commands,
    flags_commands,
    governance_commands,
    ingest_commands,
    s3_commands,
    spark_commands,
    tool_commands,
)
from tracelake.cli.errors import run
from tracelake.cli.options import group


@group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="tracelake")
def cli() -> None:
    """tracelake: the evidence layer for AI agents in production."""


# In the order of `tracelake --help`'s sections: ingest, analyse, serve, the main job and tools.
for _command in (
    ingest_commands.ingest_file, ingest_commands.consume, ingest_commands.redact, ingest_commands.compact,
    ingest_commands.lake,
    analytics_commands.metrics, analytics_commands.sql, analytics_commands.alerts, controls_commands.controls,
    flags_commands.flags,
    api_commands.api, api_commands.keys,
    audit_commands.verify, audit_commands.chain, audit_commands.audit,
    governance_commands.retention, governance_commands.erase,
    tool_commands.demo, tool_commands.kafka, s3_commands.s3, spark_commands.spark, tool_commands.schema,
    tool_commands.validate,
):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run ``argv`` (default ``sys.argv[1:]``), return the exit code."""
    return run(cli, argv)


if __name__ == "__main__":
    sys.exit(main())
