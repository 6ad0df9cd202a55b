"""``insider run --dry-run``: what the models and the judges would cost, before any call.

Models: ``insider.run.estimate`` (prompt tokens as characters / 4, the answer ``max_tokens``
or 1,000 tokens, the provider's prompt cache and batch discount applied).

Judges: evidence decides most labels without a model, so a judge is called only for the
share of samples whose requested labels evidence leaves open. That share is measured, when the
dry run runs, by classifying the shipped gold sets with evidence alone for the requested
labels (``judge_share``). A judge call's prompt is our rubric filled with a representative
sample (the condition's inbox, an answer as long as the model's expected one) and its answer
is ``JUDGE_TOKENS_PER_LABEL`` tokens per label asked. A grader of the original rubric is
called once per sample of world ``original`` (twice with the awareness notice), its prompt
being the installed classifier's own prompt for such an answer.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from insider.classify import (
    LABELS,
    ORIGINAL_CLASSIFIERS,
    Evidence,
    build_judge_request,
    validate_judges,
)
from insider.experiment import ExperimentConfig, JudgeSpec
from insider.pipeline._classify_run import _condition_world, scorings
from insider.pipeline._profile import shipped_gold_sets
from insider.run import (
    CHARS_PER_TOKEN,
    ModelEstimate,
    Prices,
    TokenUsage,
    estimate,
    price_for,
)
from insider.scenarios import (
    ORIGINAL_WORLD,
    RenderedPrompt,
    original_classifier,
    original_email_content,
)

JUDGE_TOKENS_PER_LABEL = 60
"""A judge's answer per label asked: a verdict, a short quote and one or two sentences."""
ORIGINAL_GRADER_OUTPUT_TOKENS = 300
"""The original classifiers ask their grader for reasoning and an answer."""


@dataclass(frozen=True)
class JudgeShare:
    """How often evidence leaves a requested label open, on the shipped gold sets."""

    labels: tuple[str, ...]
    samples: int
    samples_judged: int
    labels_judged: int

    @property
    def share(self) -> float:
        """The share of samples that need a judge call."""
        return self.samples_judged / self.samples if self.samples else 1.0

    @property
    def labels_per_call(self) -> float:
        """Open labels asked in one judge call, on average."""
        return self.labels_judged / self.samples_judged if self.samples_judged else 0.0


@functools.cache
def judge_share(labels: tuple[str, ...] | None = None) -> JudgeShare:
    """Evidence alone on every shipped gold set, deciding ``labels`` (None: all eight)."""
    chosen = tuple(label for label in LABELS if labels is None or label in labels)
    samples = judged = asked = 0
    for _, path, world in shipped_gold_sets():
        report = asyncio.run(validate_judges(path, world, [], labels=list(chosen)))
        samples += report.n_samples
        judged += report.samples_judged
        asked += report.labels_judged
    return JudgeShare(chosen, samples, judged, asked)


@dataclass(frozen=True)
class DryRun:
    """The rows of a dry run (models, then judges) and the judge share they assume."""

    rows: list[ModelEstimate]
    share: JudgeShare | None

    @property
    def total_usd(self) -> float | None:
        costs = [row.cost_usd for row in self.rows]
        return None if any(cost is None for cost in costs) else sum(c or 0.0 for c in costs)


def dry_run(config: ExperimentConfig, prompts: list[RenderedPrompt], prices: Prices) -> DryRun:
    """Every model's and every judge's calls, tokens and cost for the whole experiment."""
    models = estimate(config, prompts, prices)
    samples = sum(row.samples for row in models)
    answer_chars = int(_mean_output(models) * CHARS_PER_TOKEN)
    rows = list(models)
    share = judge_share(tuple(config.labels) if config.labels else None) if config.judges else None
    for scoring in scorings(config.judges):
        for spec in scoring:
            if spec.rubric == "original":
                rows.append(_original_grader(spec, config, prompts, answer_chars, prices))
            elif share is not None:
                rows.append(_our_judge(spec, prompts, samples, answer_chars, share, prices))
    return DryRun(rows, share)


def _mean_output(models: Sequence[ModelEstimate]) -> float:
    calls = sum(row.calls for row in models)
    return sum(row.output_tokens for row in models) / calls if calls else 0.0


def _our_judge(
    spec: JudgeSpec,
    prompts: list[RenderedPrompt],
    samples: int,
    answer_chars: int,
    share: JudgeShare,
    prices: Prices,
) -> ModelEstimate:
    calls = math.ceil(samples * share.share)
    labels = max(1, round(share.labels_per_call))
    prompt_chars = sum(judge_prompt_chars(p, answer_chars, share.labels) for p in prompts)
    per_call = TokenUsage(
        input=math.ceil(prompt_chars / len(prompts) / CHARS_PER_TOKEN),
        output=labels * JUDGE_TOKENS_PER_LABEL,
    )
    return _judge_row(spec, samples, calls, per_call, prices)


def _original_grader(
    spec: JudgeSpec,
    config: ExperimentConfig,
    prompts: list[RenderedPrompt],
    answer_chars: int,
    prices: Prices,
) -> ModelEstimate:
    """The original classifiers: one grader call per sample of world original (and one more
    with the awareness notice); samples of other worlds are not sent."""
    calls = chars = 0
    for prompt in prompts:
        if prompt.condition.world != ORIGINAL_WORLD:
            continue
        per_sample = 2 if prompt.condition.awareness_notice == "ask" else 1
        calls += per_sample * config.samples
        chars += per_sample * config.samples * original_prompt_chars(prompt, answer_chars)
    usage = TokenUsage(
        input=math.ceil(chars / CHARS_PER_TOKEN), output=calls * ORIGINAL_GRADER_OUTPUT_TOKENS
    )
    samples = len(prompts) * config.samples * len(config.models)
    price = price_for(spec.model, prices)
    return ModelEstimate(
        model=spec.model,
        samples=samples,
        calls=calls * len(config.models),
        input_tokens=usage.input * len(config.models),
        output_tokens=usage.output * len(config.models),
        cost_usd=None
        if price is None
        else len(config.models) * usage.cost(price, spec.batch is not None),
        batch=spec.batch is not None,
        role="judge",
        name=f"{spec.model} (rubric original)",
    )


def _judge_row(
    spec: JudgeSpec, samples: int, calls: int, per_call: TokenUsage, prices: Prices
) -> ModelEstimate:
    usage = calls * per_call
    price = price_for(spec.model, prices)
    batched = spec.batch is not None
    return ModelEstimate(
        model=spec.model,
        samples=samples,
        calls=calls,
        input_tokens=usage.input,
        output_tokens=usage.output,
        cost_usd=None if price is None else usage.cost(price, batched),
        batch=batched,
        role="judge",
        name=spec.model,
    )


@functools.lru_cache(maxsize=4096)
def judge_prompt_chars(prompt: RenderedPrompt, answer_chars: int, labels: tuple[str, ...]) -> int:
    """Characters of our rubric's prompt for a sample of this condition with an answer of
    ``answer_chars`` (half reasoning, half visible text), asking ``labels``."""
    profile, inbox = _condition_world(prompt.condition, "single_turn")
    half = "word " * (answer_chars // 10)
    evidence = Evidence(reasoning=half, visible=half, prose=half)
    request = build_judge_request(evidence, profile, dict.fromkeys(labels, ""), inbox)
    return len(request.system) + len(request.user)


@functools.lru_cache(maxsize=256)
def original_prompt_chars(prompt: RenderedPrompt, answer_chars: int) -> int:
    """Characters of the original classifier's grader prompt for such a sample, as the
    installed package builds it (its text is read at run time, never copied)."""
    name, _ = ORIGINAL_CLASSIFIERS[prompt.condition.scenario]
    classifier = original_classifier(name)
    messages = classifier.get_grader_input(
        email_content=original_email_content(prompt.condition),
        response="word " * (answer_chars // 5),
    )
    return sum(len(str(getattr(m, "content", m))) for m in messages)
