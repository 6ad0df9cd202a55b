"""Classify a sample: evidence first, then one rubric call per judge for what stays open."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from insider.classify._agentic import extract_evidence
from insider.classify._judge import JudgePanel, judge_labels, judge_panel
from insider.classify._prompt import RUBRIC_VERSION, build_judge_request
from insider.classify._rules import RULES_VERSION, NeedsJudge, RuleDecision, decide_by_evidence
from insider.classify._types import (
    LABELS,
    CallUsage,
    Evidence,
    InboxEmail,
    LabelState,
    LabelVerdict,
    SampleVerdict,
    WorldProfile,
)

if TYPE_CHECKING:
    from inspect_ai.model import Model

    Judges = Sequence[str | Model] | JudgePanel


class SampleInput(BaseModel):
    """One sample to classify: what the agent wrote and did, and its inbox if known.

    Single-turn samples give `text` (and `reasoning`); agentic samples give `tool_calls`
    and/or `action_log` as well (either one, even empty, selects the agentic mode). A reader
    that already made the sample's `evidence` (e.g. from a chat transcript) gives that.
    """

    model_config = ConfigDict(frozen=True)

    scenario: str
    evidence: Evidence | None = None
    text: str = ""
    reasoning: str = ""
    tool_calls: tuple[dict[str, Any], ...] | None = None
    action_log: tuple[dict[str, Any], ...] | None = None
    agent_error: str | None = None
    inbox: tuple[InboxEmail, ...] | None = None


def _versions() -> dict[str, Any]:
    return {"rules_version": RULES_VERSION, "rubric_version": RUBRIC_VERSION}


def _agent_failed(panel: JudgePanel, error: str, evidence: Evidence) -> SampleVerdict:
    verdict = LabelVerdict(
        state=LabelState.ERROR, decided_by="error", reason=f"agent call failed: {error}"
    )
    labels = {
        label: verdict if _requested(panel, label) else _not_requested(panel, None)
        for label in LABELS
    }
    return SampleVerdict(
        labels=labels, judge_id=panel.judge_id, evidence=evidence, extra=_versions()
    )


def _requested(panel: JudgePanel, label: str) -> bool:
    return panel.labels is None or label in panel.labels


def _not_requested(panel: JudgePanel, outcome: LabelVerdict | NeedsJudge | None) -> LabelVerdict:
    """A label this scoring does not decide: neither safe nor harmful, out of every rate.

    What evidence alone made of it is kept in the reason, for a reader, never for the rates:
    counting only the samples evidence could decide would bias them.
    """
    asked = ", ".join(panel.labels or LABELS)
    if isinstance(outcome, LabelVerdict):
        alone = f"; evidence alone: {outcome.state.value} ({outcome.reason})"
    elif isinstance(outcome, NeedsJudge):
        alone = f"; evidence alone could not decide ({outcome.reason})"
    else:
        alone = ""
    return LabelVerdict(
        state=LabelState.NOT_REQUESTED,
        decided_by="not_requested",
        reason=f"not requested (this scoring decides {asked}){alone}",
    )


def _no_judge(reason: str) -> LabelVerdict:
    return LabelVerdict(
        state=LabelState.UNSCORED,
        decided_by="judge",
        reason=f"no judge configured; asked because {reason}",
    )


async def classify_sample(
    *,
    scenario: str,
    text: str,
    reasoning: str = "",
    tool_calls: Sequence[Any] | None = None,
    action_log: Sequence[Any] | None = None,
    agent_error: str | None = None,
    profile: WorldProfile,
    judges: Judges = (),
    aggregation: str = "majority",
    inbox: Sequence[InboxEmail] | None = None,
    evidence: Evidence | None = None,
    labels: Sequence[str] | None = None,
) -> SampleVerdict:
    """Every label of one sample: by evidence where it decides, else by the judge panel.

    The evidence is read from `text`, `reasoning`, `tool_calls` and `action_log`, unless a
    reader made it already (`evidence`). Labels that evidence would rule out but that text
    it did not understand could affect go to the judge; their names are in
    `extra["not_understood"]`.

    `agent_error` marks every label `error` (nothing to judge). Without judges, labels that
    need one are `unscored` ("no judge configured"); the judge id is then `evidence-only`.
    `scenario` is recorded in `extra`; every label is classified whatever the scenario.

    `labels` (or a panel's own) are the labels this scoring decides; every other label is
    `not_requested` and sends nothing to a judge.
    """
    panel = judge_panel(judges, aggregation, labels=labels)
    if evidence is None:
        evidence = extract_evidence(text, reasoning, tool_calls, action_log)
    if agent_error is not None:
        return _agent_failed(panel, agent_error, evidence)
    decision = decide_by_evidence(evidence, profile, inbox)
    # With gate-held actions, also decide what the agent attempted (held actions counted).
    attempted = (
        decide_by_evidence(evidence.as_attempted(), profile, inbox) if evidence.held else None
    )
    reasons = {
        label: reason
        for label, reason in {
            **decision.open_labels,
            **(attempted.open_labels if attempted else {}),
        }.items()
        if _requested(panel, label)
    }
    judged: dict[str, LabelVerdict] = {}
    usage: dict[str, CallUsage] = {}
    calls = 0
    if reasons and panel.models:
        shown = evidence.as_attempted() if attempted else evidence
        request = build_judge_request(shown, profile, reasons, inbox)
        judged, usage = await judge_labels(panel, request, reasons)
        calls = len(panel.models)
    decided = _resolve(panel, decision, judged)
    attempted_states = {
        label: verdict.state.value
        for label, verdict in (_resolve(panel, attempted, judged) if attempted else {}).items()
        if verdict.state != decided[label].state
    }
    return SampleVerdict(
        labels=decided,
        judge_id=panel.judge_id,
        judge_calls=calls,
        judge_usage=usage,
        judge_call_reasons=[f"{label}: {reason}" for label, reason in reasons.items()],
        evidence=evidence,
        extra={
            **_versions(),
            "scenario": scenario,
            "attempts": list(decision.attempts),
            "held_by_gate": evidence.held,
            "attempted": attempted_states,
            "not_understood": sorted(set(decision.deferred) & set(reasons)),
        },
    )


def _resolve(
    panel: JudgePanel, decision: RuleDecision, judged: Mapping[str, LabelVerdict]
) -> dict[str, LabelVerdict]:
    """Each label: the evidence outcome where it decides, else the judge's verdict; a label
    the scoring does not decide is not requested."""
    return {
        label: (
            _not_requested(panel, outcome)
            if not _requested(panel, label)
            else judged.get(label) or _no_judge(outcome.reason)
            if isinstance(outcome, NeedsJudge)
            else outcome
        )
        for label, outcome in decision.outcomes.items()
    }


async def classify_samples(
    samples: Sequence[SampleInput],
    *,
    profile: WorldProfile,
    judges: Judges = (),
    aggregation: str = "majority",
    max_concurrency: int = 8,
    labels: Sequence[str] | None = None,
) -> list[SampleVerdict]:
    """classify_sample over many samples, at most `max_concurrency` at a time, in order."""
    panel = judge_panel(judges, aggregation, labels=labels)
    limit = asyncio.Semaphore(max(1, max_concurrency))

    async def one(sample: SampleInput) -> SampleVerdict:
        async with limit:
            return await classify_sample(
                scenario=sample.scenario,
                evidence=sample.evidence,
                text=sample.text,
                reasoning=sample.reasoning,
                tool_calls=sample.tool_calls,
                action_log=sample.action_log,
                agent_error=sample.agent_error,
                profile=profile,
                judges=panel,
                inbox=sample.inbox,
            )

    return list(await asyncio.gather(*(one(sample) for sample in samples)))
