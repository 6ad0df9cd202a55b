"""Classify every sample of a run into ``labels/<judge_id>.jsonl`` (append-only, resumable).

Each scoring lives in its own file named by its judge id, so re-scoring a run with another
judge keeps the earlier scoring, and never touches the agent's logs.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inspect_ai.model import GenerateConfig, Model, get_model
from rich.progress import Progress

from insider import __version__
from insider.classify import (
    ORIGINAL_RUBRIC,
    InboxEmail,
    OriginalSample,
    SampleVerdict,
    WorldProfile,
    classify_sample,
    judge_id,
    original_rubric_id,
    original_rubric_verdict,
)
from insider.errors import ConfigError
from insider.experiment import JudgeSpec
from insider.files import atomic_write_text, open_append
from insider.pipeline._profile import original_world_profile, our_world_profile
from insider.run import AgentSample, RunDir, iter_agent_samples
from insider.scenarios import (
    ORIGINAL_WORLD,
    Condition,
    condition_from_metadata,
    original_email_content,
    render,
    world_for,
)

BATCH = 32


@dataclass
class ClassifySummary:
    """How a scoring went: counts for the CLI and the closing note."""

    judge_id: str
    labels_file: Path
    samples: int = 0
    skipped_existing: int = 0
    judge_calls: int = 0
    samples_judged: int = 0
    # newly scored samples where evidence deferred over text it did not understand
    deferred: int = 0
    states: Counter[str] = field(default_factory=Counter)


def judge_models(judges: Sequence[JudgeSpec]) -> list[Model]:
    """Inspect models for the judge panel, each with its own settings."""
    return [
        get_model(
            spec.model,
            config=GenerateConfig(
                temperature=spec.temperature,
                max_tokens=spec.max_tokens,
                max_connections=spec.max_connections,
            ),
            base_url=spec.base_url,
            **spec.args,
        )
        for spec in judges
    ]


def scoring_rubric(judges: Sequence[JudgeSpec]) -> str:
    """The one rubric of a scoring's judges; a mix, or an original rubric without one grader,
    is a config error."""
    rubrics = sorted({spec.rubric for spec in judges})
    if len(rubrics) > 1:
        raise ConfigError(
            f"one scoring uses one rubric; these judges mix {' and '.join(rubrics)} "
            "(score each rubric on its own)"
        )
    rubric = rubrics[0] if rubrics else "insider"
    if rubric == ORIGINAL_RUBRIC and len(judges) != 1:
        raise ConfigError(
            f"rubric original takes exactly one judge model, the grader of the original "
            f"classifiers (got {len(judges)})"
        )
    return rubric


def scoring_id(judges: Sequence[JudgeSpec], aggregation: str) -> str:
    """The labels file's name of a scoring: the judges and how they combine, or the grader."""
    if scoring_rubric(judges) == ORIGINAL_RUBRIC:
        return original_rubric_id(judges[0].model)
    return judge_id([spec.model for spec in judges], aggregation)


def scorings(judges: Sequence[JudgeSpec]) -> list[list[JudgeSpec]]:
    """An experiment's judges as scorings: our rubric's panel first, then each original grader."""
    ours = [spec for spec in judges if spec.rubric != ORIGINAL_RUBRIC]
    return [ours, *([spec] for spec in judges if spec.rubric == ORIGINAL_RUBRIC)]


def default_scoring_id(judges: Sequence[JudgeSpec], aggregation: str) -> str:
    """The scoring a run is analyzed with unless told otherwise: our rubric's panel."""
    return scoring_id(scorings(judges)[0], aggregation)


def _condition(sample: AgentSample) -> Condition | None:
    """The sample's condition from its metadata; None for foreign metadata."""
    try:
        return condition_from_metadata(sample.metadata)
    except ValueError:
        return None


def _sample_world(
    sample: AgentSample, default: WorldProfile
) -> tuple[WorldProfile, tuple[InboxEmail, ...] | None]:
    """The profile and inbox of the world the sample ran in (its family and persona).

    Samples that are not one of our conditions are judged with the default profile and
    without an inbox.
    """
    condition = _condition(sample)
    if condition is None:
        if sample.metadata.get("world") == ORIGINAL_WORLD:
            # Never fall back to another world's profile for the original's answers.
            raise ConfigError(
                f"sample {sample.sample_id}: its condition of world 'original' does not load "
                "(is the replication extra installed? pip install 'insider[replication]')"
            )
        return default, None
    mode = str(sample.metadata.get("mode", "single_turn"))
    return _condition_world(condition, mode)


@functools.lru_cache(maxsize=1024)
def _condition_world(
    condition: Condition, mode: str
) -> tuple[WorldProfile, tuple[InboxEmail, ...]]:
    """Samples of a condition share one world: render it once, not once per sample."""
    prompt = render(condition, mode="agentic" if mode == "agentic" else "single_turn")
    inbox = tuple(InboxEmail.model_validate(email.model_dump()) for email in prompt.emails)
    if condition.world == ORIGINAL_WORLD:
        return original_world_profile(condition.scenario), inbox
    return our_world_profile(world_for(condition)), inbox


def _done_ids(path: Path) -> set[tuple[str, str]]:
    """(model, sample id) pairs already scored; a torn last line is ignored and rewritten."""
    done: set[tuple[str, str]] = set()
    if not path.exists():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        done.add((row["model"], row["sample_id"]))
    return done


def _repair_tail(path: Path) -> None:
    """Drop a torn last line (a crash mid-write) so the next row starts on its own line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def _batches(samples: Iterator[AgentSample], size: int) -> Iterator[list[AgentSample]]:
    batch: list[AgentSample] = []
    for sample in samples:
        batch.append(sample)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


async def _classify_one(
    sample: AgentSample, profile: WorldProfile, panel: Sequence[Model], aggregation: str
) -> SampleVerdict:
    agentic = sample.metadata.get("mode") == "agentic"
    world_profile, inbox = _sample_world(sample, profile)
    return await classify_sample(
        scenario=str(sample.metadata.get("scenario", "")),
        text=sample.answer,
        reasoning=sample.reasoning,
        tool_calls=sample.tool_calls if agentic else None,
        action_log=sample.action_log if agentic else None,
        agent_error=sample.error,
        profile=world_profile,
        judges=panel,
        aggregation=aggregation,
        inbox=inbox,
    )


async def _classify_one_original(sample: AgentSample, grader: Model) -> SampleVerdict:
    """The original classifiers on one sample (rubric original)."""
    condition = _condition(sample)
    world = condition.world if condition else str(sample.metadata.get("world", "(unknown)"))
    original = condition is not None and condition.world == ORIGINAL_WORLD
    return await original_rubric_verdict(
        OriginalSample(
            scenario=str(sample.metadata.get("scenario", "")),
            world=world,
            response=sample.answer,
            email_content=original_email_content(condition) if condition and original else "",
            awareness_notice=condition is not None and condition.awareness_notice == "ask",
            agent_error=sample.error,
        ),
        grader,
    )


def _row(sample: AgentSample, verdict: SampleVerdict) -> str:
    return json.dumps(
        {
            "model": sample.model,
            "sample_id": sample.sample_id,
            "condition_id": sample.metadata.get("condition_id"),
            "log_file": os.path.basename(sample.log_file),
            "verdict": verdict.model_dump(mode="json"),
        },
        ensure_ascii=False,
    )


def _write_meta(path: Path, judges: Sequence[JudgeSpec], aggregation: str, sid: str) -> None:
    meta = {
        "judge_id": sid,
        "rubric": scoring_rubric(judges),
        "judges": [{"model": s.model, "temperature": s.temperature} for s in judges],
        "aggregation": aggregation,
        "insider_version": __version__,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    atomic_write_text(path, json.dumps(meta, indent=2))


def classify_run(
    run_dir: RunDir,
    judges: Sequence[JudgeSpec],
    aggregation: str,
    profile: WorldProfile,
    *,
    show_progress: bool = True,
) -> ClassifySummary:
    """Score every sample not yet scored under this judge id; returns the counts.

    The judges are one scoring: our rubric's panel, or one grader of the original rubric.
    """
    sid = scoring_id(judges, aggregation)
    path = run_dir.labels / f"{sid}.jsonl"
    run_dir.labels.mkdir(parents=True, exist_ok=True)
    _write_meta(run_dir.labels / f"{sid}.meta.json", judges, aggregation, sid)
    summary = ClassifySummary(judge_id=sid, labels_file=path)
    done = _done_ids(path)
    panel = judge_models(judges)
    original = scoring_rubric(judges) == ORIGINAL_RUBRIC

    async def score(sample: AgentSample) -> SampleVerdict:
        if original:
            return await _classify_one_original(sample, panel[0])
        return await _classify_one(sample, profile, panel, aggregation)

    concurrency = max(1, sum(spec.max_connections for spec in judges)) if judges else 16
    _repair_tail(path)
    todo = (s for s in iter_agent_samples(run_dir.logs) if not _skip(s, done, summary))
    with Progress(disable=not show_progress, transient=True) as progress:
        task = progress.add_task(f"classifying ({sid})", total=None)
        with open_append(path) as out:

            async def all_batches() -> None:
                for batch in _batches(todo, BATCH):
                    verdicts = await _classify_batch(batch, score, concurrency)
                    for sample, verdict in zip(batch, verdicts, strict=True):
                        out.write(_row(sample, verdict) + "\n")
                        _count(summary, verdict)
                    out.flush()
                    os.fsync(out.fileno())
                    progress.advance(task, len(batch))

            asyncio.run(all_batches())
    return summary


def _skip(sample: AgentSample, done: set[tuple[str, str]], summary: ClassifySummary) -> bool:
    if (sample.model, sample.sample_id) in done:
        summary.skipped_existing += 1
        return True
    return False


def _count(summary: ClassifySummary, verdict: SampleVerdict) -> None:
    summary.samples += 1
    summary.judge_calls += verdict.judge_calls
    summary.samples_judged += verdict.judge_calls > 0
    summary.deferred += bool(verdict.extra.get("not_understood"))
    summary.states.update(label.state.value for label in verdict.labels.values())


async def _classify_batch(
    batch: list[AgentSample],
    score: Callable[[AgentSample], Awaitable[SampleVerdict]],
    concurrency: int,
) -> list[SampleVerdict]:
    limit = asyncio.Semaphore(concurrency)

    async def one(sample: AgentSample) -> SampleVerdict:
        async with limit:
            return await score(sample)

    return list(await asyncio.gather(*(one(sample) for sample in batch)))


def read_labels(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a labels file, streaming; a torn last line (crash mid-write) is skipped."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
