"""``tracelake flags set|get|list|history``: the operators' side of workflow flags (docs/flags.md, cli.md).

Flags live in the lake's ``flags`` table (:mod:`tracelake.queries.flags`); these commands read and append to it
directly, as the API's ``POST /v1/flags`` does. Every change is recorded with who (``--who``, default
``cli:<login name>``), when, the flag before and after, and the reason. User errors (an unknown action, a
throttle without a rate in (0, 1], a pin without a version, no reason) are one line on stderr, exit 2.
"""

from __future__ import annotations

import getpass

import click

from tracelake.cli.options import format_option, group, lake_of, lake_option, settings
from tracelake.cli.output import emit

_tenant = click.option("--tenant", default="default", show_default=True, help="The tenant whose flags these are.")


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "cli:unknown"


@group()
def flags() -> None:
    """Workflow flags: allow, throttle, pin_version, pause (audited)."""


@flags.command("set")
@click.argument("workflow")
@click.argument("action", type=click.Choice(["allow", "throttle", "pin_version", "pause"]))
@click.option("--rate", type=float, default=None, help="throttle: the share of runs admitted, in (0, 1].")
@click.option("--version", "version", default=None, metavar="V", help="pin_version: the workflow version to run.")
@click.option("--reason", required=True, help="Why (kept in the audit trail).")
@click.option("--who", default=None, help="Who sets it (default: cli:<login name>).")
@_tenant
@lake_option
@format_option
def flags_set(workflow: str, action: str, rate: float | None, version: str | None, reason: str, who: str | None,
              tenant: str, lake: str | None, fmt: str | None) -> None:
    """Set WORKFLOW's flag to ACTION."""
    from tracelake.queries.flags import FlagTable

    config = settings(lake=lake)
    change = FlagTable(lake_of(config)).set(tenant=tenant, workflow=workflow, action=action, rate=rate,
                                            version=version, reason=reason, who=who or _who())
    assert change is not None  # only_if_changed is off
    emit(change.to_json(), fmt)


@flags.command("get")
@click.argument("workflow")
@_tenant
@lake_option
@format_option
def flags_get(workflow: str, tenant: str, lake: str | None, fmt: str | None) -> None:
    """WORKFLOW's flag (allow when none was ever set)."""
    from tracelake.queries.flags import FlagTable

    config = settings(lake=lake)
    emit(FlagTable(lake_of(config)).get(tenant, workflow).to_json(), fmt)


@flags.command("list")
@_tenant
@lake_option
@format_option
def flags_list(tenant: str, lake: str | None, fmt: str | None) -> None:
    """The flag of every workflow that ever had one."""
    from tracelake.queries.flags import FlagTable

    config = settings(lake=lake)
    current = FlagTable(lake_of(config)).current(tenant)
    emit([current[name].to_json() for name in sorted(current)], fmt)


@flags.command("history")
@click.argument("workflow", required=False)
@_tenant
@lake_option
@format_option
def flags_history(workflow: str | None, tenant: str, lake: str | None, fmt: str | None) -> None:
    """Every change (of WORKFLOW's flag), oldest first: who, when, old → new, why."""
    from tracelake.queries.flags import FlagTable

    config = settings(lake=lake)
    changes = FlagTable(lake_of(config)).history(tenant, workflow)
    rows = []
    for change in changes:
        row = change.to_json()
        previous = row.pop("previous")
        rows.append({"changed_at": row["changed_at"], "workflow": row["workflow"], "who": row["who"],
                     "from": _describe(previous), "to": _describe(row), "reason": row["reason"]})
    emit(rows, fmt)


def _describe(flag: dict[str, object]) -> str:
    if flag["action"] == "throttle":
        return f"throttle {flag['rate']}"
    if flag["action"] == "pin_version":
        return f"pin_version {flag['version']}"
    return str(flag["action"])
