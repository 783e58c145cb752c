"""The dashboard's controls panel: pass rate per control per workflow version, failing runs linked.

Data from the same functions as ``GET /v1/controls`` and ``tracelake controls run``: the ``control_pass_rate``
metric and :func:`tracelake.queries.controls.report.failing_runs`, on the page's one connection (``con``).
HTML: a pure function, every value escaped; links to the run pages carry no key (the cookie does).
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from tracelake.api.dashboard.charts import percent
from tracelake.queries.controls.report import failing_runs
from tracelake.queries.engine import LakeConnection, QueryError
from tracelake.queries.metrics import run_metric

FAILING = 20  # newest failing runs listed
METRIC = "control_pass_rate"


def controls_data(con: LakeConnection, since: datetime, now: datetime) -> dict[str, Any]:
    """Pass rates per control and workflow version for runs finished in ``[since, now)``, and the newest
    ``FAILING`` runs that failed a control there.

    A query that fails (over its time or memory budget: a lake whose control_results does not cover the
    server's controls yet is evaluated from the events, see docs/controls.md) is reported in ``error``, one
    line, instead of failing the page; :class:`~tracelake.queries.engine.QueryBusy` still propagates."""
    try:
        return {"pass_rates": run_metric(con, METRIC, since=since, until=now),
                "failing": failing_runs(con, since=since, until=now, limit=FAILING), "error": None}
    except QueryError as exc:
        return {"pass_rates": [], "failing": [], "error": str(exc)}


def _run_link(run_id: str) -> str:
    return (f"<a class=run-link href='/dashboard/runs/{quote(run_id, safe='')}'>"
            f"{escape(run_id[:13])}{'…' if len(run_id) > 13 else ''}</a>")


def controls_html(data: dict[str, Any] | None, since: datetime) -> str:
    """The panel's ``<section>``: one row per control, one column per workflow version (pass rate, and how many
    failed of how many it applied to), then the failing runs, each linked to its run page."""
    if data is None:
        return ""
    if data.get("error"):
        return (f"<section class=wide id=controls><h2>Controls since {since:%m-%d}</h2>"
                f"<p class=ev-error>no pass rates: {escape(data['error'])}</p></section>")
    rates = [r for r in data["pass_rates"] if r.get("applicable")]
    versions = sorted({(r["workflow"], r["workflow_version"]) for r in rates})
    by_cell = {(r["control_id"], r["workflow"], r["workflow_version"]): r for r in rates}
    controls = sorted({r["control_id"] for r in rates})
    head = "".join(f"<th>{escape(str(w))} {escape(str(v))}</th>" for w, v in versions)
    body = []
    for control in controls:
        cells = []
        for workflow, version in versions:
            row = by_cell.get((control, workflow, version))
            if row is None:
                cells.append("<td class=num>–</td>")
                continue
            css = " ev-error" if row["failed"] else ""
            cells.append(f"<td class='num{css}' title='{row['failed']} failed of {row['applicable']} runs'>"
                         f"{escape(percent(row[METRIC]))} ({row['failed']}/{row['applicable']})</td>")
        body.append(f"<tr><td>{escape(control)}</td>{''.join(cells)}</tr>")
    table = (f"<table id=control-rates><thead><tr><th>control</th>{head}</tr></thead><tbody>"
             f"{''.join(body) or '<tr><td>no run a control applies to</td></tr>'}</tbody></table>")
    failing = "".join(
        f"<tr><td>{_run_link(r['run_id'])}</td><td>{escape(r['control_id'])}</td><td>{escape(r['severity'])}</td>"
        f"<td>{escape(str(r.get('workflow')))} {escape(str(r.get('workflow_version')))}</td>"
        f"<td>{escape(str(r.get('finished_at'))[:19])}</td></tr>" for r in data["failing"])
    failing_table = ("<table id=control-failures><thead><tr><th>run</th><th>control</th><th>severity</th>"
                     f"<th>version</th><th>finished (UTC)</th></tr></thead><tbody>"
                     f"{failing or '<tr><td colspan=5>no run failed a control</td></tr>'}</tbody></table>")
    return (f"<section class=wide id=controls><h2>Controls since {since:%m-%d}: pass rate per workflow version "
            f"(failed/applicable)</h2>{table}<h2>Runs that failed a control (newest {len(data['failing'])})</h2>"
            f"{failing_table}</section>")


def verdicts_html(verdicts: list[dict[str, Any]] | None) -> str:
    """A run page's verdicts: one row per control, the evidence event ids (as the run timeline gives them)."""
    if not verdicts:
        return ""
    rows = "".join(
        f"<tr><td>{escape(v['control_id'])}</td><td>{v['control_version']}</td>"
        f"<td class='{'ev-error' if v['verdict'] == 'fail' else ''}'>{escape(v['verdict'])}</td>"
        f"<td><code>{escape(', '.join(v.get('evidence') or []))}</code></td></tr>" for v in verdicts)
    return ("<section class=wide id=controls><h2>Controls</h2><table><thead><tr><th>control</th><th>version</th>"
            f"<th>verdict</th><th>evidence</th></tr></thead><tbody>{rows}</tbody></table></section>")
