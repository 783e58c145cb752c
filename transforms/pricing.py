"""Estimating ``cost_usd`` of an ``llm_call`` that did not report it (events.md).

A price table maps a model to USD per million input, cached-input and output
tokens. Cached tokens are part of ``input_tokens`` and are billed once, at the
cached price.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


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


def load_prices(path: str | Path | None) -> dict[str, ModelPrice]:
    """Read a TOML price table; ``None`` means an empty table (every estimate is "unpriced").

        [models."gpt-small-2026-06"]
        input = 0.15          # USD per million input tokens
        cached_input = 0.015
        output = 0.60

    Raises ``ValueError`` naming the model when an entry is incomplete.
    """
    if path is None:
        return {}
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    prices = {}
    for model, entry in data.get("models", {}).items():
        try:
            prices[model] = ModelPrice(float(entry["input"]), float(entry.get("cached_input", entry["input"])),
                                       float(entry["output"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"price table {path}: model {model!r} needs numeric input and output ({exc})") from None
    return prices
