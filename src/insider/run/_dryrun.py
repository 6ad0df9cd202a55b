"""--dry-run: what a run would cost, before anything is called."""

from __future__ import annotations

import math
from dataclasses import dataclass

from insider.experiment import ExperimentConfig
from insider.run._prices import Price, price_for
from insider.scenarios import RenderedPrompt, render

# Tokens are estimated as characters / 4 (a common rule of thumb for English text with
# BPE tokenizers); the real count differs by model, typically within +-25 %.
CHARS_PER_TOKEN = 4.0
# Without max_tokens we assume a typical single-turn answer with reasoning of this length.
ASSUMED_OUTPUT_TOKENS = 1_000
# Agentic mode: each turn adds a tool call and its result to the context.
AGENTIC_TOKENS_PER_TURN = 400


@dataclass(frozen=True)
class ModelEstimate:
    model: str
    samples: int
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None  # None: no price known for this model


def estimate(
    config: ExperimentConfig, prompts: list[RenderedPrompt], prices: dict[str, Price]
) -> list[ModelEstimate]:
    """Calls, tokens and cost per model for the whole experiment."""
    prompt_tokens = [math.ceil((len(p.system) + len(p.user)) / CHARS_PER_TOKEN) for p in prompts]
    turns = config.agentic.max_turns if config.mode == "agentic" else 1
    estimates = []
    for spec in config.models:
        output_per_call = spec.max_tokens or ASSUMED_OUTPUT_TOKENS
        per_call_output = output_per_call if turns == 1 else min(output_per_call, 300)
        input_tokens = 0
        for tokens in prompt_tokens:
            # Turn t re-sends the prompt plus t earlier turns of context.
            per_sample = sum(tokens + t * AGENTIC_TOKENS_PER_TURN for t in range(turns))
            input_tokens += per_sample * config.samples
        samples = len(prompts) * config.samples
        output_tokens = samples * turns * per_call_output
        price = price_for(spec.model, prices)
        cost = (
            None
            if price is None
            else (input_tokens * price.input + output_tokens * price.output) / 1_000_000
        )
        estimates.append(
            ModelEstimate(spec.model, samples, samples * turns, input_tokens, output_tokens, cost)
        )
    return estimates


MAX_PLANNED_SAMPLES = 1_000_000
"""Above this many samples (models x conditions x samples) a run needs ``--yes-really``."""
MAX_INPUT_TOKENS = 1_000_000_000
"""Above this many estimated input tokens a run needs ``--yes-really``."""
UPPER_TOKENS_PER_CALL = 25_000
"""More than any of our prompts (~4,000 tokens): below the bound with it, none is rendered."""


@dataclass(frozen=True)
class RunSize:
    """How big a run is planned to be, and whether it is over the bound that asks for consent."""

    samples: int
    input_tokens: int | None
    """Estimated input tokens; None where the run is clearly small and nothing was rendered."""

    @property
    def over_bound(self) -> str | None:
        """Why the run is over the bound, or None."""
        reasons = []
        if self.samples > MAX_PLANNED_SAMPLES:
            reasons.append(f"{self.samples:,} samples (bound {MAX_PLANNED_SAMPLES:,})")
        if self.input_tokens is not None and self.input_tokens > MAX_INPUT_TOKENS:
            reasons.append(f"~{self.input_tokens:,} input tokens (bound {MAX_INPUT_TOKENS:,})")
        return " and ".join(reasons) or None


def run_size(config: ExperimentConfig, prompts: list[RenderedPrompt] | None = None) -> RunSize:
    """Planned samples and input tokens; renders the grid only when the run may be large.

    A grid far over the sample bound is refused without rendering anything, so a typo such
    as ``samples: 100000`` on a large grid costs no time and no memory before it is refused.
    """
    conditions = len(prompts) if prompts is not None else len(config.expand())
    samples = conditions * config.samples * len(config.models)
    turns = config.agentic.max_turns if config.mode == "agentic" else 1
    if samples > MAX_PLANNED_SAMPLES:
        return RunSize(samples, None)
    if prompts is None and samples * turns * UPPER_TOKENS_PER_CALL <= MAX_INPUT_TOKENS:
        return RunSize(samples, None)
    if prompts is None:
        prompts = [render(condition, mode=config.mode) for condition in config.expand()]
    tokens = sum(row.input_tokens for row in estimate(config, prompts, {}))
    return RunSize(samples, tokens)
