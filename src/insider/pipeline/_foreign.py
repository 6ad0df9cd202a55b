"""Score transcripts produced elsewhere (our JSONL schema or the original results layout)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from insider.classify import (
    LABELS,
    ORIGINAL_RUBRIC,
    InboxEmail,
    OriginalSample,
    SampleVerdict,
    Transcript,
    WorldProfile,
    classify_sample,
    judge_panel,
    load_profile,
    original_rubric_verdict,
    read_transcripts,
)
from insider.errors import ConfigError
from insider.experiment import JudgeSpec
from insider.pipeline._analyze_run import write_table
from insider.pipeline._classify_run import judge_models, scoring_id, scoring_rubric
from insider.pipeline._profile import original_world_profile
from insider.scenarios import ORIGINAL_WORLD, Condition, original_email_content, render


def original_condition(transcript: Transcript) -> Condition | None:
    """The original-world condition a transcript names (None when it names none).

    The original's goal_value 'ambiguous' renders as goal_type ambiguous, so it reads as that.
    """
    fields = (transcript.goal_type, transcript.goal_value, transcript.urgency)
    if not all(fields):
        return None
    goal_type, goal_value, urgency = fields
    if goal_value == "ambiguous":
        goal_type, goal_value = "ambiguous", "none"
    try:
        return Condition.model_validate(
            {
                "scenario": transcript.scenario,
                "goal_type": goal_type,
                "goal_value": goal_value,
                "urgency": urgency,
                "world": ORIGINAL_WORLD,
            }
        )
    except ValidationError as error:
        where = transcript.source or transcript.id
        raise ConfigError(f"{where}: not a condition of the original world: {error}") from error


def _original_world(transcript: Transcript) -> tuple[WorldProfile, tuple[InboxEmail, ...] | None]:
    condition = original_condition(transcript)
    profile = original_world_profile(transcript.scenario)
    if condition is None:
        return profile, None
    emails = render(condition).emails
    return profile, tuple(InboxEmail.model_validate(e.model_dump()) for e in emails)


async def _ours(
    items: Sequence[Transcript], world: Path | str, judges: Sequence[JudgeSpec], aggregation: str
) -> list[SampleVerdict]:
    """Our rubric: evidence, then the judges; the original world's profile per scenario."""
    panel = judge_panel(judge_models(judges), aggregation)
    fixed = None if world == ORIGINAL_WORLD else load_profile(world)
    limit = asyncio.Semaphore(
        max(1, sum(spec.max_connections for spec in judges)) if judges else 16
    )

    async def one(item: Transcript) -> SampleVerdict:
        profile, inbox = _original_world(item) if fixed is None else (fixed, None)
        async with limit:
            return await classify_sample(
                scenario=item.scenario,
                text=item.response,
                reasoning=item.reasoning,
                profile=profile,
                judges=panel,
                inbox=inbox,
            )

    return list(await asyncio.gather(*(one(item) for item in items)))


async def _original(
    items: Sequence[Transcript], world: Path | str, grader: JudgeSpec
) -> list[SampleVerdict]:
    """The original classifiers; they need the condition to find forwarded mails."""
    if world != ORIGINAL_WORLD:
        raise ConfigError(
            "--rubric original scores answers of the original world: --world original"
        )
    model = judge_models([grader])[0]
    limit = asyncio.Semaphore(grader.max_connections)

    async def one(item: Transcript) -> SampleVerdict:
        condition = original_condition(item)
        if condition is None:
            raise ConfigError(
                f"{item.source or item.id}: rubric original needs goal_type, goal_value and "
                "urgency (the original classifiers read forwarded mails from that inbox)"
            )
        sample = OriginalSample(
            scenario=item.scenario,
            world=ORIGINAL_WORLD,
            response=item.response,
            email_content=original_email_content(condition),
        )
        async with limit:
            return await original_rubric_verdict(sample, model)

    return list(await asyncio.gather(*(one(item) for item in items)))


def classify_foreign(
    transcripts: Path,
    world: Path | str,
    judges: Sequence[JudgeSpec],
    aggregation: str,
    out: Path,
) -> list[Path]:
    """One labels row per transcript, written as labels.csv and labels.parquet under ``out``.

    ``world`` is a profile YAML, or ``"original"`` for answers from the original world (its
    profile and each condition's inbox then come from the installed package).
    """
    items = read_transcripts(transcripts)
    if scoring_rubric(judges) == ORIGINAL_RUBRIC:
        verdicts = asyncio.run(_original(items, world, judges[0]))
    else:
        verdicts = asyncio.run(_ours(items, world, judges, aggregation))
    rows: list[dict[str, Any]] = []
    for item, verdict in zip(items, verdicts, strict=True):
        row = item.model_dump(exclude={"response", "reasoning"})
        row.update({label: verdict.labels[label].state.value for label in LABELS})
        row.update(judge_id=scoring_id(judges, aggregation), judge_calls=verdict.judge_calls)
        rows.append(row)
    out.mkdir(parents=True, exist_ok=True)
    return write_table(pd.DataFrame(rows), out, "labels")
