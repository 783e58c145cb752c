"""Estimating ``cost_usd`` of an ``llm_call`` that did not report it (events.md).

A price table maps a model to USD per million input, cached-input and output
tokens. Cached tokens are part of ``input_tokens`` and are billed once, at the
cached price.

Price table file (TOML, named by ``TRACELAKE_PRICES_FILE``)::

    [models."gpt-small-2026-06"]   # the model name exactly as events report it
    input = 0.15                   # USD per million input tokens (required)
    cached_input = 0.015           # USD per million cached input tokens (default: input)
    output = 0.60                  # USD per million output tokens (required)

Prices are numbers ≥ 0 (integers or decimals; a quoted "0.15" is refused).
``models`` is the only section and ``input``, ``cached_input``, ``output`` the
only keys of an entry.

Failure modes: :func:`load_prices` raises :class:`PriceTableError` (a
:class:`~tracelake.errors.ConfigError`, also a ``ValueError``) with one line
naming the file, the model and the key, e.g.
``prices.toml: models."gpt-4.1".output: Input should be greater than or equal to 0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict

from tracelake.configfile import load_toml_model
from tracelake.errors import ConfigError


class PriceTableError(ConfigError, ValueError):
    """The price table cannot be used; the message names the file, the model and the key.

    Also a ``ValueError``: the ingest commands catch that around building the pipeline.
    """


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


# Strict: TOML has numbers, so a quoted price is a mistake, not a format.
Price = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]


class PriceEntry(BaseModel):
    """One ``[models."<name>"]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: Price
    cached_input: Price | None = None
    output: Price


class PriceFile(BaseModel):
    """The whole price table file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    models: dict[str, PriceEntry] = Field(default_factory=dict)


def load_prices(path: str | Path | None) -> dict[str, ModelPrice]:
    """The price table at ``path`` by model; ``None`` means an empty table (every estimate is "unpriced").

    Raises :class:`PriceTableError` (one line: file, model, key) for a missing,
    unreadable or malformed file; see the module docstring for the format.
    """
    if path is None:
        return {}
    table = load_toml_model(path, PriceFile, kind="price table", error=PriceTableError)
    return {
        model: ModelPrice(entry.input, entry.input if entry.cached_input is None else entry.cached_input,
                          entry.output)
        for model, entry in table.models.items()
    }
