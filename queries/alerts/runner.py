"""One alert evaluation end to end: evaluate → store the new alerts → announce them.

This is what ``tracelake alerts run`` and every tick of ``alerts schedule``
call, on one lake connection per run. Order matters: alerts are durably in the
lake's table before any sink sees them, so a failing webhook never loses one.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tracelake.lake.lake import LakeRef, as_lake
from tracelake.queries.alerts.evaluate import evaluate, evaluation_window
from tracelake.queries.alerts.rules import Rule
from tracelake.queries.alerts.sinks import Delivery, post_webhook
from tracelake.queries.alerts.store import store_new
from tracelake.queries.engine import LakeConnection, Limits, open_lake
from tracelake.queries.flags import FlagChange
from tracelake.queries.flags_auto import FlagAutomation, apply_alerts


@dataclass(frozen=True)
class Webhook:
    url: str
    timeout_s: float = 5.0
    retries: int = 3
    backoff_s: float = 0.5


@dataclass(frozen=True)
class RunReport:
    now: datetime
    alerts: list[dict[str, Any]]  # the new ones, stored by this run
    raised: int  # all that fired, including those an earlier run already stored
    delivery: Delivery | None
    flag_changes: list[FlagChange] = field(default_factory=list)  # flags the new alerts set ([flags] of the rules)


def run_once(lake: LakeRef, rules: Sequence[Rule], now: datetime, *,
             limits: Limits | None = None, run_horizon: timedelta = timedelta(hours=24),
             webhook: Webhook | None = None, con: LakeConnection | None = None,
             flags: FlagAutomation | None = None) -> RunReport:
    """Evaluate at ``now`` over ``lake`` (the caller's :class:`~tracelake.lake.lake.Lake`, or its root), store
    what is new, post it to the webhook (if any). Raises OSError if the table cannot be written (then nothing
    is announced); the engine's errors from the queries.

    One connection for the whole job (every tenant, pruned to
    :func:`~tracelake.queries.alerts.evaluate.evaluation_window`): the rules
    are evaluated on it and the store checks it for the ids already stored.
    ``con``: use the caller's instead (every tenant, reading at least that
    window, else :class:`~tracelake.queries.alerts.scope.ConnectionScopeError`),
    left open. No rules: nothing is read, stored or announced.
    ``flags``: the rules file's ``[flags]`` section; the new alerts of the rules it names set their flags, after
    the alerts are stored (:func:`~tracelake.queries.flags_auto.apply_alerts`).
    """
    if not rules:
        return RunReport(now, [], 0, None)
    lake = as_lake(lake)
    with ExitStack() as stack:
        if con is None:
            window = evaluation_window(rules, now, run_horizon)
            con = stack.enter_context(open_lake(lake, window=window, limits=limits, run_horizon=run_horizon))
        fired = evaluate(lake, rules, now, run_horizon=run_horizon, con=con)
        # The alerts view is read whole (any window) as of the connection's opening: an evaluation of the same
        # `now` storing meanwhile is not seen here, as one storing between this check and the write never was;
        # the view de-duplicates by alert_id either way.
        fresh = store_new(lake, con, fired)
    changes = apply_alerts(lake, flags, fresh) if flags is not None else []
    delivery = None
    if webhook and fresh:  # after the connection is closed: a slow webhook holds no DuckDB memory
        delivery = post_webhook(webhook.url, fresh, timeout_s=webhook.timeout_s, retries=webhook.retries,
                                backoff_s=webhook.backoff_s)
    return RunReport(now, fresh, len(fired), delivery, changes)
