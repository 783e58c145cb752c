"""The z-test, checked against values computed by hand (and the normal table)."""

from __future__ import annotations

import math

import pytest

from tracelake.queries.alerts.stats import normal_cdf, one_sided_p, two_proportion_z


def test_normal_cdf_matches_the_table() -> None:
    assert normal_cdf(0.0) == 0.5
    assert normal_cdf(-1.959963984540054) == pytest.approx(0.025, abs=1e-12)
    assert normal_cdf(2.326347874040841) == pytest.approx(0.99, abs=1e-12)


def test_z_by_hand() -> None:
    # baseline 90/100, current 75/100: pooled 165/200 = 0.825; se = √(0.825·0.175·0.02) = 0.053735...
    se = math.sqrt(0.825 * 0.175 * (1 / 100 + 1 / 100))
    assert two_proportion_z(90, 100, 75, 100) == pytest.approx((0.75 - 0.90) / se)
    assert two_proportion_z(90, 100, 75, 100) == pytest.approx(-2.7914, abs=1e-4)
    # a drop of that size: p = Φ(−2.7914) ≈ 0.002624
    assert one_sided_p(90, 100, 75, 100, "drop") == pytest.approx(0.002624, abs=1e-5)
    assert one_sided_p(90, 100, 75, 100, "rise") == pytest.approx(1 - 0.002624, abs=1e-5)


def test_no_evidence_without_variation_or_data() -> None:
    assert two_proportion_z(0, 0, 5, 10) is None
    assert two_proportion_z(30, 30, 40, 40) is None  # all successes on both sides: se = 0
    assert one_sided_p(30, 30, 40, 40, "drop") == 1.0


def test_rise_p_keeps_precision_far_in_the_tail() -> None:
    p = one_sided_p(0, 1000, 500, 1000, "rise")
    assert 0 < p < 1e-100  # computed as Φ(−z), not 1 − Φ(z) (which would round to 0)
