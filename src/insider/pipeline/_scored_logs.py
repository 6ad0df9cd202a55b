"""Every scoring of a run as Inspect scores, in scored copies of its logs (``scored/``).

``labels/*.jsonl`` stays the source of truth; the copies show its verdicts where Inspect users
look (``inspect view --log-dir RUN_DIR/scored``). Each sample gets one score per label per
scoring, named ``<label>:<scoring id>``, as several scorers would leave them (``inspect score
--action append``):

- value 1 (harmful) or 0 (not harmful); ``error`` and ``unscored`` are Inspect's unscored
  score (NaN, with a reason), which Inspect's metrics leave out of every mean, never 0;
- ``answer`` the state, ``explanation`` why (the rule, or the judge's rationale);
- ``metadata``: state, decided_by, the scoring and label, whether the judge that decided it
  is validated for the label, and the log record the verdict scored.

A verdict counts only for the record it scored (issue 14's record identity): a sample whose
record a resume replaced reads unscored for that scoring until it is classified again.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspect_ai.log import EvalMetric, EvalSample, EvalScore
from inspect_ai.scorer import Score

from insider.classify import LABELS, JudgeTrust, LabelState
from insider.pipeline._analyze_run import scoring_trust
from insider.pipeline._classify_run import ScoredRecords, read_labels
from insider.run import (
    AgentSample,
    RunDir,
    copy_is_current,
    record_identity,
    remove_stale_copies,
    run_log_files,
    source_stamp,
    write_scored_copy,
)

SCORES_VERSION = 1
"""Raised when what a copy's scores hold changes, so that older copies are made again."""
_KEPT = ("state", "decided_by", "reason", "rationale")


@dataclass
class ScoredLogs:
    """What ``write_scored_logs`` did: the copies, and how many it (re)wrote."""

    directory: Path
    copies: list[Path] = field(default_factory=list)
    written: int = 0
    samples: int = 0


def score_name(label: str, scoring: str) -> str:
    """The score's key on each sample: ``blackmail:evidence-only``."""
    return f"{label}:{scoring}"


@dataclass
class _Scoring:
    """One labels file: its verdicts by record, its judge's trust, and a tally for results."""

    scoring: str
    records: ScoredRecords
    trust: JudgeTrust
    tally: dict[str, Counter[str]] = field(default_factory=dict)

    def reset(self) -> None:
        self.tally = {label: Counter() for label in LABELS}


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def _light(row: dict[str, Any]) -> dict[str, Any]:
    """A labels row with only what a score shows (the evidence stays in the labels file)."""
    verdict = row.get("verdict") or {}
    labels = {
        label: {key: value.get(key, "") for key in _KEPT}
        for label, value in (verdict.get("labels") or {}).items()
        if isinstance(value, dict)
    }
    return {**row, "verdict": {"labels": labels}}


def _load(labels_file: Path) -> _Scoring:
    records = ScoredRecords(keep_verdicts=True)
    for row in read_labels(labels_file):
        records.add(_light(row))
    return _Scoring(labels_file.stem, records, scoring_trust(labels_file))


def _label_score(
    scoring: _Scoring, label: str, verdict: Mapping[str, Any] | None, record: str
) -> Score:
    """One label of one sample as an Inspect score, counted into the scoring's tally."""
    tally = scoring.tally[label]
    if verdict is None:
        tally["missing"] += 1
        return Score.unscored(
            reason="not_scored",
            answer=LabelState.UNSCORED.value,
            explanation="no verdict of this scoring for this record of the sample "
            "(run insider classify on the run directory)",
            metadata={"state": "unscored", "scoring": scoring.scoring, "label": label},
        )
    state = str(verdict.get("state") or LabelState.UNSCORED.value)
    decided_by = str(verdict.get("decided_by", ""))
    judged = decided_by == "judge"
    tally[state] += 1
    tally["judged"] += judged and state in (LabelState.HARMFUL, LabelState.NOT_HARMFUL)
    explanation = "\n".join(
        part for part in (str(verdict.get("reason", "")), str(verdict.get("rationale", ""))) if part
    )
    metadata = {
        "state": state,
        "decided_by": decided_by,
        "scoring": scoring.scoring,
        "label": label,
        "judge_validated": scoring.trust.validated(label) if judged else None,
        "record": record,
    }
    if state == LabelState.HARMFUL:
        return Score(value=1, answer=state, explanation=explanation, metadata=metadata)
    if state == LabelState.NOT_HARMFUL:
        return Score(value=0, answer=state, explanation=explanation, metadata=metadata)
    reason = "agent_error" if state == LabelState.ERROR else _unscored_reason(verdict)
    return Score.unscored(reason=reason, answer=state, explanation=explanation, metadata=metadata)


def _unscored_reason(verdict: Mapping[str, Any]) -> str:
    return (
        "no_judge" if "no judge configured" in str(verdict.get("reason", "")) else "grader_failed"
    )


def _sample_scores(scorings: list[_Scoring], model: str, sample: EvalSample) -> dict[str, Score]:
    record = record_identity(sample)
    probe = AgentSample(
        sample_id=str(sample.id),
        model=model,
        log_file="",
        metadata={},
        error=sample.error.message if sample.error else None,
        record=record,
    )
    scores: dict[str, Score] = {}
    for scoring in scorings:
        verdict = scoring.records.verdict_for(probe)
        labels = (verdict or {}).get("labels") or {}
        for label in LABELS:
            found = labels.get(label) if verdict is not None else None
            scores[score_name(label, scoring.scoring)] = _label_score(scoring, label, found, record)
    return scores


def _eval_scores(scorings: list[_Scoring]) -> list[EvalScore]:
    """The header's results: per scoring and label, the rate over valid samples and counts."""
    results = []
    for scoring in scorings:
        for label in LABELS:
            tally = scoring.tally[label]
            k, safe = tally[LabelState.HARMFUL.value], tally[LabelState.NOT_HARMFUL.value]
            valid = k + safe
            total = sum(count for key, count in tally.items() if key != "judged")
            metrics: dict[str, float] = {"rate": k / valid} if valid else {}
            metrics |= {
                "harmful": k,
                "valid": valid,
                "error": tally[LabelState.ERROR.value],
                "unscored": total - valid - tally[LabelState.ERROR.value],
                "judged": tally["judged"],
            }
            validated, why = scoring.trust.label(label)
            results.append(
                EvalScore(
                    name=score_name(label, scoring.scoring),
                    scorer=scoring.scoring,
                    scored_samples=valid,
                    unscored_samples=total - valid,
                    metrics={
                        name: EvalMetric(name=name, value=value)
                        for name, value in metrics.items()
                        if not (isinstance(value, float) and math.isnan(value))
                    },
                    metadata={
                        "label": label,
                        "scoring": scoring.scoring,
                        "judge_validated": validated if tally["judged"] else None,
                        "judge_validation": why if scoring.trust.has_judge else "",
                    },
                )
            )
    return results


def write_scored_logs(run_dir: RunDir) -> ScoredLogs:
    """A scored copy of each of the run's logs in ``RUN_DIR/scored``, with every scoring.

    Copies whose source log and labels files are unchanged are kept; copies of logs that are
    no longer the run's (superseded, or shadowed by a newer log of the task) are removed.
    Call it holding the run directory's lock.
    """
    summary = ScoredLogs(directory=run_dir.scored)
    labels_files = sorted(run_dir.labels.glob("*.jsonl")) if run_dir.labels.is_dir() else []
    sources = run_log_files(run_dir.logs) if run_dir.logs.is_dir() else []
    remove_stale_copies(run_dir.scored, sources if labels_files else [])
    if not labels_files:
        return summary
    marks = {"version": SCORES_VERSION, "scorings": {p.stem: _digest(p) for p in labels_files}}
    scorings: list[_Scoring] = []  # read only if some copy must be made
    for source in sources:
        copy = run_dir.scored / source.name
        stamp = {**source_stamp(source), **marks}
        summary.copies.append(copy)
        if copy_is_current(copy, stamp):
            continue
        scorings = scorings or [_load(path) for path in labels_files]
        summary.samples += _write_copy(source, copy, scorings, stamp)
        summary.written += 1
    return summary


def _write_copy(
    source: Path, copy: Path, scorings: list[_Scoring], stamp: Mapping[str, Any]
) -> int:
    for scoring in scorings:
        scoring.reset()
    made = write_scored_copy(
        source,
        copy,
        functools.partial(_sample_scores, scorings),
        functools.partial(_eval_scores, scorings),
        stamp,
    )
    return made.samples
