"""Model tiers the simulated agents call, with list prices (USD per million tokens)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    provider: str
    tier: str
    input_per_m: float
    cached_per_m: float
    output_per_m: float
    ms_per_output_token: float

    def call(self, rng: random.Random, input_tokens: int, output_tokens: int, cached_share: float = 0.0
             ) -> dict[str, float | int | str]:
        """The fields of an ``llm_call`` for one call: tokens, cost, latency."""
        cached = int(input_tokens * cached_share)
        cost = ((input_tokens - cached) * self.input_per_m + cached * self.cached_per_m
                + output_tokens * self.output_per_m) / 1_000_000
        latency = 250 + output_tokens * self.ms_per_output_token * rng.uniform(0.8, 1.4)
        return {"model": self.name, "provider": self.provider, "model_tier": self.tier,
                "input_tokens": input_tokens, "cached_input_tokens": cached, "output_tokens": output_tokens,
                "cost_usd": round(cost, 6), "duration_ms": round(latency, 1)}


SMALL = Model("gpt-4o-mini", "openai", "small", 0.15, 0.075, 0.60, 9.0)
LARGE = Model("claude-3-5-sonnet", "anthropic", "large", 3.00, 0.30, 15.00, 22.0)
