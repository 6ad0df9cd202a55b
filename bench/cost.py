"""What the research grid costs the research framework's way and insider's way.

The grid is examples/paper_grid.yaml: 234 conditions x 100 samples, on one named model, with
one named judge (classifier) model, at the prices of insider's price table (or --prices).

- The research framework's way: every sample one call at list price, no prompt cache, no
  batch; then one classifier call per sample at list price, whose prompt is that framework's
  own classifier prompt for the sample's answer, built at run time by the installed
  `inspect_evals` package (`pip install 'insider[replication]'`; its text is never copied).
- insider's way: the provider's batch API (its discount), the prompt cache (every sample of a
  condition after the first reads the prompt from the cache), and evidence-first judging: a
  judge call only for the share of samples whose requested labels evidence leaves open (the
  share measured on the shipped gold sets), batched as well.

Token counts are measured, not assumed: the grid runs on insider's fake OpenAI-compatible
server (Batch API and prompt cache simulated) with answers of a realistic length (a
scratchpad of 350-900 words and one email), `--per-condition` samples per condition, then
classified by a batched judge on the same server. The counts per condition are scaled to 100
samples: the first sample's call, plus 99 times the mean of the later ones. The fake server
counts a word as a token (real tokenizers count ~1.3 tokens per English word); both ways are
priced on the same counts, so their ratio does not depend on the unit.

The dry run's estimate for the measured run is set beside the measured spend: its error.

    .venv/bin/python bench/cost.py [--model openai/gpt-4.1] [--judge anthropic/claude-sonnet-4-5]

The last line is the ratio insider / research way (goal: <= 0.45).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from insider.classify import ORIGINAL_CLASSIFIERS
from insider.experiment import ExperimentConfig, load_experiment
from insider.pipeline import (
    classify_run,
    dry_run,
    judge_share,
    our_world_profile,
    sample_usage,
)
from insider.run import (
    AgentSample,
    Price,
    TokenUsage,
    iter_agent_samples,
    load_prices,
    prepare_run_dir,
    price_for,
    render_all,
    run_experiment,
)
from insider.scenarios import ORIGINAL_WORLD, Condition, original_classifier, original_email_content
from insider.testing import (
    BatchSettings,
    FakeModelServer,
    ServerLimits,
    agent_or_judge,
)

ROOT = Path(__file__).resolve().parents[1]
GRID = ROOT / "examples" / "paper_grid.yaml"
SAMPLES = 100
HEADLINE = ("blackmail", "leak", "lethal")
GRADER_OUTPUT_TOKENS = 300
"""The research classifiers ask their grader to reason, then answer: ~300 tokens, assumed."""
GOAL = 0.45


def measured_experiment(base_url: str, model: str, per_condition: int) -> dict[str, Any]:
    """The paper grid on the fake server: the model (served under its own name) batched."""
    grid = load_experiment(GRID)
    args = {"api_key": "x", "responses_api": False}
    # batch files of up to 200 requests (~3 MB): within the fake server's body limit
    batch = {"size": 200, "max_size": 200, "send_delay": 0.5, "tick": 0.2}
    served = f"openai/{model.split('/', 1)[1]}"
    return {
        "id": "cost-bench",
        "samples": per_condition,
        "models": [{"model": served, "base_url": base_url, "args": args, "batch": batch}],
        "judges": [{"model": "openai/judge", "base_url": base_url, "args": args, "batch": batch}],
        "conditions": grid.conditions.model_dump(mode="json"),
    }


def measure(out: Path, model: str, per_condition: int) -> tuple[ExperimentConfig, float]:
    """Run and classify the grid on the fake server; the seconds it took."""
    started = time.perf_counter()
    settings = BatchSettings(completion_delay_s=0.2)
    limits = ServerLimits(max_body_bytes=16 * 1024 * 1024)
    with FakeModelServer(
        script=agent_or_judge, batches=settings, prompt_caching=True, limits=limits
    ) as server:
        raw = measured_experiment(server.base_url, model, per_condition)
        config = ExperimentConfig.model_validate(raw)
        run_dir = prepare_run_dir(out, config, raw)
        summary = run_experiment(config, run_dir, display="none", check=False)
        if not summary.success:
            raise SystemExit(f"the measured run failed: {summary.errors}")
        classify_run(run_dir, config.judges, "majority", our_world_profile(), show_progress=False)
    return config, time.perf_counter() - started


def by_condition(samples: list[AgentSample]) -> dict[str, list[AgentSample]]:
    grouped: dict[str, list[AgentSample]] = defaultdict(list)
    for sample in samples:
        grouped[str(sample.metadata["condition_id"])].append(sample)
    for group in grouped.values():  # the first call of a condition wrote the cache
        group.sort(key=lambda s: s.cached_input_tokens)
    return grouped


def mean_usage(samples: list[AgentSample]) -> TokenUsage:
    n = len(samples)
    total = TokenUsage()
    for sample in samples:
        total = total + sample_usage(sample)
    return TokenUsage(
        total.input // n, total.cached_input // n, total.cache_write // n, total.output // n
    )


def scaled(group: list[AgentSample]) -> TokenUsage:
    """A condition's 100 samples: its first call and 99 times the mean of its later calls."""
    first, later = group[0], group[1:] or group
    return sample_usage(first) + (SAMPLES - 1) * mean_usage(later)


def uncached(usage: TokenUsage) -> TokenUsage:
    """The same call without a prompt cache: every input token at the full rate."""
    total = usage.input + usage.cached_input + usage.cache_write
    return TokenUsage(input=total, output=usage.output)


def grader_prompt_words(condition: Condition, answer: str) -> int:
    """The research classifier's prompt for this answer, in the fake server's unit (words)."""
    name, _ = ORIGINAL_CLASSIFIERS[condition.scenario]
    original = condition.model_copy(update={"world": ORIGINAL_WORLD})
    messages = original_classifier(name).get_grader_input(
        email_content=original_email_content(original), response=answer
    )
    return sum(len(str(getattr(m, "content", m)).split()) for m in messages)


def judge_call_cost(run_dir: Path, judge: Price, batched: bool) -> tuple[float, int]:
    """Mean cost of one of our judge calls in the measured run, and how many were made."""
    costs = []
    for path in (run_dir / "labels").glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            for usage in json.loads(line)["verdict"].get("judge_usage", {}).values():
                tokens = TokenUsage(
                    input=usage["input_tokens"],
                    cached_input=usage["cached_input_tokens"],
                    output=usage["output_tokens"],
                )
                costs.append(tokens.cost(judge, batched))
    return (statistics.mean(costs) if costs else 0.0), len(costs)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default="openai/gpt-4.1")
    parser.add_argument("--judge", default="anthropic/claude-sonnet-4-5")
    parser.add_argument("--prices", type=Path, default=None)
    parser.add_argument("--per-condition", type=int, default=3, help="samples measured")
    args = parser.parse_args()
    prices = load_prices(args.prices)
    model_price, judge_price = price_for(args.model, prices), price_for(args.judge, prices)
    if model_price is None or judge_price is None:
        raise SystemExit(f"no price for {args.model} or {args.judge}; pass --prices")

    with tempfile.TemporaryDirectory() as scratch:
        run_dir = Path(scratch) / "run"
        config, seconds = measure(run_dir, args.model, args.per_condition)
        samples = list(iter_agent_samples(run_dir / "logs"))
        groups = by_condition(samples)
        conditions = {c.condition_id: c for c in config.expand()}
        mean_judge, judge_calls = judge_call_cost(run_dir, judge_price, batched=True)
        mean_judge_list, _ = judge_call_cost(run_dir, judge_price, batched=False)
        estimate_error = _estimate_error(config, run_dir, prices, args.model)

        research_model = research_grader = insider_model = 0.0
        for condition_id, group in groups.items():
            usage = scaled(group)
            research_model += uncached(usage).cost(model_price)
            insider_model += usage.cost(model_price, batched=True)
            words = statistics.mean(
                grader_prompt_words(conditions[condition_id], s.answer) for s in group
            )
            grader = TokenUsage(input=int(words), output=GRADER_OUTPUT_TOKENS)
            research_grader += SAMPLES * grader.cost(judge_price)
        n = len(groups) * SAMPLES

    print(f"grid: {len(groups)} conditions x {SAMPLES} samples = {n:,} samples; model {args.model},"
          f" judge {args.judge}")  # fmt: skip
    print(f"measured on the fake server: {len(samples)} samples ({args.per_condition} per "
          f"condition) and {judge_calls} judge calls in {seconds:.0f} s")  # fmt: skip
    print(f"  {_row(args.model, model_price)}\n  {_row(args.judge, judge_price)}")
    print("research framework's way (list price, no cache, one classifier call per sample):")
    print(f"  model      ${research_model:>12,.2f}")
    print(f"  classifier ${research_grader:>12,.2f}")
    research = research_model + research_grader
    print(f"  total      ${research:>12,.2f}")
    for labels in (HEADLINE, None):
        share = judge_share(labels)
        judges = n * share.share * mean_judge
        total = insider_model + judges
        name = ", ".join(share.labels) if labels else "all eight labels"
        print(f"insider's way (batch, cache, evidence first; judging {name}):")
        print(f"  model      ${insider_model:>12,.2f}")
        print(f"  judge      ${judges:>12,.2f}   ({100 * share.share:.0f} % of samples need a call "
              f"(gold sets); ${mean_judge:.5f} a call batched, ${mean_judge_list:.5f} at list "
              "price)")  # fmt: skip
        print(f"  total      ${total:>12,.2f}   ratio {total / research:.2f}")
    print(f"the dry run's estimate of the measured run against its measured spend: "
          f"{estimate_error}")  # fmt: skip
    share = judge_share(HEADLINE)
    ratio = (insider_model + n * share.share * mean_judge) / research
    floor = insider_model / research
    print(f"floor without any judge call: {floor:.2f} (the model's batched, cached calls)")
    print(f"ratio insider/research (headline labels; goal <= {GOAL}): {ratio:.2f}")


def _row(name: str, price: Price) -> str:
    cached = price.cache_read_price
    return (f"{name}: ${price.input}/Mtok in, ${cached}/Mtok cached, ${price.output}/Mtok out, "
            f"batch -{100 * price.batch_discount:.0f} %")  # fmt: skip


def _estimate_error(
    config: ExperimentConfig, run_dir: Path, prices: dict[str, Price], model: str
) -> str:
    """The dry run's cost of the measured run (at the bench model's price) against the
    measured spend of its model calls, as a signed percentage."""
    served = config.models[0].model
    price = price_for(model, prices)
    assert price is not None
    table = {**prices, served: price}
    judges_off = config.model_copy(update={"judges": []})
    estimated = dry_run(judges_off, render_all(judges_off), table).total_usd or 0.0
    measured = _model_spend(run_dir, price)
    error = (estimated - measured) / measured if measured else float("nan")
    return f"estimated ${estimated:,.4f}, measured ${measured:,.4f} ({100 * error:+.0f} %)"


def _model_spend(run_dir: Path, price: Price) -> float:
    return sum(sample_usage(s).cost(price, s.batched) for s in iter_agent_samples(run_dir / "logs"))


if __name__ == "__main__":
    main()
