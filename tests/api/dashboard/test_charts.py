from __future__ import annotations

import re

from tracelake.api.dashboard.charts import bar_chart, line_chart, percent, seconds, spread_chart, usd


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


def test_line_chart_keeps_the_given_axis_order_and_breaks_at_a_missing_day() -> None:
    # "b" has day 1 but "a" (drawn first) does not: the axis still runs 1, 2, 3
    svg = line_chart({"a": [("d2", 0.5), ("d3", 0.6)], "b": [("d1", 0.2), ("d3", 0.4)]},
                     x_labels=["d1", "d2", "d3"], y_max=1.0, width=356, height=140)
    found = re.findall(r'cx="([\d.]+)" [^>]*data-series="(\w)" data-label="(\w+)"', svg)
    xs = {(series, label): float(x) for x, series, label in found}
    assert xs[("b", "d1")] < xs[("a", "d2")] < xs[("a", "d3")] == xs[("b", "d3")]
    paths = re.findall(r'class="series" d="([^"]*)"', svg)
    assert paths[0].count("M") == 1 and paths[0].count("L") == 1  # a: d2 → d3 joined
    assert paths[1].count("M") == 2 and "L" not in paths[1]  # b: d1 … d3 with no line across the missing d2
    assert "d9" not in line_chart({"a": [("d9", 1.0), ("d1", 1.0)]}, x_labels=["d1"])  # off-axis points dropped


def test_spread_chart_draws_median_p95_and_max_and_clips_an_outlier() -> None:
    svg = spread_chart([("refund", 1000.0, 4000.0, 5000.0, 12), ("access", 500.0, 2000.0, 60_000.0, 3)],
                       fmt=seconds, width=640)
    groups = re.findall(r'<g class="spread" data-label="(\w+)" data-p50="([\d.]+)" data-p95="([\d.]+)" '
                        r'data-max="([\d.]+)" data-n="(\d+)"', svg)
    assert groups == [("refund", "1000.0", "4000.0", "5000.0", "12"), ("access", "500.0", "2000.0", "60000.0", "3")]
    medians = [float(w) for w in re.findall(r'class="bar p50" x="\d+" y="\d+" width="([\d.]+)"', svg)]
    assert medians[0] == 2 * medians[1]
    assert svg.count('class="clip"') == 1  # only the 60 s maximum runs past the scale (4 s x 1.25)
    assert "median 1.0 s · p95 4.0 s · max 5.0 s · 12 runs" in svg
    assert "no data in this window" in spread_chart([])
