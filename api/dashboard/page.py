"""HTML of the dashboard and of a run timeline (plain HTML + CSS, inline SVG; no script)."""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import quote

from tracelake.api.dashboard.charts import bar_chart, line_chart, number, percent, seconds, usd

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
"""


def _doc(title: str, subtitle: str, body: str) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'><style>{STYLE}</style></head>"
            f"<body><header><h1>{escape(title)}</h1><span>{escape(subtitle)}</span></header>{body}</body></html>")


def _table(rows: list[dict[str, Any]], columns: list[str], fmt: dict[str, Any] | None = None) -> str:
    fmt = fmt or {}
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            text = "–" if value is None else fmt[column](value) if column in fmt else str(value)
            css = " class=num" if isinstance(value, int | float) and not isinstance(value, bool) else ""
            cells.append(f"<td{css}>{text if column in fmt and column.endswith('_html') else escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def dashboard_html(data: dict[str, Any], key_param: str = "") -> str:
    scope = data["tenant"] or "all tenants"
    cost_bars = [(f"{r['workflow']} {r['workflow_version']}", r["cost_per_success"]) for r in data["cost"]
                 if r.get("cost_per_success") is not None]
    canary_versions = {f"{c['workflow']} {c['candidate']}" for c in data["canaries"] if c["verdict"] == "rollback"}
    ttsf_bars = [(f"{r['workflow']} {label}", r[column]) for r in data["ttsf"]
                 for label, column in (("p50", "p50_ms"), ("p95", "p95_ms")) if r.get(column) is not None]
    canary_rows = "".join(
        f"<tr><td>{escape(c['workflow'])}</td><td>{escape(c['baseline'])} → {escape(c['candidate'])}</td>"
        f"<td><span class='verdict {escape(c['verdict'])}'>{escape(c['verdict'])}</span></td>"
        f"<td>{escape(', '.join(t['rule'] for t in c.get('tests', []) if t.get('status') == 'fired') or '–')}</td></tr>"
        for c in data["canaries"])
    alert_rows = [{**a, "group": json.dumps(a.get("group"), ensure_ascii=False)} for a in data["alerts"]]
    run_rows = "".join(
        f"<tr><td><a class=run-link href='/dashboard/runs/{quote(r['run_id'])}{key_param}'>"
        f"{escape(r['run_id'][:13])}…</a></td><td>{escape(str(r.get('workflow')))}</td>"
        f"<td>{escape(str(r.get('workflow_version')))}</td><td>{escape(str(r.get('outcome') or 'in flight'))}</td>"
        f"<td>{escape(str(r.get('tenant')))}</td><td class=num>{usd(r.get('total_cost_usd') or 0)}</td>"
        f"<td>{escape(str(r.get('started_at'))[:19])}</td></tr>" for r in data["runs"][:25])
    body = f"""<main>
<section class=wide id=success><h2>Success rate by workflow version, per day (UTC)</h2>
{line_chart(data["success"], y_max=1.0, fmt=percent, width=1100, height=260, title="success rate")}</section>
<section id=cost><h2>Cost per successful outcome, last 24 h</h2>
{bar_chart(cost_bars, fmt=usd, title="cost per success", highlight=lambda label: label in canary_versions)}</section>
<section id=ttsf><h2>Time to safe fallback (p50 / p95), 8 days</h2>
{bar_chart(ttsf_bars, fmt=seconds, title="time to safe fallback")}</section>
<section id=reasons><h2>Escalation reasons, 8 days</h2>
{bar_chart(data["reasons"], fmt=lambda v: f"{v:.0f}", title="escalation reasons")}</section>
<section id=canaries><h2>Canary verdicts (older vs newer version, last 24 h)</h2>
<table><thead><tr><th>workflow</th><th>versions</th><th>verdict</th><th>rules fired</th></tr></thead>
<tbody>{canary_rows or "<tr><td colspan=4>no workflow runs two versions</td></tr>"}</tbody></table></section>
<section class=wide id=alerts><h2>Alerts ({len(alert_rows)})</h2>
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


def timeline_html(data: dict[str, Any], key_param: str = "") -> str:
    by_id = {e["event_id"]: e for e in data["events"]}

    def nodes(items: list[dict[str, Any]]) -> str:
        return "<ul>" + "".join(
            f"<li class=event data-event-type='{escape(by_id[n['event_id']]['event_type'])}'>"
            f"{_event_line(by_id[n['event_id']])}{nodes(n['children']) if n['children'] else ''}</li>"
            for n in items) + "</ul>"

    run = data["run"]
    summary = _table([run], ["run_id", "tenant", "workflow", "workflow_version", "outcome", "total_cost_usd",
                             "model_ms", "tool_ms", "run_ms"])
    body = (f"<main><section class=wide><p><a href='/dashboard{key_param}'>← dashboard</a></p>{summary}</section>"
            f"<section class='wide tree' id=timeline><h2>Timeline ({len(data['events'])} events, redacted as "
            f"stored, nested by span)</h2>{nodes(data['tree'])}</section></main>")
    return _doc(f"run {run['run_id']}", f"{run.get('workflow')} {run.get('workflow_version')}", body)
