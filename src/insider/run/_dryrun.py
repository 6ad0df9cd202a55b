"""--dry-run: what a run would cost, before anything is called."""

from __future__ import annotations

import math
from dataclasses import dataclass

from insider.experiment import ExperimentConfig
from insider.run._prices import Prices, TokenUsage, price_for
from insider.scenarios import RenderedPrompt, render

# Tokens are estimated as characters / 4 (a common rule of thumb for English text with
# BPE tokenizers); the real count differs by model, typically within +-25 %.
CHARS_PER_TOKEN = 4.0
# A typical single-turn answer with reasoning is about this long; max_tokens only caps it (an
# answer rarely runs to a generous max_tokens, and pricing every call at its cap overstated
# the output, which dominates the bill, several times over).
ASSUMED_OUTPUT_TOKENS = 1_000
# Agentic mode: each turn adds a tool call and its result to the context.
AGENTIC_TOKENS_PER_TURN = 400


CACHING_PROVIDERS = ("openai", "anthropic", "google", "grok", "deepseek")
"""Providers that cache a repeated prompt prefix (on their own, or through Inspect's
``cache_prompt``); for other models (openai-api servers, local models) nothing is cached."""
MIN_CACHED_TOKENS = 1_024
"""Prompts shorter than this are not cached (OpenAI's and Anthropic's minimum)."""


@dataclass(frozen=True)
class ModelEstimate:
    """One row of a dry run: a model's calls (or a judge's), tokens and cost.

    ``input_tokens`` are charged at the full rate; ``cached_input_tokens`` are read from the
    provider's prompt cache and ``cache_write_tokens`` written to it (Inspect's convention).
    """

    model: str
    samples: int
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None  # None: no price known for this model
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    batch: bool = False
    role: str = "model"
    name: str = ""

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cached_input_tokens + self.cache_write_tokens

    def as_row(self) -> dict[str, object]:
        """The row as ``--dry-run --json`` prints it."""
        return {
            "role": self.role,
            "name": self.name or self.model,
            "model": self.model,
            "batch": self.batch,
            "samples": self.samples,
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
        }


def caches(model: str, cache_prompt: object = "auto") -> bool:
    """Whether the model's provider is expected to cache a repeated prompt prefix.

    ``cache_prompt: false`` turns Anthropic's caching off; OpenAI and Google cache on their
    own whatever it says (Inspect's ``cache_prompt`` documentation).
    """
    provider = model.split("/", 1)[0]
    if provider not in CACHING_PROVIDERS:
        return False
    return not (provider == "anthropic" and cache_prompt is False)


def _writes_cache(model: str) -> bool:
    """Anthropic charges for writing the cache; the others do not count writes apart."""
    return model.startswith("anthropic/")


def _condition_usage(
    tokens: int, samples: int, turns: int, output: int, cached: bool, writes: bool
) -> TokenUsage:
    """The tokens of one condition's samples: turn ``t`` re-sends the prompt and ``t`` turns.

    With caching, every call reads from the cache what an earlier call sent: the prompt for
    every sample but the first, and the sample's own earlier turns. The first call writes it.
    """

    def one_sample(first: bool) -> TokenUsage:
        usage = TokenUsage()
        for turn in range(turns):
            sent = tokens + turn * AGENTIC_TOKENS_PER_TURN
            seen = tokens + (turn - 1) * AGENTIC_TOKENS_PER_TURN if turn else tokens * (not first)
            read = seen if cached and seen >= MIN_CACHED_TOKENS else 0
            write = sent - read if cached and writes and sent >= MIN_CACHED_TOKENS else 0
            usage = usage + TokenUsage(
                input=sent - read - write, cached_input=read, cache_write=write, output=output
            )
        return usage

    return one_sample(True) + (samples - 1) * one_sample(False)


def estimate(
    config: ExperimentConfig, prompts: list[RenderedPrompt], prices: Prices
) -> list[ModelEstimate]:
    """Calls, tokens and cost per model, with prompt caching and batch discounts applied."""
    prompt_tokens = [math.ceil((len(p.system) + len(p.user)) / CHARS_PER_TOKEN) for p in prompts]
    turns = config.agentic.max_turns if config.mode == "agentic" else 1
    estimates = []
    for spec in config.models:
        output_per_call = min(spec.max_tokens or ASSUMED_OUTPUT_TOKENS, ASSUMED_OUTPUT_TOKENS)
        per_call_output = output_per_call if turns == 1 else min(output_per_call, 300)
        cached = caches(spec.model, spec.cache_prompt)
        usage = TokenUsage()
        for tokens in _counted(prompt_tokens):
            usage = usage + tokens[1] * _condition_usage(
                tokens[0],
                config.samples,
                turns,
                per_call_output,
                cached,
                _writes_cache(spec.model),
            )
        samples = len(prompts) * config.samples
        price = price_for(spec.model, prices)
        batched = spec.batch is not None
        estimates.append(
            ModelEstimate(
                model=spec.model,
                samples=samples,
                calls=samples * turns,
                input_tokens=usage.input,
                output_tokens=usage.output,
                cost_usd=None if price is None else usage.cost(price, batched),
                cached_input_tokens=usage.cached_input,
                cache_write_tokens=usage.cache_write,
                batch=batched,
                name=spec.display_name,
            )
        )
    return estimates


def _counted(tokens: list[int]) -> list[tuple[int, int]]:
    """(prompt tokens, how many conditions have that many): conditions of one size cost alike."""
    counts: dict[int, int] = {}
    for value in tokens:
        counts[value] = counts.get(value, 0) + 1
    return sorted(counts.items())


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
    tokens = sum(row.total_input_tokens for row in estimate(config, prompts, {}))
    return RunSize(samples, tokens)
