"""Pricing what a run used: each sample's model call and each judge call, with the run's prices."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from insider.analyze import SpendTally
from insider.classify import SampleVerdict
from insider.run import (
    AgentSample,
    Budget,
    Price,
    Prices,
    RunDir,
    TokenUsage,
    price_for,
    run_log_files,
)

if TYPE_CHECKING:
    from inspect_ai.model import Model

JUDGE_PROMPT_TOKENS = 2_500
"""A judge prompt's tokens besides the agent's text (rubric, world summary, inbox), projected."""
JUDGE_OUTPUT_TOKENS = 400
"""A judge answer's tokens, projected."""


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


class JudgeBudget:
    """The judges' calls under the run's budget (``max_cost_usd``).

    A sample is scored only while the projected cost of its judge calls (every judge of the
    panel, as if each had to be asked) fits (``Budget.wait_admit``); its measured cost then
    replaces the projection. Once the budget is reached the rest keep no verdict, and a rerun
    with a higher budget scores them.
    """

    def __init__(self, budget: Budget | None, panel: Sequence[Model], pricer: Pricer) -> None:
        self._budget, self._pricer = budget, pricer
        self._judges = [(str(model), bool(model.config.batch)) for model in panel]
        self._projected: dict[str, float] = {}
        self.stopped: str | None = None

    async def admit(self, sample: AgentSample) -> bool:
        if self._budget is None or not self._judges:
            return True
        text_tokens = (len(sample.answer) + len(sample.reasoning)) // 4
        usage = TokenUsage(input=text_tokens + JUDGE_PROMPT_TOKENS, output=JUDGE_OUTPUT_TOKENS)
        projected = sum(
            self._pricer.cost(model, usage, batched) or 0.0 for model, batched in self._judges
        )
        if not await self._budget.wait_admit(projected):
            self.stopped = self._budget.describe()
            return False
        self._projected[_key(sample)] = projected
        return True

    def settle(self, sample: AgentSample, verdict: SampleVerdict) -> None:
        if self._budget is None or not self._judges:
            return
        projected = self._projected.pop(_key(sample), 0.0)
        actual = 0.0
        for model, _, batched, usage in judge_usages(verdict.model_dump(mode="json")):
            actual += self._pricer.cost(model, usage, batched) or 0.0
        self._budget.settle(projected, actual)


def _key(sample: AgentSample) -> str:
    return json.dumps([sample.model, sample.sample_id, sample.record])


def spent_so_far(run_dir: RunDir, prices: Prices) -> float:
    """What the run has spent up to now, in USD: every sample in its logs and every judge
    call in its labels files (every scoring), priced (unpriced calls count 0)."""
    from inspect_ai.log import read_eval_log_sample_summaries

    from insider.pipeline._classify_run import read_labels

    pricer = Pricer(prices)
    total = 0.0
    if run_dir.logs.is_dir():
        for path in run_log_files(run_dir.logs):
            for summary in read_eval_log_sample_summaries(str(path)):
                batched = summary.metadata.get("batch") is True
                for model, used in summary.model_usage.items():
                    total += pricer.cost(model, TokenUsage.of(used), batched) or 0.0
    if run_dir.labels.is_dir():
        for path in sorted(run_dir.labels.glob("*.jsonl")):
            for row in read_labels(path):
                for model, _, batched, usage in judge_usages(row.get("verdict")):
                    total += pricer.cost(model, usage, batched) or 0.0
    return total
