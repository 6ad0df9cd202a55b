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
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from inspect_ai.model import GenerateConfig, Model, get_model
from rich.progress import Progress

from insider import __version__
from insider.classify import (
    LABELS,
    ORIGINAL_RUBRIC,
    InboxEmail,
    OriginalSample,
    SampleVerdict,
    WorldProfile,
    classify_sample,
    judge_id,
    original_rubric_id,
    original_rubric_verdict,
    validation_snapshot,
)
from insider.errors import ConfigError
from insider.experiment import JudgeSpec
from insider.files import atomic_write_text, open_append
from insider.pipeline._profile import original_world_profile, our_world_profile
from insider.pipeline._spend import JudgeBudget, Pricer
from insider.run import (
    BATCH_IN_FLIGHT,
    AgentSample,
    BatchLedger,
    Budget,
    RunDir,
    batch_config,
    batch_key,
    call_timeouts,
    iter_agent_samples,
    ledger_path,
    lock_run_dir,
    quiet_batch_log,
    resumable_batches,
    run_prices,
)
from insider.scenarios import (
    ORIGINAL_WORLD,
    Condition,
    condition_from_metadata,
    original_email_content,
    render,
    world_for,
)

if TYPE_CHECKING:
    from insider.pipeline._scored_logs import ScoredLogs


@dataclass
class ClassifySummary:
    """How a scoring went: counts for the CLI and the closing note."""

    judge_id: str
    labels_file: Path
    samples: int = 0
    skipped_existing: int = 0
    rescored: int = 0
    """Samples scored again because a resume replaced the record an earlier verdict scored."""
    judge_calls: int = 0
    samples_judged: int = 0
    # newly scored samples where evidence deferred over text it did not understand
    deferred: int = 0
    states: Counter[str] = field(default_factory=Counter)
    scored_logs: Path | None = None
    """Where the scored copies of the logs are (Inspect scores from every scoring)."""
    budget_stopped: str | None = None
    """Why scoring stopped before every sample (the budget was reached), else None."""


def judge_models(judges: Sequence[JudgeSpec]) -> list[Model]:
    """Inspect models for the judge panel, each with its own settings.

    A batched judge has no connection limit of its own (Inspect keeps up to 10,000 calls
    waiting on its batches).
    """
    return [
        get_model(
            spec.model,
            config=GenerateConfig(
                temperature=spec.temperature,
                max_tokens=spec.max_tokens,
                max_connections=None if spec.batch else spec.max_connections,
                batch=batch_config(spec.batch),
                **call_timeouts(spec.timeout, batched=spec.batch is not None),
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


def scoring_id(
    judges: Sequence[JudgeSpec], aggregation: str, labels: Sequence[str] | None = None
) -> str:
    """The labels file's name of a scoring: the judges, how they combine and which labels
    they decide (when not all), or the original rubric's grader."""
    if scoring_rubric(judges) == ORIGINAL_RUBRIC:
        return original_rubric_id(judges[0].model)
    return judge_id([spec.model for spec in judges], aggregation, labels)


def scorings(judges: Sequence[JudgeSpec]) -> list[list[JudgeSpec]]:
    """An experiment's judges as scorings: our rubric's panel first, then each original grader."""
    ours = [spec for spec in judges if spec.rubric != ORIGINAL_RUBRIC]
    return [ours, *([spec] for spec in judges if spec.rubric == ORIGINAL_RUBRIC)]


def default_scoring_id(
    judges: Sequence[JudgeSpec], aggregation: str, labels: Sequence[str] | None = None
) -> str:
    """The scoring a run is analyzed with unless told otherwise: our rubric's panel."""
    return scoring_id(scorings(judges)[0], aggregation, labels)


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


def is_error_verdict(verdict: dict[str, Any]) -> bool:
    """Whether a stored verdict says the agent's call failed (every label ``error``)."""
    labels = verdict.get("labels") or {}
    return bool(labels) and all(item.get("state") == "error" for item in labels.values())


class _Scored(NamedTuple):
    record: str | None  # None: a row written before verdicts named their record
    error: bool  # the verdict says the agent's call failed
    verdict: dict[str, Any] | None  # kept only when analysis needs it


@dataclass
class ScoredRecords:
    """Which record of each sample a labels file has scored, and with which verdict.

    Rows name the record they scored (``record``). Rows written before verdicts named their
    record match a sample when both agree on whether the agent's call failed: a resume only
    ever replaces a failed record, so an error verdict for a sample that now has an answer
    is stale, and an answer's verdict still holds.
    """

    keep_verdicts: bool = False
    _rows: dict[tuple[str, str], list[_Scored]] = field(default_factory=dict)

    def add(self, row: dict[str, Any]) -> None:
        verdict = row.get("verdict") or {}
        entry = _Scored(
            row.get("record"), is_error_verdict(verdict), verdict if self.keep_verdicts else None
        )
        self._rows.setdefault((str(row["model"]), str(row["sample_id"])), []).append(entry)

    def scored(self, sample: AgentSample) -> bool:
        """Whether some row has scored the sample's current record."""
        return self._match(sample) is not None

    def has_record(self, model: str, sample_id: str, record: str) -> bool:
        """Whether some row has scored this record of the sample."""
        return any(entry.record == record for entry in self._rows.get((model, sample_id), []))

    def seen(self, sample: AgentSample) -> bool:
        """Whether any row, current or stale, names this sample."""
        return (sample.model, sample.sample_id) in self._rows

    def all_verdicts(self) -> Iterator[dict[str, Any]]:
        """Every kept verdict, stale ones too (each was paid for): with ``keep_verdicts``."""
        for entries in self._rows.values():
            for entry in entries:
                if entry.verdict is not None:
                    yield entry.verdict

    def verdict_for(self, sample: AgentSample) -> dict[str, Any] | None:
        """The newest verdict of the sample's current record, if any."""
        match = self._match(sample)
        return None if match is None else match.verdict

    def _match(self, sample: AgentSample) -> _Scored | None:
        failed = sample.error is not None
        for entry in self._rows.get((sample.model, sample.sample_id), [])[::-1]:
            if entry.record == sample.record or (entry.record is None and entry.error == failed):
                return entry
        return None


def scored_records(path: Path, *, keep_verdicts: bool = False) -> ScoredRecords:
    """The records a labels file has scored (an empty index if there is no file yet)."""
    index = ScoredRecords(keep_verdicts=keep_verdicts)
    if path.exists():
        for row in read_labels(path):
            index.add(row)
    return index


def _repair_tail(path: Path) -> None:
    """Drop a torn last line (a crash mid-write) so the next row starts on its own line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


async def _classify_one(
    sample: AgentSample,
    profile: WorldProfile,
    panel: Sequence[Model],
    aggregation: str,
    labels: Sequence[str] | None,
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
        labels=labels,
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
            "record": sample.record,
            "verdict": verdict.model_dump(mode="json"),
        },
        ensure_ascii=False,
    )


def _write_meta(
    path: Path,
    judges: Sequence[JudgeSpec],
    aggregation: str,
    sid: str,
    labels: Sequence[str] | None = None,
) -> None:
    rubric = scoring_rubric(judges)
    meta = {
        "judge_id": sid,
        "rubric": rubric,
        # the judge's validation as stored now (insider validate-judges), copied so that the
        # run's report reads the same anywhere, later (docs/architecture.md)
        **validation_snapshot(sid, rubric),
        "judges": [{"model": s.model, "temperature": s.temperature} for s in judges],
        "aggregation": aggregation,
        "labels": list(labels) if labels is not None else list(LABELS),
        "insider_version": __version__,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    atomic_write_text(path, json.dumps(meta, indent=2))


def _open_labels(run_dir: RunDir, path: Path, meta: Callable[[], None]) -> IO[str]:
    """The labels file, opened to append; a run dir we cannot write to is a usage error."""
    try:
        run_dir.labels.mkdir(parents=True, exist_ok=True)
        meta()
        _repair_tail(path)
        return open_append(path)
    except OSError as exc:
        raise ConfigError(
            f"{run_dir.root}: cannot write the labels here ({exc.strerror or exc}); "
            "make the run directory writable, or copy it somewhere writable and classify the copy"
        ) from exc


def classify_run(
    run_dir: RunDir,
    judges: Sequence[JudgeSpec],
    aggregation: str,
    profile: WorldProfile,
    *,
    show_progress: bool = True,
    labels: Sequence[str] | None = None,
    budget: Budget | None = None,
) -> ClassifySummary:
    """Score every sample whose current log record this judge id has not scored yet.

    The judges are one scoring: our rubric's panel, or one grader of the original rubric.
    A sample is scored again when a resume replaced the record an earlier verdict scored
    (e.g. an error that now has an answer); the new verdict is appended and analysis uses
    the newest verdict of the current record. Each verdict is written (and flushed) as soon
    as it is decided, so a killed scoring loses at most the calls in flight.

    ``labels``: the labels the judges decide (None: all); the others are not requested.
    Batched judges re-attach to the batches a killed scoring left pending. With a ``budget``,
    a sample is scored only while its projected judge calls fit; the rest stay unscored
    (``summary.budget_stopped``) for a rerun with a higher budget.
    """
    original = scoring_rubric(judges) == ORIGINAL_RUBRIC
    labels = None if original else labels
    sid = scoring_id(judges, aggregation, labels)
    path = run_dir.labels / f"{sid}.jsonl"
    summary = ClassifySummary(judge_id=sid, labels_file=path)
    with lock_run_dir(run_dir.root):
        scored = scored_records(path)
        panel = judge_models(judges)
        judge_budget = JudgeBudget(budget, panel, Pricer(run_prices(run_dir.root)))

        async def score(sample: AgentSample) -> SampleVerdict | None:
            if not await judge_budget.admit(sample):
                return None
            token = batch_key.set(judge_key(sample))
            try:
                if original:
                    verdict = await _classify_one_original(sample, panel[0])
                else:
                    verdict = await _classify_one(sample, profile, panel, aggregation, labels)
            finally:
                batch_key.reset(token)
            judge_budget.settle(sample, verdict)
            return verdict

        batched = any(spec.batch is not None for spec in judges)
        concurrency = max(1, sum(spec.max_connections for spec in judges)) if judges else 16
        concurrency = BATCH_IN_FLIGHT if batched else concurrency
        todo = (s for s in iter_agent_samples(run_dir.logs) if not _skip(s, scored, summary))
        meta = functools.partial(
            _write_meta, run_dir.labels / f"{sid}.meta.json", judges, aggregation, sid, labels
        )
        ledgers = [
            BatchLedger(ledger_path(run_dir.labels, f"{sid}.{index}"))
            for index, spec in enumerate(judges)
            if spec.batch is not None
        ]
        batch_models = [model for spec, model in zip(judges, panel, strict=True) if spec.batch]
        with (
            Progress(disable=not show_progress, transient=True) as progress,
            _open_labels(run_dir, path, meta) as out,
        ):
            task = progress.add_task(f"classifying ({sid})", total=None)

            def write(sample: AgentSample, verdict: SampleVerdict) -> None:
                out.write(_row(sample, verdict) + "\n")
                out.flush()  # a kill -9 now loses only the verdicts still being decided
                _count(summary, verdict)
                progress.advance(task)

            run = _score_all(todo, score, concurrency, write)
            asyncio.run(_with_batches(run, batch_models, ledgers, scored))
            os.fsync(out.fileno())
        summary.budget_stopped = judge_budget.stopped
        if not judge_budget.stopped:
            for ledger in ledgers:
                ledger.remove()  # every sample is scored: no batch is pending
        summary.scored_logs = _write_scored_logs(run_dir).directory
    return summary


def judge_key(sample: AgentSample) -> str:
    """Which request a judge call is, in a batch ledger: the sample's record."""
    return json.dumps([sample.model, sample.sample_id, sample.record])


async def _with_batches(
    run: Awaitable[None],
    models: Sequence[Model],
    ledgers: Sequence[BatchLedger],
    scored: ScoredRecords,
) -> None:
    """Re-attach each batched judge's pending batches, then score."""
    quiet_batch_log(None)
    for model, ledger in zip(models, ledgers, strict=True):
        keys = {key for entry in ledger.entries() for key in entry.requests.values()}
        wanted: dict[str, datetime | None] = {
            key: None for key in keys if not scored.has_record(*json.loads(key))
        }
        await resumable_batches(model, ledger, wanted)
    await run


def _write_scored_logs(run_dir: RunDir) -> ScoredLogs:
    """Every scoring into scored copies of the logs (``pipeline._scored_logs``, which imports
    this module)."""
    from insider.pipeline._scored_logs import write_scored_logs as write

    return write(run_dir)


def _skip(sample: AgentSample, scored: ScoredRecords, summary: ClassifySummary) -> bool:
    if scored.scored(sample):
        summary.skipped_existing += 1
        return True
    if scored.seen(sample):
        summary.rescored += 1
    return False


def _count(summary: ClassifySummary, verdict: SampleVerdict) -> None:
    summary.samples += 1
    summary.judge_calls += verdict.judge_calls
    summary.samples_judged += verdict.judge_calls > 0
    summary.deferred += bool(verdict.extra.get("not_understood"))
    summary.states.update(label.state.value for label in verdict.labels.values())


async def _score_all(
    samples: Iterator[AgentSample],
    score: Callable[[AgentSample], Awaitable[SampleVerdict | None]],
    concurrency: int,
    write: Callable[[AgentSample, SampleVerdict], None],
) -> None:
    """``concurrency`` workers, each scoring one sample at a time and writing its verdict.

    Samples are read from the logs in a thread: Inspect's log reader runs its own event loop,
    which inside this one would run the other workers re-entrantly.
    """
    reading = asyncio.Lock()

    async def next_sample() -> AgentSample | None:
        async with reading:
            return await asyncio.to_thread(next, samples, None)

    async def worker() -> None:
        while (sample := await next_sample()) is not None:
            verdict = await score(sample)
            if verdict is None:
                return  # over the budget: this worker takes no more samples
            write(sample, verdict)

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())


def read_labels(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a labels file, streaming; a torn last line (crash mid-write) is skipped."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
