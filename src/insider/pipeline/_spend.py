"""Pricing what a run used: each sample's model call and each judge call, with the run's prices."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from insider.analyze import SpendTally
from insider.run import AgentSample, Price, TokenUsage, price_for


class Pricer:
    """Prices usage with one price table; remembers the prices it looked up."""

    def __init__(self, prices: Mapping[str, Price]) -> None:
        self._prices = dict(prices)
        self._found: dict[str, Price | None] = {}

    def price(self, model: str) -> Price | None:
        if model not in self._found:
            self._found[model] = price_for(model, self._prices)
        return self._found[model]

    def cost(self, model: str, usage: TokenUsage, batched: bool) -> float | None:
        """USD, or None when the model has no price."""
        price = self.price(model)
        return None if price is None else usage.cost(price, batched)


def sample_usage(sample: AgentSample) -> TokenUsage:
    return TokenUsage(
        input=sample.input_tokens,
        cached_input=sample.cached_input_tokens,
        cache_write=sample.cache_write_tokens,
        output=sample.output_tokens,
        reasoning=sample.reasoning_tokens,
    )


def judge_usages(verdict: Mapping[str, Any] | None) -> Iterable[tuple[str, int, bool, TokenUsage]]:
    """(judge model, calls, batched, usage) of each judge call a stored verdict records."""
    for item in ((verdict or {}).get("judge_usage") or {}).values():
        yield (
            str(item.get("model", "")),
            int(item.get("calls", 0)),
            bool(item.get("batch", False)),
            TokenUsage(
                input=int(item.get("input_tokens", 0)),
                cached_input=int(item.get("cached_input_tokens", 0)),
                cache_write=int(item.get("cache_write_tokens", 0)),
                output=int(item.get("output_tokens", 0)),
                reasoning=int(item.get("reasoning_tokens", 0)),
            ),
        )


def _tokens(usage: TokenUsage) -> dict[str, int]:
    return {
        "input_tokens": usage.input,
        "cached_input_tokens": usage.cached_input,
        "cache_write_tokens": usage.cache_write,
        "output_tokens": usage.output,
        "reasoning_tokens": usage.reasoning,
    }


def add_sample(tally: SpendTally, pricer: Pricer, sample: AgentSample, shown: str) -> float:
    """Add one sample's model calls; their cost in USD (NaN: no price)."""
    usage = sample_usage(sample)
    cost = pricer.cost(sample.model, usage, sample.batched)
    tally.add(
        "model",
        shown,
        sample.model,
        calls=sample.model_calls,
        batched=sample.batched,
        tokens=_tokens(usage),
        cost_usd=cost,
    )
    return math.nan if cost is None else cost


def add_judges(tally: SpendTally, pricer: Pricer, verdict: Mapping[str, Any] | None) -> None:
    """Add the judge calls one stored verdict records."""
    for model, calls, batched, usage in judge_usages(verdict):
        tally.add(
            "judge",
            model,
            model,
            calls=calls,
            batched=batched,
            tokens=_tokens(usage),
            cost_usd=pricer.cost(model, usage, batched),
        )


def judge_columns(pricer: Pricer, verdict: Mapping[str, Any] | None) -> dict[str, Any]:
    """The samples table's judge usage columns for the sample's current verdict."""
    total, cost = TokenUsage(), 0.0
    for model, _, batched, usage in judge_usages(verdict):
        total = total + usage
        priced = pricer.cost(model, usage, batched)
        cost += math.nan if priced is None else priced
    return {
        "judge_input_tokens": total.input,
        "judge_cached_input_tokens": total.cached_input,
        "judge_output_tokens": total.output,
        "judge_cost_usd": cost,
    }
