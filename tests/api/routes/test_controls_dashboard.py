"""The dashboard's controls panel: pass rate per control per version, the failing runs linked to their pages,
and the verdicts on a run page; the same numbers as GET /v1/controls."""

from __future__ import annotations

import html as htmllib
import re
from datetime import UTC, datetime, timedelta

from tests.queries.controls.helpers import RunBuilder


def _section(page: str, section_id: str) -> str:
    match = re.search(rf"<section class=wide id={section_id}>(.*?)</section>", page, re.S)
    assert match, f"no section {section_id}"
    return match.group(1)


def test_the_panel_shows_failures_linked_and_the_run_page_the_verdicts(serve, settings, write_lake) -> None:
    start = datetime.now(UTC) - timedelta(hours=2)
    runs = []
    for n in range(3):  # a clean run each: a yellow action approved by someone else
        clean = RunBuilder(f"clean-{n}", workflow="refund_request", version="v3", start=start)
        clean.start()
        clean.gate("yellow")
        clean.approve("team-lead-payments")
        clean.mutate(key=f"k{n}")
        clean.finish()
        runs.append(clean)
    bad = RunBuilder("self-approved<1>", workflow="refund_request", version="v3", start=start)
    bad.start()
    bad.gate("yellow")
    bad.approve("executor")
    bad.mutate(key="k-bad")  # its own key: a key shared with a clean run would fail idempotency too
    bad.finish()
    runs.append(bad)
    write_lake(settings.lake, [e for run in runs for e in run.events])
    server = serve(settings)
    with server.client() as c:
        page = c.get("/dashboard").text
        rates = c.get("/v1/controls", params={"where": "control_id=separation_of_duties"}).json()["pass_rates"]
        panel = _section(page, "controls")
        assert rates[0]["applicable"] == 4 and rates[0]["failed"] == 1
        row = re.search(r"<tr><td>separation_of_duties</td>(.*?)</tr>", panel).group(1)  # type: ignore[union-attr]
        assert "refund_request v3" in panel and "75% (1/4)" in row
        links = re.findall(r"href='(/dashboard/runs/[^']+)'", panel)
        assert links == ["/dashboard/runs/self-approved%3C1%3E"]  # the failing run, escaped, no key
        assert "self-approved<1>" not in panel
        run_page = c.get(links[0]).text
        verdicts = _section(run_page, "controls")
        assert re.search(r"<td>separation_of_duties</td><td>1</td><td class='ev-error'>fail</td>", verdicts)
        assert htmllib.escape("self-approved<1>-2") in verdicts  # the approval named as evidence


def test_a_failing_controls_query_is_a_line_in_the_panel_not_a_failed_page() -> None:
    from datetime import UTC, datetime

    from tracelake.api.dashboard.controls_panel import controls_data, controls_html
    from tracelake.queries.engine import QueryError

    class Failing:
        def query(self, *args: object, **kwargs: object) -> None:
            raise QueryError("query 'metric control_pass_rate' exceeded its memory budget")

    data = controls_data(Failing(), datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC))  # type: ignore[arg-type]
    assert data["error"] and not data["pass_rates"]
    html = controls_html(data, datetime(2026, 11, 20, tzinfo=UTC))
    assert "no pass rates: query &#x27;metric control_pass_rate&#x27; exceeded its memory budget" in html
