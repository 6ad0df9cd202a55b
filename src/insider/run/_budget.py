"""The budget guard (``max_cost_usd``): no call is sent once its projected spend would pass it.

The spend so far is measured (what earlier runs and finished calls used, priced); a call in
flight counts with its projection (its prompt's tokens, the expected answer) until it ends and
its measured cost replaces the projection. A call is sent only while the measured spend, the
projections of every call in flight and its own projection stay within the budget; a call
that does not fit waits for the calls in flight to end (their measured cost usually leaves
room), and once none is in flight and it still does not fit, the budget is reached and no
further call is sent. So the measured spend passes the budget only as far as calls use more
than projected.

A model that stops at the budget leaves its log unfinished, as an interrupted run does: the
same command with a higher budget continues it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from insider.run._prices import Price, Prices, TokenUsage, price_for

if TYPE_CHECKING:
    from inspect_ai.log import EvalSample

_WAIT_S = 0.05
"""How often a call that does not fit checks again while others are in flight."""
CHARS_PER_TOKEN = 4.0
"""Characters per token when projecting a prompt (the dry run's rule of thumb)."""
ASSUMED_OUTPUT_TOKENS = 1_000
"""The answer length projected before any answer of the model has been measured."""


@dataclass
class Budget:
    """The run's limit in USD, what is spent, and what calls in flight are projected to cost."""

    limit_usd: float
    prices: Prices
    spent_usd: float = 0.0
    pending_usd: float = 0.0
    in_flight: int = 0
    """Calls admitted and not yet settled."""
    closed: bool = False
    """The budget is reached: a call did not fit with nothing left in flight."""

    def admit(self, projected_usd: float) -> bool:
        """Whether a call projected at ``projected_usd`` fits now; if so it counts as pending."""
        if self.closed or self.spent_usd + self.pending_usd + projected_usd > self.limit_usd:
            return False
        self.pending_usd += projected_usd
        self.in_flight += 1
        return True

    async def wait_admit(self, projected_usd: float) -> bool:
        """Whether a call may go: it waits while calls in flight may leave room (their
        measured cost replaces a cautious projection); False once nothing is in flight and it
        still does not fit, which closes the budget for every later call."""
        while not self.closed:
            if self.admit(projected_usd):
                return True
            if self.in_flight == 0:
                self.closed = True
                break
            await asyncio.sleep(_WAIT_S)
        return False

    def settle(self, projected_usd: float, actual_usd: float) -> None:
        """A call admitted at ``projected_usd`` ended and cost ``actual_usd``."""
        self.pending_usd = max(0.0, self.pending_usd - projected_usd)
        self.in_flight = max(0, self.in_flight - 1)
        self.spent_usd += actual_usd

    @property
    def reached(self) -> bool:
        return self.closed

    def describe(self) -> str:
        """One line for the console: where the spend stands against the limit."""
        return (
            f"stopped at the budget: ${self.spent_usd:,.4f} spent of max_cost_usd "
            f"${self.limit_usd:,.2f}, and the next call would pass it. Rerun the same "
            "command with a higher max_cost_usd (or --max-cost-usd) to continue"
        )

    def price(self, model: str) -> Price:
        """The model's price; a budget needs one for every model (checked before the run)."""
        price = price_for(model, self.prices)
        if price is None:
            raise ValueError(f"no price for {model}")
        return price


@dataclass
class ModelBudget:
    """One model's calls under the run's budget: projected when taken, settled when done."""

    budget: Budget
    model: str
    batched: bool
    max_tokens: int | None = None
    _projected: dict[str, float] = field(default_factory=dict)
    _answers: int = 0
    _output_tokens: int = 0

    def expected_output(self) -> int:
        """``max_tokens`` when set; else the mean answer so far (a prior before any)."""
        if self.max_tokens is not None:
            return self.max_tokens
        if self._answers == 0:
            return ASSUMED_OUTPUT_TOKENS
        return max(1, self._output_tokens // self._answers)

    def project(self, prompt_chars: int) -> float:
        usage = TokenUsage(input=int(prompt_chars / CHARS_PER_TOKEN), output=self.expected_output())
        return usage.cost(self.budget.price(self.model), self.batched)

    async def admit(self, sample_id: str, prompt_chars: int) -> bool:
        """Whether the sample's call may go (``Budget.wait_admit``)."""
        projected = self.project(prompt_chars)
        if not await self.budget.wait_admit(projected):
            return False
        self._projected[sample_id] = projected
        return True

    def settle(self, sample: EvalSample) -> None:
        """The sample's call ended: its measured cost replaces its projection."""
        projected = self._projected.pop(str(sample.id), 0.0)
        usage = TokenUsage()
        for used in sample.model_usage.values():
            usage = usage + TokenUsage.of(used)
        if sample.error is None:
            self._answers += 1
            self._output_tokens += usage.output
        actual = usage.cost(self.budget.price(self.model), self.batched)
        self.budget.settle(projected, actual)
