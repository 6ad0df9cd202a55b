"""Score transcripts produced elsewhere: our JSONL schema, the original results layout, or
Inspect logs of other tasks (docs/transcripts.md)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from insider import __version__
from insider.analyze import judged_column
from insider.classify import (
    LABELS,
    ORIGINAL_RUBRIC,
    InboxEmail,
    JudgeTrust,
    OriginalSample,
    SampleVerdict,
    Transcript,
    WorldProfile,
    classify_sample,
    judge_panel,
    original_rubric_verdict,
    read_transcripts,
    trust_from_meta,
    validation_snapshot,
)
from insider.errors import ConfigError
from insider.experiment import JudgeSpec
from insider.files import atomic_write_text
from insider.pipeline._analyze_run import write_table
from insider.pipeline._classify_run import judge_models, scoring_id, scoring_rubric
from insider.pipeline._profile import original_world_profile, resolve_world
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


WorldFor = Callable[[Transcript], tuple[WorldProfile, tuple[InboxEmail, ...] | None]]


def transcript_world(world: str) -> WorldFor:
    """What `--world` names, as the profile (and inbox) to classify each transcript with:
    `original` (the original world, per scenario and condition), one of our worlds by name,
    or a profile YAML file. The one place that reads `--world`."""
    if world == ORIGINAL_WORLD:
        return _original_world
    profile = resolve_world(world)
    return lambda _: (profile, None)


async def _ours(
    items: Sequence[Transcript], world: WorldFor, judges: Sequence[JudgeSpec], aggregation: str
) -> list[SampleVerdict]:
    """Our rubric: each transcript's evidence (read by the reader for its format), then the
    judges."""
    panel = judge_panel(judge_models(judges), aggregation)
    limit = asyncio.Semaphore(
        max(1, sum(spec.max_connections for spec in judges)) if judges else 16
    )

    async def one(item: Transcript) -> SampleVerdict:
        profile, inbox = world(item)
        async with limit:
            return await classify_sample(
                scenario=item.scenario,
                text="",
                evidence=item.evidence(),
                agent_error=item.error,
                profile=profile,
                judges=panel,
                inbox=inbox,
            )

    return list(await asyncio.gather(*(one(item) for item in items)))


async def _original(items: Sequence[Transcript], grader: JudgeSpec) -> list[SampleVerdict]:
    """The original classifiers; they need the condition to find forwarded mails."""
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
            response=item.answer_text(),
            email_content=original_email_content(condition),
            agent_error=item.error,
        )
        async with limit:
            return await original_rubric_verdict(sample, model)

    return list(await asyncio.gather(*(one(item) for item in items)))


# Written into every output folder: a folder with it may be written again; one without it
# (and not empty) is someone else's and is refused.
MARKER = "insider-transcripts.json"


@dataclass
class ForeignSummary:
    """What a scoring of foreign transcripts wrote and found."""

    transcripts: int
    files: list[Path]
    judge_calls: int = 0
    deferred: int = 0  # samples where evidence deferred over text it did not understand
    states: Counter[str] = field(default_factory=Counter)
    trust: JudgeTrust | None = None  # the judge and its validation as stored when scoring


def check_output_folder(out: Path) -> None:
    """Refuse a file, or a non-empty folder that is not an earlier transcripts output."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ConfigError(
            f"--out {out}: a folder that is not empty and was not written by "
            "`insider classify --transcripts`; give a new or empty folder"
        )


def _row(item: Transcript, verdict: SampleVerdict, judge_id: str) -> dict[str, Any]:
    row = item.model_dump(exclude={"response", "reasoning", "messages", "error"})
    row.update({label: verdict.labels[label].state.value for label in LABELS})
    # which verdicts a judge gave (the marker file holds its validation)
    row.update(
        {judged_column(label): verdict.labels[label].decided_by == "judge" for label in LABELS}
    )
    row.update(
        judge_id=judge_id,
        judge_calls=verdict.judge_calls,
        evidence_deferred=bool(verdict.extra.get("not_understood")),
        error=item.error or "",
    )
    return row


def classify_foreign(
    transcripts: Path,
    world: str,
    judges: Sequence[JudgeSpec],
    aggregation: str,
    out: Path,
) -> ForeignSummary:
    """One labels row per transcript (labels.csv/.parquet) and one verdict each
    (verdicts.jsonl, with its evidence) under ``out``.

    ``world`` is a profile YAML, the name of one of our worlds, or ``"original"`` for answers
    from the original world (its profile and each condition's inbox then come from the
    installed package). Every input is read and checked before any judge is called.
    """
    original = scoring_rubric(judges) == ORIGINAL_RUBRIC
    if original and world != ORIGINAL_WORLD:
        raise ConfigError(
            "--rubric original scores answers of the original world: --world original"
        )
    world_for = transcript_world(world)
    items = read_transcripts(transcripts)
    check_output_folder(out)
    sid, rubric = scoring_id(judges, aggregation), scoring_rubric(judges)
    # the judge's validation as stored now, read before any judge is paid
    snapshot = {"rubric": rubric, **validation_snapshot(sid, rubric)}
    if original:
        verdicts = asyncio.run(_original(items, judges[0]))
    else:
        verdicts = asyncio.run(_ours(items, world_for, judges, aggregation))
    summary = ForeignSummary(transcripts=len(items), files=[], trust=trust_from_meta(sid, snapshot))
    rows = []
    for item, verdict in zip(items, verdicts, strict=True):
        rows.append(_row(item, verdict, sid))
        summary.judge_calls += verdict.judge_calls
        summary.deferred += bool(verdict.extra.get("not_understood"))
        summary.states.update(label.state.value for label in verdict.labels.values())
    out.mkdir(parents=True, exist_ok=True)
    _write_marker(out, transcripts, world, sid, snapshot)
    summary.files = write_table(pd.DataFrame(rows), out, "labels")
    verdicts_file = out / "verdicts.jsonl"
    lines = (_verdict_line(i, v) for i, v in zip(items, verdicts, strict=True))
    atomic_write_text(verdicts_file, "".join(lines))
    summary.files.append(verdicts_file)
    return summary


def _verdict_line(item: Transcript, verdict: SampleVerdict) -> str:
    # ASCII escapes: model text may hold anything, the file stays valid UTF-8 JSON.
    return json.dumps({"id": item.id, "verdict": verdict.model_dump(mode="json")}) + "\n"


def _write_marker(
    out: Path, transcripts: Path, world: str, judge_id: str, validation: dict[str, Any]
) -> None:
    meta = {
        "kind": "insider classify --transcripts",
        "transcripts": str(transcripts),
        "world": world,
        "judge_id": judge_id,
        **validation,
        "insider_version": __version__,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    atomic_write_text(out / MARKER, json.dumps(meta, indent=2))
