"""HTML of the dashboard and of a run timeline (plain HTML + CSS, inline SVG; no script).

Pure functions: data dicts in, a whole page out; every value from the lake is escaped.
Links carry no key: the dashboard's cookie does (:mod:`tracelake.api.routes.dashboard`).
"""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from tracelake.api.dashboard.charts import bar_chart, line_chart, number, percent, seconds, spread_chart, usd
from tracelake.api.dashboard.controls_panel import controls_html, verdicts_html

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#111827}
header{background:#111827;color:#fff;padding:12px 24px;display:flex;gap:16px;align-items:baseline}
header h1{font-size:18px;margin:0} header span{color:#9ca3af}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:16px;padding:16px 24px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:12px 16px}
section.wide{grid-column:1/-1} h2{font-size:15px;margin:0 0 8px}
table{border-collapse:collapse;width:100%} td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #f0f1f3}
th{font-weight:600;color:#374151} .num{text-align:right;font-variant-numeric:tabular-nums}
.verdict{font-weight:700;padding:2px 8px;border-radius:4px}
.rollback{background:#fee2e2;color:#991b1b}.hold{background:#fef3c7;color:#92400e}.promote{background:#dcfce7;color:#166534}
.chart text{font-size:11px;fill:#374151}.chart .grid{stroke:#eef0f3}.chart .legend{font-size:12px}
.empty{fill:#9ca3af} a{color:#2563eb;text-decoration:none} a:hover{text-decoration:underline}
.tree ul{list-style:none;padding-left:18px;border-left:1px dashed #d1d5db;margin:2px 0}
.tree li{margin:3px 0} .tree code{background:#f3f4f6;padding:1px 4px;border-radius:3px}
.ev-error{color:#b91c1c}.kind{font-weight:600}
.wf{float:right;position:relative;width:220px;height:10px;margin:5px 0 0 12px;background:#f3f4f6;overflow:hidden}
.wf i{position:absolute;top:0;bottom:0;background:#2563eb;min-width:2px}
"""


def _doc(title: str, subtitle: str, body: str) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'><style>{STYLE}</style></head>"
            f"<body><header><h1>{escape(title)}</h1><span>{escape(subtitle)}</span></header>{body}</body></html>")


def _plain(value: Any) -> str:
    """A cell without a formatter: floats to 6 significant digits (no binary noise like 8113.599999999999)."""
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.6g}"
    return str(value)


def _table(rows: list[dict[str, Any]], columns: list[str], fmt: dict[str, Any] | None = None) -> str:
    """A plain table of ``columns``; ``fmt`` maps a column to its formatter; every cell is escaped."""
    fmt = fmt or {}
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    if not rows:
        empty = f"<tr><td colspan={len(columns)}>none</td></tr>"
        return f"<table><thead><tr>{head}</tr></thead><tbody>{empty}</tbody></table>"
    body = []
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            text = "–" if value is None else fmt[column](value) if column in fmt else _plain(value)
            css = " class=num" if isinstance(value, int | float) and not isinstance(value, bool) else ""
            cells.append(f"<td{css}>{escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def dashboard_html(data: dict[str, Any]) -> str:
    """The dashboard page from :func:`tracelake.api.dashboard.data.dashboard_data`'s dict (every text escaped)."""
    scope = data["tenant"] or "all tenants"
    since = f"{data['since']:%m-%d}"
    cost_bars = [(f"{r['workflow']} {r['workflow_version']}", r["cost_per_success"]) for r in data["cost"]
                 if r.get("cost_per_success") is not None]
    rolled_back = {f"{c['workflow']} {c['candidate']}" for c in data["canaries"] if c["verdict"] == "rollback"}
    ttsf_rows = [(r["workflow"], r["p50_ms"], r["p95_ms"], r["max_ms"], r["runs"]) for r in data["ttsf"]
                 if r.get("p50_ms") is not None and r.get("p95_ms") is not None and r.get("max_ms") is not None]
    canary_rows = "".join(
        f"<tr><td>{escape(c['workflow'])}</td><td>{escape(c['baseline'])} → {escape(c['candidate'])}</td>"
        f"<td><span class='verdict {escape(c['verdict'])}'>{escape(c['verdict'])}</span></td>"
        f"<td>{escape(', '.join(t['rule'] for t in c.get('tests', []) if t.get('status') == 'fired') or '–')}</td></tr>"
        for c in data["canaries"])
    if data.get("canary_error"):
        canary_rows = f"<tr><td colspan=4 class=ev-error>no verdicts: {escape(data['canary_error'])}</td></tr>"
    alert_rows = [{**a, "group": json.dumps(a.get("group"), ensure_ascii=False)} for a in data["alerts"]]
    run_rows = "".join(
        f"<tr><td><a class=run-link href='/dashboard/runs/{quote(r['run_id'], safe='')}'>"
        f"{escape(r['run_id'][:13])}…</a></td><td>{escape(str(r.get('workflow')))}</td>"
        f"<td>{escape(str(r.get('workflow_version')))}</td><td>{escape(str(r.get('outcome') or 'in flight'))}</td>"
        f"<td>{escape(str(r.get('tenant')))}</td><td class=num>{usd(r.get('total_cost_usd') or 0)}</td>"
        f"<td>{escape(str(r.get('started_at'))[:19])}</td></tr>" for r in data["runs"])
    body = f"""<main data-now="{data['now'].isoformat()}" data-since="{data['since'].isoformat()}">
<section class=wide id=success><h2>Success rate by workflow version, per day (UTC)</h2>
{line_chart(data["success"], x_labels=data["days"], y_max=1.0, fmt=percent, width=1100, height=260,
            title="success rate")}</section>
<section id=cost><h2>Cost per successful outcome, last 24 h</h2>
{bar_chart(cost_bars, fmt=usd, title="cost per success", highlight=lambda label: label in rolled_back)}</section>
<section id=ttsf><h2>Time to safe fallback since {since}: median, p95, max</h2>
{spread_chart(ttsf_rows, fmt=seconds, title="time to safe fallback")}</section>
<section id=reasons><h2>Escalation reasons since {since}</h2>
{bar_chart(data["reasons"], fmt=lambda v: f"{v:.0f}", title="escalation reasons")}</section>
<section id=canaries><h2>Canary verdicts: newest version vs the one before, last 24 h</h2>
<table><thead><tr><th>workflow</th><th>versions</th><th>verdict</th><th>rules fired</th></tr></thead>
<tbody>{canary_rows or "<tr><td colspan=4>no workflow runs two versions</td></tr>"}</tbody></table></section>
{controls_html(data.get("controls"), data["since"])}
<section class=wide id=alerts><h2>Alerts (newest {len(alert_rows)})</h2>
{_table(alert_rows, ["created_at", "rule", "group", "baseline_value", "current_value", "p_value", "severity"],
        {"baseline_value": number, "current_value": number, "p_value": number,
         "created_at": lambda v: str(v)[:19]})}</section>
<section class=wide id=runs><h2>Latest runs</h2><table><thead><tr><th>run</th><th>workflow</th><th>version</th>
<th>outcome</th><th>tenant</th><th>cost</th><th>started (UTC)</th></tr></thead><tbody>{run_rows}</tbody></table>
</section></main>"""
    return _doc("tracelake", f"{scope} · {data['now']:%Y-%m-%d %H:%M} UTC", body)


def _event_line(event: dict[str, Any]) -> str:
    kind = event["event_type"]
    bits = [f"<span class=kind>{escape(kind)}</span>", f"<code>{escape(str(event.get('ts'))[:23])}</code>"]
    for field in ("agent", "model", "tool_name", "action", "decision", "outcome", "reason", "check", "passed",
                  "duration_ms", "cost_usd"):
        if event.get(field) is not None:
            bits.append(f"{field}={escape(str(event[field]))}")
    for field in ("input", "prompt", "completion", "detail", "output", "outcome_reason"):
        if event.get(field):
            text = str(event[field])
            bits.append(f"<br>{field}: {escape(text[:240])}{'…' if len(text) > 240 else ''}")
    for field in ("tool_args", "tool_result", "error"):
        if event.get(field) is not None:
            bits.append(f"<br>{field}: <code>{escape(json.dumps(event[field], ensure_ascii=False)[:240])}</code>")
    css = " class=ev-error" if event.get("status") == "error" else ""
    return f"<span{css}>{' '.join(bits)}</span>"


def waterfall(events: list[dict[str, Any]]) -> dict[str, tuple[float, float, float]]:
    """Each event's place on the run's time axis: ``event_id → (left %, width %, ms after the first event)``.

    The axis runs from the earliest ``ts`` to the latest ``ts + duration_ms``;
    an event without a duration gets a thin mark (0.5 %). Events whose ``ts``
    is not a datetime are left out; if every event is at one instant, every mark is at 0.
    """
    spans = []
    for event in events:
        ts = event.get("ts")
        if isinstance(ts, datetime):
            start = ts.timestamp() * 1000.0
            spans.append((event["event_id"], start, start + max(0.0, float(event.get("duration_ms") or 0.0))))
    if not spans:
        return {}
    first = min(start for _, start, _ in spans)
    total = max(end for _, _, end in spans) - first
    out = {}
    for event_id, start, end in spans:
        width = max(0.5, 100 * (end - start) / total) if total > 0 else 0.5
        left = min(100 * (start - first) / total, 100 - width) if total > 0 else 0.0
        out[event_id] = (left, width, start - first)
    return out


def _tree_html(tree: list[dict[str, Any]], item: Any) -> str:
    """Nested ``<ul>`` of the span tree, built with a stack (a deep span chain must not hit the recursion limit)."""
    out = ["<ul>"]
    stack = [iter(tree)]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
            out.append("</ul></li>" if stack else "</ul>")
            continue
        out.append(item(node["event_id"]))
        if node["children"]:
            out.append("<ul>")
            stack.append(iter(node["children"]))
        else:
            out.append("</li>")
    return "".join(out)


def timeline_html(data: dict[str, Any]) -> str:
    """One run's page: its summary row and its events nested by span, each with its bar on the run's time axis."""
    by_id = {e["event_id"]: e for e in data["events"]}
    places = waterfall(data["events"])

    def item(event_id: str) -> str:
        event = by_id[event_id]
        bar = ""
        if event_id in places:
            left, width, after = places[event_id]
            bar = (f"<span class=wf title='+{escape(seconds(after))} into the run'>"
                   f"<i style='left:{left:.2f}%;width:{width:.2f}%'></i></span>")
        return (f"<li class=event data-event-type='{escape(event['event_type'])}'>{bar}{_event_line(event)}")

    run = data["run"]
    summary = _table([run], ["run_id", "tenant", "workflow", "workflow_version", "outcome", "total_cost_usd",
                             "model_ms", "tool_ms", "run_ms"])
    body = (f"<main><section class=wide><p><a href='/dashboard'>← dashboard</a></p>{summary}</section>"
            f"{verdicts_html(data.get('controls'))}"
            f"<section class='wide tree' id=timeline><h2>Timeline ({len(data['events'])} events, redacted as "
            f"stored, nested by span; bars: when each ran within the run)</h2>{_tree_html(data['tree'], item)}"
            "</section></main>")
    return _doc(f"run {run['run_id']}", f"{run.get('workflow')} {run.get('workflow_version')}", body)


def signin_html(next_path: str, problem: str | None = None) -> str:
    """The sign-in form: the key is pasted here and POSTed to ``/dashboard/signin`` (never put in a link).

    ``next_path`` (already checked to be a dashboard path) is where the browser goes after; ``problem`` a
    line shown above the form.
    """
    note = f"<p class=ev-error>{escape(problem)}</p>" if problem else ""
    body = (f"<main><section><h2>Sign in</h2>{note}"
            "<form method=post action=/dashboard/signin>"
            "<p><label>API key (role read or admin)<br>"
            "<input type=password name=key autocomplete=off required size=60 autofocus></label></p>"
            f"<input type=hidden name=next value='{escape(next_path, quote=True)}'>"
            "<p><button type=submit>Sign in</button></p></form>"
            "<p>The key is exchanged for a session cookie that expires; it is never stored in the browser.</p>"
            "</section></main>")
    return _doc("tracelake", "sign in", body)
