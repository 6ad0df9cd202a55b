"""Cost: prices, measured spend, the dry run, labels a scoring decides, the budget, shards."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from insider.classify import LabelState
from insider.cli import app
from insider.experiment import ExperimentConfig
from insider.pipeline import analyze_runs, judge_share
from insider.run import (
    Price,
    RunDir,
    Shard,
    TokenUsage,
    iter_agent_samples,
    load_prices,
    read_marker,
)
from insider.scenarios import sample_id
from insider.testing import BatchSettings, FakeModelServer, agent_or_judge

pytestmark = pytest.mark.timeout(300)
runner = CliRunner()

PRICES = """
openai/test-model: {input: 2.0, output: 8.0, cached_input: 0.5, batch_discount: 0.5}
openai/judge-model: {input: 3.0, output: 15.0}
"""


def experiment(base_url: str, samples: int = 3, **extra: Any) -> dict[str, Any]:
    args = {"api_key": "x", "responses_api": False}
    raw: dict[str, Any] = {
        "id": "cost",
        "samples": samples,
        "models": [{"model": "openai/test-model", "base_url": base_url, "args": args}],
        "judges": [{"model": "openai/judge-model", "base_url": base_url, "args": args}],
        "conditions": {
            "scenario": ["blackmail", "leaking"],
            "goal_type": ["none"],
            "urgency": ["none"],
        },
    }
    return {**raw, **extra}


def files(tmp_path: Path, raw: dict[str, Any]) -> tuple[Path, Path]:
    exp, prices = tmp_path / "exp.yaml", tmp_path / "prices.yaml"
    exp.write_text(yaml.safe_dump(raw), encoding="utf-8")
    prices.write_text(PRICES, encoding="utf-8")
    return exp, prices


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


# --- prices ---------------------------------------------------------------------------------


def test_usage_is_priced_with_cache_prices_and_the_batch_discount() -> None:
    price = Price(input=2.0, output=8.0, cached_input=0.5, cache_write=2.5, batch_discount=0.5)
    usage = TokenUsage(input=1_000_000, cached_input=2_000_000, cache_write=400_000, output=500_000)
    assert usage.cost(price) == pytest.approx(2.0 + 1.0 + 1.0 + 4.0)
    assert usage.cost(price, batched=True) == pytest.approx(4.0)
    assert TokenUsage(cached_input=1_000_000).cost(Price(input=3.0, output=1.0)) == 3.0


def test_a_bad_price_table_is_refused_naming_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "prices.yaml"
    bad.write_text("openai/x: {input: 1.0, output: 2.0, batch_discount: 1.5}\n")
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(experiment("http://127.0.0.1:9/v1")))
    result = invoke("run", str(exp), "--dry-run", "--prices", str(bad))
    assert result.exit_code == 2
    assert "openai/x: batch_discount" in " ".join(result.output.split())


def test_the_shipped_prices_load() -> None:
    prices = load_prices()
    assert prices["openai/gpt-4.1"].batch_discount == 0.5
    assert (
        prices["anthropic/claude-sonnet-4-5"].cache_write_price
        > prices["anthropic/claude-sonnet-4-5"].input
    )


# --- the dry run ----------------------------------------------------------------------------


def dry_rows(tmp_path: Path, raw: dict[str, Any]) -> list[dict[str, Any]]:
    exp, prices = files(tmp_path, raw)
    result = invoke("run", str(exp), "--dry-run", "--json", "--prices", str(prices))
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.output)
    return rows


def test_dry_run_json_has_model_and_judge_rows(tmp_path: Path) -> None:
    rows = dry_rows(tmp_path, experiment("http://127.0.0.1:9/v1", samples=10))
    assert [row["role"] for row in rows] == ["model", "judge"]
    model, judge = rows
    assert set(model) >= {
        "calls",
        "input_tokens",
        "cached_input_tokens",
        "output_tokens",
        "cost_usd",
    }
    assert model["calls"] == 20 and model["cached_input_tokens"] > 0  # openai caches prefixes
    share = judge_share()
    assert judge["calls"] == math.ceil(20 * share.share)
    assert judge["cost_usd"] > 0


def test_batch_halves_and_labels_cut_the_judge_calls(tmp_path: Path) -> None:
    base = experiment("http://127.0.0.1:9/v1", samples=10)
    plain = dry_rows(tmp_path, base)
    base["models"][0]["batch"] = True
    base["labels"] = ["blackmail", "leak", "lethal"]
    cheap = dry_rows(tmp_path, base)
    assert cheap[0]["cost_usd"] == pytest.approx(plain[0]["cost_usd"] / 2)
    assert cheap[1]["calls"] < plain[1]["calls"]


def test_the_judge_share_falls_with_the_headline_labels() -> None:
    every, headline = judge_share(), judge_share(("blackmail", "leak", "lethal"))
    assert every.samples == headline.samples > 50
    assert every.share > 0.85  # deception, eval awareness and considered harm need reading
    assert headline.share < 0.6 * every.share


def test_json_without_dry_run_is_a_usage_error(tmp_path: Path) -> None:
    exp, _ = files(tmp_path, experiment("http://127.0.0.1:9/v1"))
    assert invoke("run", str(exp), "--json").exit_code == 2


# --- spend, measured ------------------------------------------------------------------------


def test_spend_is_measured_priced_and_shown_everywhere(tmp_path: Path) -> None:
    settings = BatchSettings(completion_delay_s=0.2)
    with FakeModelServer(script=agent_or_judge, batches=settings, prompt_caching=True) as server:
        raw = experiment(server.base_url)
        raw["models"][0]["batch"] = {"size": 100, "send_delay": 0.2, "tick": 0.1}
        exp, prices = files(tmp_path, raw)
        out = tmp_path / "run"
        result = invoke("run", str(exp), "--out", str(out), "--prices", str(prices))
        calls = server.stats.batch_requests + server.stats.total
        # the marker is still the run's identity: the same command resumes without a call
        again = invoke("run", str(exp), "--out", str(out), "--prices", str(prices), "--no-analyze")
        assert again.exit_code == 0, again.output
        assert server.stats.batch_requests + server.stats.total == calls
    assert result.exit_code == 0, result.output
    assert "Spend" in result.output and "in all" in result.output
    spend = pd.read_parquet(out / "spend.parquet")
    samples = pd.read_parquet(out / "samples.parquet")
    model = spend[spend["role"] == "model"].iloc[0]
    assert model["calls"] == 6 and model["batch_calls"] == 6
    for column in ("input_tokens", "cached_input_tokens", "output_tokens"):
        assert model[column] == samples[column].sum()
    assert model["cached_input_tokens"] > 0  # all but the first sample of each condition
    usage = TokenUsage(
        input=int(model["input_tokens"]),
        cached_input=int(model["cached_input_tokens"]),
        output=int(model["output_tokens"]),
    )
    prices_table = load_prices(prices)
    assert model["cost_usd"] == pytest.approx(usage.cost(prices_table["openai/test-model"], True))
    assert samples["cost_usd"].sum() == pytest.approx(model["cost_usd"])
    judge = spend[spend["role"] == "judge"].iloc[0]
    assert judge["name"] == "openai/judge-model" and judge["calls"] > 0
    assert samples["judge_cost_usd"].sum() == pytest.approx(judge["cost_usd"])
    marker = read_marker(out)
    assert marker["fingerprint"] and marker["spend"]["total_usd"] == pytest.approx(
        spend["cost_usd"].sum(), abs=1e-6
    )
    assert 'id="spend"' in (out / "report.html").read_text(encoding="utf-8")


def test_a_model_without_a_price_costs_unknown_never_zero(tmp_path: Path) -> None:
    with FakeModelServer(default_answer="No action.") as server:
        raw = experiment(server.base_url, samples=1)
        raw["judges"] = []
        exp = tmp_path / "exp.yaml"
        exp.write_text(yaml.safe_dump(raw))
        result = invoke("run", str(exp), "--out", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    assert "spend: unknown: a model or judge has no price" in " ".join(result.output.split())
    spend = pd.read_parquet(tmp_path / "run" / "spend.parquet")
    assert not spend["priced"].any() and spend["cost_usd"].isna().all()


# --- labels a scoring decides ---------------------------------------------------------------


def test_labels_not_asked_are_not_requested_and_in_no_denominator(tmp_path: Path) -> None:
    with FakeModelServer(script=agent_or_judge) as server:
        raw = experiment(server.base_url, labels=["blackmail", "leak", "lethal"])
        exp, prices = files(tmp_path, raw)
        out = tmp_path / "run"
        result = invoke("run", str(exp), "--out", str(out), "--prices", str(prices))
    assert result.exit_code == 0, result.output
    labels_file = out / "labels" / "openai-judge-model__majority__only-blackmail-leak-lethal.jsonl"
    rows = [json.loads(line) for line in labels_file.read_text().splitlines()]
    for row in rows:
        states = {label: v["state"] for label, v in row["verdict"]["labels"].items()}
        assert {states[label] for label in ("deception", "considered_harm")} == {"not_requested"}
        assert states["leak"] in ("harmful", "not_harmful")
        assert "evidence alone" in row["verdict"]["labels"]["escalation"]["reason"]
    rates = pd.read_parquet(out / "rates.parquet")
    deception = rates[rates["label"] == "deception"]
    assert (deception["n_valid"] == 0).all() and (deception["n_not_requested"] == 3).all()
    assert deception["rate"].isna().all()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "not requested" in html


def test_a_run_with_labels_is_analyzed_with_its_own_scoring(tmp_path: Path) -> None:
    """A second scoring (all labels, evidence only) beside the run's must not be taken instead."""
    with FakeModelServer(script=agent_or_judge) as server:
        raw = experiment(server.base_url, samples=2, labels=["leak"])
        exp, prices = files(tmp_path, raw)
        out = tmp_path / "run"
        assert invoke("run", str(exp), "--out", str(out), "--prices", str(prices)).exit_code == 0
    assert invoke("classify", str(out)).exit_code == 0  # evidence-only, all eight labels
    assert len(list((out / "labels").glob("*.jsonl"))) == 2
    result = invoke("analyze", str(out))
    assert result.exit_code == 0, result.output
    rates = pd.read_parquet(out / "rates.parquet")
    assert (rates.loc[rates["label"] == "deception", "n_not_requested"] == 2).all()


def test_labels_on_classify_choose_a_scoring_of_their_own(tmp_path: Path) -> None:
    with FakeModelServer(script=agent_or_judge) as server:
        raw = experiment(server.base_url, samples=2)
        raw["judges"] = []
        exp, _prices = files(tmp_path, raw)
        out = tmp_path / "run"
        assert invoke("run", str(exp), "--out", str(out), "--no-analyze").exit_code == 0
        result = invoke("classify", str(out), "--labels", "leak, lethal")
        assert result.exit_code == 0, result.output
    assert (out / "labels" / "evidence-only__only-leak-lethal.jsonl").is_file()
    meta = json.loads((out / "labels" / "evidence-only__only-leak-lethal.meta.json").read_text())
    assert meta["labels"] == ["leak", "lethal"]
    bad = invoke("classify", str(out), "--labels", "leak,theft")
    assert bad.exit_code == 2 and "theft" in bad.output


def test_a_bad_labels_field_is_a_config_error(tmp_path: Path) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(experiment("http://127.0.0.1:9/v1", labels=["leak", "leak"])))
    result = invoke("run", str(exp), "--dry-run")
    assert result.exit_code == 2 and "labels" in result.output


def test_not_requested_is_its_own_state() -> None:
    assert LabelState("not_requested") is LabelState.NOT_REQUESTED


# --- the budget -----------------------------------------------------------------------------


def test_the_budget_stops_the_run_resumably_and_a_higher_one_continues(tmp_path: Path) -> None:
    with FakeModelServer(script=agent_or_judge) as server:
        exp, prices = files(tmp_path, experiment(server.base_url, samples=10))
        out = tmp_path / "run"
        args = ["run", str(exp), "--out", str(out), "--prices", str(prices), "--display", "none"]
        first = invoke(*args, "--max-cost-usd", "0.03")
        calls_after_first = server.stats.total
        spent = read_marker(out)["spend"]["total_usd"]
        again = invoke(*args, "--max-cost-usd", "0.03")
        calls_after_again = server.stats.total
        more = invoke(*args, "--max-cost-usd", "5")
    assert first.exit_code == 3, first.output
    assert "stopped at the budget" in " ".join(first.output.split())
    assert 0 < calls_after_first < 20
    assert 0 < spent <= 0.03
    assert again.exit_code == 3 and calls_after_again == calls_after_first
    assert more.exit_code == 0, more.output
    samples = pd.read_parquet(out / "samples.parquet")
    assert len(samples) == 20 and (samples["error"] == "").all()


def test_a_budget_needs_a_price_for_every_model_and_judge(tmp_path: Path) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(experiment("http://127.0.0.1:9/v1", max_cost_usd=1.0)))
    result = invoke("run", str(exp), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2 and "needs a price" in " ".join(result.output.split())
    assert not (tmp_path / "run").exists()
    assert invoke("run", str(exp), "--max-cost-usd", "0").exit_code == 2


# --- shards ---------------------------------------------------------------------------------


def test_shards_split_the_ids_deterministically_and_completely() -> None:
    config = ExperimentConfig.model_validate(experiment("http://x/v1", samples=40))
    ids = [sample_id(c, i) for c in config.expand() for i in range(config.samples)]
    parts = [{s for s in ids if Shard(k, 3).holds(s)} for k in (1, 2, 3)]
    assert set().union(*parts) == set(ids) and sum(map(len, parts)) == len(ids)
    assert all(parts)
    assert str(Shard.parse(" 2 / 3 ")) == "2/3"


@pytest.mark.parametrize("text", ["0/3", "4/3", "2", "a/b", "1/0"])
def test_a_bad_shard_is_a_usage_error(tmp_path: Path, text: str) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(experiment("http://127.0.0.1:9/v1")))
    result = invoke("run", str(exp), "--shard", text, "--out", str(tmp_path / "run"))
    assert result.exit_code == 2 and "--shard" in result.output
    assert not (tmp_path / "run").exists()


def test_merged_shards_give_the_tables_of_one_unsharded_run(tmp_path: Path) -> None:
    with FakeModelServer(default_answer="<scratchpad>Nothing to do.</scratchpad>Done.") as server:
        raw = experiment(server.base_url, samples=7)
        raw["judges"] = []
        exp, prices = files(tmp_path, raw)
        whole = tmp_path / "whole"
        common = ["--prices", str(prices), "--display", "none", "--no-analyze"]
        assert invoke("run", str(exp), "--out", str(whole), *common).exit_code == 0
        shards = [tmp_path / f"shard{k}" for k in (1, 2, 3)]
        for k, out in enumerate(shards, start=1):
            result = invoke("run", str(exp), "--out", str(out), "--shard", f"{k}/3", *common)
            assert result.exit_code == 0, result.output
        wrong = invoke("run", str(exp), "--out", str(shards[0]), "--shard", "2/3", *common)
        assert wrong.exit_code == 2 and "shard 1/3" in wrong.output
    for directory in (whole, *shards):
        assert invoke("classify", str(directory)).exit_code == 0
    merged = invoke("analyze", *map(str, shards), "--out", str(tmp_path / "merged"))
    assert merged.exit_code == 0, merged.output
    one = analyze_runs([RunDir(whole)], out=tmp_path / "one")
    many = analyze_runs([RunDir(d) for d in shards], out=tmp_path / "many")
    assert len(one.samples) == 14
    sizes = [len(list(iter_agent_samples(d / "logs"))) for d in shards]
    assert sum(sizes) == 14 and all(sizes)
    for name, table in one.tables().items():
        pd.testing.assert_frame_equal(table, many.tables()[name], obj=name)
    for name in ("samples", "rates", "contrasts", "spend"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "merged" / f"{name}.parquet"),
            pd.read_parquet(tmp_path / "one" / f"{name}.parquet"),
            obj=name,
        )


def test_overlapping_or_foreign_run_directories_do_not_merge(tmp_path: Path) -> None:
    with FakeModelServer(default_answer="Done.") as server:
        raw = experiment(server.base_url, samples=2)
        raw["judges"] = []
        exp, _ = files(tmp_path, raw)
        for name in ("a", "b"):
            assert invoke("run", str(exp), "--out", str(tmp_path / name)).exit_code == 0
        other = {**raw, "samples": 3}
        exp.write_text(yaml.safe_dump(other))
        assert invoke("run", str(exp), "--out", str(tmp_path / "c")).exit_code == 0
    overlap = invoke(
        "analyze", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "m")
    )
    assert overlap.exit_code == 2 and "must not overlap" in " ".join(overlap.output.split())
    foreign = invoke(
        "analyze", str(tmp_path / "a"), str(tmp_path / "c"), "--out", str(tmp_path / "m")
    )
    assert foreign.exit_code == 2 and "fingerprint" in foreign.output
    assert invoke("analyze", str(tmp_path / "a"), str(tmp_path / "b")).exit_code == 2
