"""The statistical tests behind the drift rules. Pure functions, no I/O, no scipy.

Two-proportion z-test (pooled), one-sided:
    p̂ = (x₁ + x₂) / (n₁ + n₂)
    se = √(p̂ (1 − p̂) (1/n₁ + 1/n₂))
    z = (p₂ − p₁) / se            (1 = baseline, 2 = current)
    p-value of a drop  = P(Z ≤ z) = Φ(z)     = ½ erfc(−z / √2)
    p-value of a rise  = P(Z ≥ z) = 1 − Φ(z) = ½ erfc(z / √2)
When se = 0 both windows are all-0 or all-1 (no variation): there is no
evidence of a change, the p-value is 1.
"""

from __future__ import annotations

import math
from typing import Literal


def normal_cdf(z: float) -> float:
    """Φ(z), the standard normal CDF, via the complementary error function (exact to float precision)."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def two_proportion_z(x_base: int, n_base: int, x_cur: int, n_cur: int) -> float | None:
    """The pooled z statistic of current vs baseline; None when a side is empty or there is no variation."""
    if n_base <= 0 or n_cur <= 0:
        return None
    pooled = (x_base + x_cur) / (n_base + n_cur)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_base + 1.0 / n_cur))
    if se == 0.0:
        return None
    return (x_cur / n_cur - x_base / n_base) / se


def one_sided_p(x_base: int, n_base: int, x_cur: int, n_cur: int, direction: Literal["drop", "rise"]) -> float:
    """P-value of "current is lower (drop) / higher (rise) than baseline"; 1.0 without evidence."""
    z = two_proportion_z(x_base, n_base, x_cur, n_cur)
    if z is None:
        return 1.0
    # 1 − Φ(z) = Φ(−z); computing it as Φ(−z) keeps precision for large z.
    return normal_cdf(z) if direction == "drop" else normal_cdf(-z)
