from __future__ import annotations

import re

from tracelake.api.dashboard.charts import bar_chart, line_chart, percent, usd


def test_line_chart_draws_one_point_per_value_and_gaps_for_none() -> None:
    svg = line_chart({"refund v3": [("11-24", 0.9), ("11-25", 0.8)], "refund v4": [("11-24", None), ("11-25", 0.4)]},
                     y_max=1.0, fmt=percent)
    points = re.findall(r'data-series="([^"]+)" data-label="([^"]+)" data-value="([^"]+)"', svg)
    assert points == [("refund v3", "11-24", "0.9"), ("refund v3", "11-25", "0.8"), ("refund v4", "11-25", "0.4")]
    assert svg.count('class="series"') == 2 and ">100%<" in svg and ">refund v4<" in svg


def test_bar_chart_values_labels_escaping_and_highlight() -> None:
    svg = bar_chart([("a <b>", 2.0), ("c", 1.0)], fmt=usd, highlight=lambda label: label == "c")
    assert 'data-label="a &lt;b&gt;" data-value="2.0"' in svg and "<b>" not in svg
    widths = [float(w) for w in re.findall(r'class="bar" x="\d+" y="[\d.]+" width="([\d.]+)"', svg)]
    assert widths[0] == 2 * widths[1]
    assert "$2.0000" in svg and svg.count('fill="#dc2626"') == 1


def test_empty_data_says_so() -> None:
    assert "no data in this window" in line_chart({}) and "no data in this window" in bar_chart([])
