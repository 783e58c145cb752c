"""Estimating ``cost_usd`` of an ``llm_call`` that did not report it (events.md).

A price table maps a model to USD per million input, cached-input and output
tokens. Cached tokens are part of ``input_tokens`` and are billed once, at the
cached price.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModelPrice:
    input_per_m: float
    cached_input_per_m: float
    output_per_m: float


PriceTable = Mapping[str, ModelPrice]


def estimate_cost(
    prices: PriceTable, model: str, input_tokens: int | None, cached_input_tokens: int | None,
    output_tokens: int | None,
) -> float | None:
    """USD for one call, or None when the model is not in the table."""
    price = prices.get(model)
    if price is None:
        return None
    total_in = input_tokens or 0
    cached = min(cached_input_tokens or 0, total_in)
    return (
        (total_in - cached) * price.input_per_m
        + cached * price.cached_input_per_m
        + (output_tokens or 0) * price.output_per_m
    ) / 1_000_000
