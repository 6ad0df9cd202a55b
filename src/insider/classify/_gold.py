"""The gold set: labelled transcripts of our own, and how well a judge setup matches them."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from insider.classify._classify import SampleInput, classify_samples
from insider.classify._judge import judge_panel
from insider.classify._transcripts import jsonl_objects, load_profile
from insider.classify._types import LABELS, LabelState, SampleVerdict, WorldProfile
from insider.errors import ConfigError

if TYPE_CHECKING:
    from insider.classify._classify import Judges

# The shipped gold sets: gold.jsonl (a small test world, profile.yaml) and <world>.jsonl.
GOLD_DIR = Path(__file__).parent / "gold"


class GoldJudgeScript(BaseModel):
    """What a scripted judge answers on this transcript (tests feed it to a mock model).

    `answers` holds one {verdict, quote, rationale} per open label; otherwise the judge replies
    `raw` text, raises `error`, or refuses (stop reason content_filter).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    answers: dict[str, dict[str, str]] = Field(default_factory=dict)
    raw: str | None = None
    error: str | None = None
    refuse: bool = False


class GoldTranscript(BaseModel):
    """One labelled transcript."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    scenario: str
    note: str = ""  # what the transcript tests
    response: str = ""
    reasoning: str = ""
    tool_calls: tuple[dict[str, Any], ...] | None = None
    action_log: tuple[dict[str, Any], ...] | None = None
    agent_error: str | None = None
    evidence: dict[str, LabelState] = Field(
        default_factory=dict, description="the labels evidence alone decides, and their state"
    )
    judge_script: GoldJudgeScript = Field(default_factory=GoldJudgeScript)
    expected: dict[str, LabelState]

    @model_validator(mode="after")
    def _consistent(self) -> GoldTranscript:
        if set(self.expected) != set(LABELS):
            raise ValueError(f"expected must give every label: {', '.join(LABELS)}")
        for label, state in self.evidence.items():
            if self.expected.get(label) != state:
                raise ValueError(f"evidence and expected disagree on {label}")
        return self

    def as_input(self) -> SampleInput:
        return SampleInput(
            scenario=self.scenario,
            text=self.response,
            reasoning=self.reasoning,
            tool_calls=self.tool_calls,
            action_log=self.action_log,
            agent_error=self.agent_error,
        )


def load_gold(path: Path | str) -> list[GoldTranscript]:
    """The gold set from JSONL, with errors naming the line."""
    gold = []
    for _, where, data in jsonl_objects(Path(path), "the gold set"):
        try:
            gold.append(GoldTranscript.model_validate(data))
        except ValidationError as error:
            raise ConfigError(f"{where}: invalid gold transcript: {error}") from error
    return gold


class GoldMismatch(BaseModel):
    """A label on which the classifier and the gold set disagree."""

    sample_id: str
    label: str
    expected: str
    got: str
    decided_by: str
    reason: str


class GoldLabelScore(BaseModel):
    """How one label fared: accuracy on all samples, kappa where both sides scored it.

    ``judged`` holds, for the transcripts on which this label went to the judge, each
    (state the judge panel gave, gold state): the judge's own record, which evidence-decided
    transcripts (always right, or the command fails) would flatter.
    """

    n: int
    correct: int
    accuracy: float
    kappa: float | None  # Cohen's kappa classifier vs gold; None when undefined
    by_evidence: int
    by_judge: int
    unscored: int
    judged: list[tuple[str, str]] = Field(default_factory=list)


class GoldReport(BaseModel):
    """The classifier (evidence rules + judges) against the gold set."""

    judge_id: str
    n_samples: int
    gold_version: str = ""
    """The gold file's content hash (sha256, 12 hex digits): which gold set was scored."""
    labels: dict[str, GoldLabelScore]
    mismatches: list[GoldMismatch]
    evidence_mismatches: list[str] = Field(
        description="evidence decided wrongly, or did not decide where the gold set says it does"
    )
    samples_judged: int
    labels_judged: int
    judge_sample_fraction: float
    judge_label_fraction: float


def gold_version(path: Path | str) -> str:
    """A gold file's version: the sha256 of its bytes, 12 hex digits (changes with any edit)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def cohen_kappa(got: Sequence[str], expected: Sequence[str]) -> float | None:
    """Cohen's kappa over the pairs both sides scored (harmful / not_harmful); None if undefined."""
    return _kappa(got, expected)


def _kappa(got: Sequence[str], expected: Sequence[str]) -> float | None:
    from statsmodels.stats.inter_rater import cohens_kappa, to_table

    scored = (LabelState.NOT_HARMFUL.value, LabelState.HARMFUL.value)
    pairs = [
        (scored.index(g), scored.index(e))
        for g, e in zip(got, expected, strict=True)
        if g in scored and e in scored
    ]
    ratings = np.array(pairs, dtype=int).reshape(len(pairs), 2)
    if len(ratings) == 0 or np.all(ratings == ratings.flat[0]):
        return None
    table, _ = to_table(ratings, bins=[0, 1, 2])
    return float(cohens_kappa(table, return_results=False))


def _evidence_problems(item: GoldTranscript, verdict: SampleVerdict) -> list[str]:
    problems = []
    for label, result in verdict.labels.items():
        if result.decided_by == "evidence" and result.state != item.expected[label]:
            expected = item.expected[label]
            problems.append(f"{item.id}: {label} by evidence is {result.state}, gold: {expected}")
    for label, state in item.evidence.items():
        result = verdict.labels[label]
        if result.decided_by not in ("evidence", "not_requested") and item.agent_error is None:
            problems.append(
                f"{item.id}: {label} should be decided by evidence ({state}), "
                f"went to {result.decided_by}"
            )
    return problems


def score_against_gold(
    gold: Sequence[GoldTranscript],
    verdicts: Sequence[SampleVerdict],
    judge_id: str,
    labels: Sequence[str] | None = None,
) -> GoldReport:
    """Compare verdicts (in gold order) with the gold labels (``labels``: those requested)."""
    scored = tuple(label for label in LABELS if labels is None or label in labels)
    mismatches: list[GoldMismatch] = []
    evidence_problems: list[str] = []
    scores: dict[str, GoldLabelScore] = {}
    for item, verdict in zip(gold, verdicts, strict=True):
        evidence_problems += _evidence_problems(item, verdict)
        for label, result in verdict.labels.items():
            if label in scored and result.state != item.expected[label]:
                mismatches.append(
                    GoldMismatch(
                        sample_id=item.id,
                        label=label,
                        expected=item.expected[label],
                        got=result.state,
                        decided_by=result.decided_by,
                        reason=result.reason,
                    )
                )
    for label in scored:
        got = [v.labels[label].state.value for v in verdicts]
        expected = [g.expected[label].value for g in gold]
        correct = sum(g == e for g, e in zip(got, expected, strict=True))
        scores[label] = GoldLabelScore(
            n=len(gold),
            correct=correct,
            accuracy=correct / len(gold) if gold else 0.0,
            kappa=_kappa(got, expected),
            by_evidence=sum(v.labels[label].decided_by == "evidence" for v in verdicts),
            by_judge=sum(v.labels[label].decided_by == "judge" for v in verdicts),
            unscored=got.count(LabelState.UNSCORED.value),
            judged=[
                (v.labels[label].state.value, g.expected[label].value)
                for v, g in zip(verdicts, gold, strict=True)
                if v.labels[label].decided_by == "judge"
            ],
        )
    samples_judged = sum(bool(v.judge_call_reasons) for v in verdicts)
    labels_judged = sum(len(v.judge_call_reasons) for v in verdicts)
    return GoldReport(
        judge_id=judge_id,
        n_samples=len(gold),
        labels=scores,
        mismatches=mismatches,
        evidence_mismatches=evidence_problems,
        samples_judged=samples_judged,
        labels_judged=labels_judged,
        judge_sample_fraction=samples_judged / len(gold) if gold else 0.0,
        judge_label_fraction=labels_judged / (len(gold) * len(scored)) if gold else 0.0,
    )


async def validate_judges(
    gold_path: Path | str,
    profile: WorldProfile | Path | str,
    judges: Judges,
    aggregation: str = "majority",
    max_concurrency: int = 8,
    labels: Sequence[str] | None = None,
) -> GoldReport:
    """Classify the gold set with these judges and score the result against its labels.

    ``labels``: the labels the scoring decides (None: all); only those are scored.

    Evidence must be right on every gold transcript where it decides; the report lists any
    case where it is not (`evidence_mismatches`), apart from accuracy and kappa per label.
    """
    gold = load_gold(gold_path)
    world = profile if isinstance(profile, WorldProfile) else load_profile(profile)
    panel = judge_panel(judges, aggregation, labels=labels)
    verdicts = await classify_samples(
        [item.as_input() for item in gold],
        profile=world,
        judges=panel,
        max_concurrency=max_concurrency,
    )
    report = score_against_gold(gold, verdicts, panel.judge_id, labels)
    report.gold_version = gold_version(gold_path)
    return report
