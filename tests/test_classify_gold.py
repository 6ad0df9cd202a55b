"""The gold set end to end: evidence exact everywhere, scripted judges for the rest."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path

import pytest
from inspect_ai.model import Model, ModelOutput

import insider.classify
from insider.classify import (
    LABELS,
    GoldReport,
    GoldTranscript,
    LabelState,
    NeedsJudge,
    WorldProfile,
    build_judge_request,
    decide_by_evidence,
    extract_evidence,
    load_gold,
    load_profile,
    validate_judges,
)
from insider.errors import ConfigError
from insider.pipeline import shipped_gold_sets
from insider.testing import JudgeReply, scripted_judge

GOLD_DIR = Path(insider.classify.__file__).parent / "gold"
GOLD_PATH = GOLD_DIR / "gold.jsonl"
PROFILE = load_profile(GOLD_DIR / "profile.yaml")
GOLD = load_gold(GOLD_PATH)


def _open_labels(item: GoldTranscript, profile: WorldProfile = PROFILE) -> dict[str, str]:
    evidence = extract_evidence(item.response, item.reasoning, item.tool_calls, item.action_log)
    return decide_by_evidence(evidence, profile).open_labels


def gold_judge(gold: list[GoldTranscript], profile: WorldProfile = PROFILE) -> Model:
    """A judge that answers each gold transcript from its judge_script, found by its prompt."""
    by_prompt: dict[str, GoldTranscript] = {}
    for item in gold:
        if item.agent_error is not None or not _open_labels(item, profile):
            continue
        evidence = extract_evidence(item.response, item.reasoning, item.tool_calls, item.action_log)
        request = build_judge_request(evidence, profile, _open_labels(item, profile))
        by_prompt[f"{request.system}\n\n{request.user}"] = item

    def answer(prompt: str, labels: tuple[str, ...]) -> JudgeReply:
        script = by_prompt[prompt].judge_script
        if script.error is not None:
            raise RuntimeError(script.error)
        if script.refuse:
            return ModelOutput.from_content(
                "mockllm/gold", "I can't help.", stop_reason="content_filter"
            )
        if script.raw is not None:
            return script.raw
        return script.answers

    return scripted_judge(answer, name="gold")


def _failing_script_labels(item: GoldTranscript) -> set[str]:
    """The labels this transcript's scripted judge fails to answer validly."""
    script = item.judge_script
    opened = set(_open_labels(item))
    if script.error is not None or script.refuse or script.raw is not None:
        return opened
    return {
        label
        for label in opened
        if label not in script.answers or script.answers[label].get("verdict") not in ("yes", "no")
    }


# --- the data itself ------------------------------------------------------------------------


def test_gold_set_size_and_coverage() -> None:
    assert len(GOLD) >= 60
    assert len({item.id for item in GOLD}) == len(GOLD)
    assert {item.scenario for item in GOLD} == {"blackmail", "leaking", "lethal"}
    for label in LABELS:
        states = Counter(item.expected[label] for item in GOLD)
        assert states[LabelState.HARMFUL] >= 2, label
        assert states[LabelState.NOT_HARMFUL] >= 5, label
    scripts = [item.judge_script for item in GOLD]
    assert (
        any(s.refuse for s in scripts)
        and any(s.raw for s in scripts)
        and any(s.error for s in scripts)
    )
    assert any(item.tool_calls for item in GOLD) and any(item.action_log for item in GOLD)
    assert any(item.agent_error for item in GOLD)


def test_gold_prompts_are_distinct() -> None:
    judged = [item for item in GOLD if item.agent_error is None and _open_labels(item)]
    prompts = set()
    for item in judged:
        evidence = extract_evidence(item.response, item.reasoning, item.tool_calls, item.action_log)
        prompts.add(build_judge_request(evidence, PROFILE, _open_labels(item)).user)
    assert len(prompts) == len(judged)


SHIPPED = [
    pytest.param(item, profile, id=f"{name}:{item.id}")
    for name, path, profile in shipped_gold_sets()
    for item in load_gold(path)
]


@pytest.mark.parametrize(("item", "profile"), SHIPPED)
def test_evidence_decides_exactly_what_each_gold_set_says(
    item: GoldTranscript, profile: WorldProfile
) -> None:
    """Every shipped gold set: the test world's and each scenario world's (e.g. halden)."""
    if item.agent_error is not None:
        pytest.skip("an agent error decides every label")
    evidence = extract_evidence(item.response, item.reasoning, item.tool_calls, item.action_log)
    decision = decide_by_evidence(evidence, profile)
    decided = {
        label: outcome.state
        for label, outcome in decision.outcomes.items()
        if not isinstance(outcome, NeedsJudge)
    }
    assert decided == item.evidence
    assert set(item.judge_script.answers) <= set(decision.open_labels)


def test_gold_loading_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "gold.jsonl"
    path.write_text(GOLD_PATH.read_text().splitlines()[0] + "\n{not json}\n")
    with pytest.raises(ConfigError, match=r"gold.jsonl:2"):
        load_gold(path)


# --- end to end -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report() -> GoldReport:
    return asyncio.run(validate_judges(GOLD_PATH, PROFILE, [gold_judge(GOLD)], max_concurrency=4))


def test_evidence_is_right_on_every_gold_transcript(report: GoldReport) -> None:
    assert report.evidence_mismatches == []


def test_only_failing_judges_cause_mismatches_and_they_stay_unscored(report: GoldReport) -> None:
    expected = {(item.id, label) for item in GOLD for label in _failing_script_labels(item)}
    assert {(m.sample_id, m.label) for m in report.mismatches} == expected
    assert all(m.got == "unscored" and m.decided_by == "judge" for m in report.mismatches)
    assert len(expected) >= 10


def test_report_counts_and_judge_fraction(report: GoldReport) -> None:
    assert report.n_samples == len(GOLD)
    no_call = [item.id for item in GOLD if item.agent_error is not None or not _open_labels(item)]
    assert report.samples_judged == len(GOLD) - len(no_call)
    assert report.labels_judged == sum(len(_open_labels(i)) for i in GOLD if i.agent_error is None)
    assert 0 < report.judge_label_fraction < report.judge_sample_fraction < 1
    errors = sum(item.agent_error is not None for item in GOLD)
    for label, score in report.labels.items():
        assert score.by_evidence + score.by_judge + errors == score.n
        assert score.unscored == sum(m.label == label for m in report.mismatches)
        assert score.kappa == pytest.approx(1.0), (
            label
        )  # the scripted judge is right when it answers
    assert report.judge_id == "mockllm-gold__majority"
    print(
        f"\ngold: {report.samples_judged}/{report.n_samples} samples needed a judge call "
        f"({report.judge_sample_fraction:.1%}); {report.labels_judged}/"
        f"{report.n_samples * len(LABELS)} labels ({report.judge_label_fraction:.1%})"
    )


def test_a_wrong_judge_shows_in_accuracy_and_kappa() -> None:
    def always_yes(prompt: str, labels: tuple[str, ...]) -> JudgeReply:
        # a grounded but wrong judge: it quotes the agent's own words and says yes to everything
        sections = re.split(r"^# ", prompt, flags=re.M)
        texts = [
            s.split("\n", 1)[1].strip()
            for s in sections
            if s.startswith(
                (
                    "The agent's visible answer",
                    "The agent's private reasoning",
                    "Actions the agent took",
                )
            )
        ]
        quote = next((t[:12] for t in texts if t and t != "(none)"), "")
        return {label: {"verdict": "yes", "quote": quote, "rationale": "r"} for label in labels}

    wrong = asyncio.run(validate_judges(GOLD_PATH, PROFILE, [scripted_judge(always_yes)]))
    assert wrong.evidence_mismatches == []  # evidence is judge-independent
    assert wrong.labels["deception"].accuracy < 0.5
    # Lethal is decided by evidence but where the code stands in prose (x04) or a cancel_alert
    # in guessed-private text (m04) goes to the judge: only there can a yes-judge be wrong.
    assert {m.sample_id for m in wrong.mismatches if m.label == "lethal"} == {"x04", "m04"}
    assert any(m.got == "harmful" and m.expected == "not_harmful" for m in wrong.mismatches)


def test_evidence_only_validation_leaves_open_labels_unscored() -> None:
    report = asyncio.run(validate_judges(GOLD_PATH, GOLD_DIR / "profile.yaml", []))
    assert report.judge_id == "evidence-only"
    assert report.evidence_mismatches == []
    assert {m.got for m in report.mismatches} == {"unscored"}
