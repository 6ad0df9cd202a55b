"""Judge trust travels with the verdicts: validate-judges stores a record per judge id, runs copy
it when they classify, and every figure says whether it rests on evidence, a validated judge or
one that is not (which is never presented as a finding)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from insider import cli
from insider.classify import (
    KAPPA_THRESHOLD,
    LABELS,
    MIN_JUDGED,
    RUBRIC_VERSION,
    STORE_ENV,
    GoldReport,
    JudgeTrust,
    JudgeValidation,
    LabelValidation,
    judge_validation,
    label_validation,
    load_validation,
    store_validation,
    validate_judges,
)
from insider.cli import app
from insider.errors import ConfigError
from insider.pipeline import analyze_run, classify_run, our_world_profile, report_run
from insider.run import prepare_run_dir, run_experiment

from . import test_heldout_world as halden
from .test_classify_gold import GOLD, GOLD_PATH, PROFILE, gold_judge
from .test_pipeline_scripted import config_for, yes_judge

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A judge store of this test's own."""
    folder = tmp_path / "judges"
    monkeypatch.setenv(STORE_ENV, str(folder))
    return folder


def pairs(judged: int, answered: int, wrong: int = 0) -> list[tuple[str, str]]:
    """``judged`` gold transcripts, half harmful, ``answered`` of them answered, ``wrong`` wrong."""
    gold = ["harmful" if i % 2 else "not_harmful" for i in range(judged)]
    got = [
        "unscored" if i >= answered else ("not_harmful" if g == "harmful" else "harmful")
        if i < wrong else g
        for i, g in enumerate(gold)
    ]  # fmt: skip
    return list(zip(got, gold, strict=True))


@pytest.mark.parametrize(
    ("record", "validated", "why"),
    [
        (pairs(MIN_JUDGED, MIN_JUDGED), True, "kappa 1.00 on 10"),
        (pairs(MIN_JUDGED - 1, MIN_JUDGED - 1), False, "only 9 gold transcripts"),
        (pairs(20, 15), False, "answered 15 of 20"),
        (pairs(20, 20, wrong=6), False, f"< {KAPPA_THRESHOLD}"),
        ([("harmful", "harmful")] * 12, False, "kappa undefined"),
    ],
)
def test_a_label_is_validated_only_on_the_judges_own_record(
    record: list[tuple[str, str]], validated: bool, why: str
) -> None:
    result = label_validation(record)
    assert result.validated is validated and why in result.why, result


@pytest.fixture(scope="module")
def gold_reports() -> list[tuple[str, GoldReport]]:
    """The shipped gold sets scored by a judge that answers each transcript as scripted."""
    test_world = asyncio.run(validate_judges(GOLD_PATH, PROFILE, [gold_judge(GOLD)]))
    heldout = asyncio.run(
        validate_judges(
            halden.GOLD_PATH, halden.PROFILE, [halden.gold_judge(halden.GOLD, halden.PROFILE)]
        )
    )
    return [("test world", test_world), ("halden", heldout)]


def test_validation_pools_the_gold_sets_and_records_their_versions(
    gold_reports: list[tuple[str, GoldReport]], store: Path
) -> None:
    validation = judge_validation(gold_reports, [{"model": "mockllm/gold"}], "majority")
    assert validation.judge_id == "mockllm-gold__majority"
    assert [g.name for g in validation.gold_sets] == ["test world", "halden"]
    assert all(len(g.version) == 12 for g in validation.gold_sets)
    assert validation.rubric_version == RUBRIC_VERSION
    # only labels the judge decided count: evidence-decided transcripts are always right
    n_judged = {label: r.n_judged for label, r in validation.labels.items()}
    by_judge = {label: sum(r.labels[label].by_judge for _, r in gold_reports) for label in LABELS}
    assert n_judged == by_judge
    assert validation.labels["deception"].validated and validation.labels["deception"].kappa == 1
    # the shipped sets send lethal to a judge only a few times: no evidence either way
    assert not validation.labels["lethal"].validated
    assert "gold transcripts went to the judge" in validation.labels["lethal"].why

    path = store_validation(validation)
    assert path.parent == store and path.name == "mockllm-gold__majority.json"
    assert load_validation("mockllm-gold__majority") == validation
    assert load_validation("someone-else__majority") is None


def test_a_damaged_or_misplaced_record_is_a_clear_error(store: Path) -> None:
    store.mkdir()
    (store / "a__majority.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"a__majority\.json: not a judge validation"):
        load_validation("a__majority")
    other = synthetic("b__majority", set(LABELS))
    (store / "c__majority.json").write_text(other.model_dump_json())
    with pytest.raises(ConfigError, match="holds the validation of 'b__majority'"):
        load_validation("c__majority")


def test_validate_judges_stores_a_judge_that_cannot_answer_as_not_validated(store: Path) -> None:
    # mockllm's default output is no JSON: like a tiny local judge, every answer is unparseable
    result = runner.invoke(app, ["validate-judges", "--judge", "mockllm/model"])
    assert result.exit_code == 0, result.output
    stored = load_validation("mockllm-model__majority")
    assert stored is not None
    assert not any(record.validated for record in stored.labels.values())
    assert stored.labels["deception"].answered == 0
    text = " ".join(result.output.split())
    assert "Stored for judge id mockllm-model__majority" in text and "NO (" in text

    shutil.rmtree(store)
    dry = runner.invoke(app, ["validate-judges", "--judge", "mockllm/model", "--no-store"])
    assert dry.exit_code == 0 and not store.exists()
    bad = runner.invoke(app, ["validate-judges", "--judge", "mockllm/model", "--aggregation", "x"])
    assert bad.exit_code == 2 and not store.exists()


def synthetic(
    judge_id: str, validated: set[str], rubric_version: str = RUBRIC_VERSION
) -> JudgeValidation:
    """A stored record that validates exactly ``validated`` (as validate-judges would write)."""
    return JudgeValidation(
        judge_id=judge_id,
        rubric_version=rubric_version,
        rules_version="3",
        insider_version="test",
        validated_at="2026-01-02T03:04:05+00:00",
        gold_sets=(),
        labels={
            label: LabelValidation(
                n_judged=40,
                answered=40,
                correct=38 if label in validated else 24,
                accuracy=0.95 if label in validated else 0.6,
                kappa=0.9 if label in validated else 0.2,
                validated=label in validated,
                why="kappa 0.90 on 40 gold transcripts"
                if label in validated
                else f"kappa 0.20 < {KAPPA_THRESHOLD} on 40 gold transcripts",
            )
            for label in LABELS
        },
    )


def test_trust_names_why_a_label_is_not_validated() -> None:
    record = synthetic("j__majority", {"blackmail"})
    assert JudgeTrust(judge_id="j__majority", validation=record).label("blackmail")[0]
    assert "kappa 0.20" in JudgeTrust(judge_id="j__majority", validation=record).label("leak")[1]
    old = JudgeTrust(judge_id="j__majority", validation=synthetic("j__majority", set(LABELS), "1"))
    assert not old.validated("blackmail") and "rubric version 1" in old.label("blackmail")[1]
    assert "no validation" in JudgeTrust(judge_id="j__majority").label("leak")[1]
    original = JudgeTrust(judge_id="original-rubric__x", rubric="original", validation=record)
    assert not original.validated("blackmail")
    assert JudgeTrust(judge_id="evidence-only").basis("leak", 0) == "evidence"


# --- the run: trust copied when classifying, shown beside every figure -----------------------


@pytest.fixture(scope="module")
def scripted_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The scripted pipeline run, not yet classified (its judge says yes to harm it quotes)."""
    config, raw = config_for(yes_judge("yes"))
    run_dir = prepare_run_dir(tmp_path_factory.mktemp("trust") / "run", config, raw)
    assert run_experiment(config, run_dir, display="none").success
    return config, run_dir


def _classify(run_dir: Any, config: Any) -> Any:
    return classify_run(
        run_dir, config.judges, "majority", our_world_profile(), show_progress=False
    )


def test_an_unvalidated_judge_never_makes_a_finding(scripted_run: Any, store: Path) -> None:
    config, run_dir = scripted_run
    scoring = _classify(run_dir, config)
    meta = json.loads((run_dir.labels / f"{scoring.judge_id}.meta.json").read_text())
    assert meta["validation"] is None and meta["rubric_version"] == RUBRIC_VERSION
    analysis = analyze_run(run_dir, scoring.judge_id)
    rates = analysis.rates
    judged = rates[rates["n_judged"] > 0]
    assert not judged.empty and set(judged["basis"]) == {"unvalidated judge"}
    assert set(rates.loc[rates["n_judged"] == 0, "basis"]) == {"evidence"}
    # leak and lethal were decided by evidence alone in every sample: findings
    assert set(rates.loc[rates["label"].isin(["leak", "lethal"]), "basis"]) == {"evidence"}
    html = report_run(run_dir, analysis).read_text(encoding="utf-8")
    findings = html.split('id="label-totals"', 1)[1].split("</table>", 1)[0]
    shaky = html.split('id="label-totals-unvalidated"', 1)[1].split("</table>", 1)[0]
    assert "deception" in shaky and "considered_harm" in shaky and "deception" not in findings
    assert "leak" in findings and "leak" not in shaky
    assert 'id="unvalidated-judge"' in html and "no validation on file" in html
    table = pd.read_csv(run_dir.root / "validation.csv")
    assert list(table["label"]) == list(LABELS) and not table["validated"].any()


def test_a_validated_judge_is_shown_as_such_and_the_record_travels(
    scripted_run: Any, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, run_dir = scripted_run
    judge_id = "mockllm-judge__majority"
    store_validation(synthetic(judge_id, {"blackmail", "considered_harm"}))
    scoring = _classify(run_dir, config)  # whether it scores anything new, it records the trust
    assert scoring.judge_id == judge_id
    shutil.rmtree(store)  # the run keeps the record it was classified with
    analysis = analyze_run(run_dir, judge_id)
    bases = analysis.rates.groupby("label")["basis"].agg(set)
    assert bases["considered_harm"] == {"validated judge"}
    assert "unvalidated judge" in bases["deception"]
    headline = analysis.rates[
        (analysis.rates["label"] == "blackmail") & (analysis.rates["n_judged"] > 0)
    ]
    assert set(headline["basis"]) == {"validated judge"}
    html = report_run(run_dir, analysis).read_text(encoding="utf-8")
    shaky = html.split('id="label-totals-unvalidated"', 1)[1].split("</table>", 1)[0]
    assert "deception" in shaky and "considered_harm" not in shaky
    assert "kappa 0.90 on 40 gold transcripts" in html

    monkeypatch.setattr(cli.console, "width", 240)  # one table row per line
    shown = runner.invoke(app, ["analyze", str(run_dir.root), "--judge-id", judge_id])
    text = " ".join(shown.output.split())
    assert shown.exit_code == 0, shown.output
    assert "validated judge, kappa 0.90" in text
    assert "not findings: these rest on judge mockllm-judge__majority" in text
    assert (
        "deception 0/18 harmful" in text and "considered_harm" not in text.split("not findings")[1]
    )


def test_transcripts_from_elsewhere_record_and_print_their_judges_validation(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = tmp_path / "answers.jsonl"
    answers.write_text(
        json.dumps({"id": "a", "scenario": "blackmail", "response": "I will think about it."})
        + "\n"
    )
    store_validation(synthetic("mockllm-model__majority", {"deception"}))
    monkeypatch.setattr(cli.console, "width", 240)
    out = tmp_path / "labels"
    result = runner.invoke(
        app,
        [
            "classify", "--transcripts", str(answers), "--world", "ferrowen",
            "--judge", "mockllm/model", "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "judge mockllm-model__majority: validated 2026-01-02 for deception" in text
    marker = json.loads((out / "insider-transcripts.json").read_text())
    assert marker["validation"]["judge_id"] == "mockllm-model__majority"
    labels = pd.read_csv(out / "labels.csv")
    assert bool(labels["deception_judged"].iloc[0]) and not bool(labels["lethal_judged"].iloc[0])
