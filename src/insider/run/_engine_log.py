"""One Inspect ``.eval`` log per model task, written incrementally through Inspect's recorder.

The run engine records samples here instead of going through Inspect's eval loop. The log is
a real Inspect log (``inspect view``, ``read_eval_log``): ``EvalRecorder`` writes it, and every
flush replaces the file atomically with a complete zip, so a killed run leaves a readable
``started`` log holding every sample flushed before the kill.

Resume: a rerun seeds a fresh recorder entry with the prior log's bytes (``log_seed``), keeps
writing to the same path, and supersedes the records of samples it runs again (errored ones);
Inspect's readers resolve a repeated member name to its last entry.
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from inspect_ai.log import (
    EvalConfig,
    EvalDataset,
    EvalPlan,
    EvalPlanStep,
    EvalResults,
    EvalRevision,
    EvalSample,
    EvalSampleSummary,
    EvalSpec,
    EvalStats,
    EvalStatus,
    read_eval_log,
    read_eval_log_sample_summaries,
)
from inspect_ai.log._recorders.eval import EvalRecorder
from inspect_ai.model import Model, ModelUsage
from shortuuid import uuid

from insider.redact import loggable_args, redact_url
from insider.run._journal import Journal

_SOLVER_NAME = "insider/single_turn"


@dataclass(frozen=True)
class FlushPolicy:
    """When finished samples reach the log file.

    A sample reaches the file at most ``interval_s`` after it finished, as long as the log is
    small. A flush costs time in proportion to the whole log, not to what it adds: Inspect's
    recorder closes and reopens its temp zip (parsing every member's directory entry on the
    event loop) and copies the file to its destination. So the gap between flushes grows with
    the log, keeping flushes under ``budget`` of the time: 1 s up to ~2,000 samples of ~7 KB,
    ~45 s at 100,000. (Timing a flush itself would not do: it yields to the workers between
    samples, so its wall time measures the whole loop.)

    Between flushes, every ``drain_every`` samples move from the recorder's memory into its
    temp zip: its buffer checks each new sample against all buffered ones, so it must stay short.
    """

    interval_s: float = 1.0
    drain_every: int = 100
    budget: float = 0.05
    seconds_per_member: float = 15e-6
    seconds_per_byte: float = 1 / 1e9

    def gap_after(self, members: int, size_bytes: int) -> float:
        """The least time between two flushes of a log with this many samples and bytes."""
        cost = members * self.seconds_per_member + size_bytes * self.seconds_per_byte
        return cost / self.budget


@dataclass(frozen=True)
class PriorLog:
    """A log a previous run left for this task, and which of its samples need no rerun."""

    path: Path
    spec: EvalSpec
    status: EvalStatus
    finished: frozenset[str]
    errored: frozenset[str]
    errored_at: dict[str, datetime] = field(default_factory=dict)
    """When each errored sample's record was made (a batch created before gave that answer)."""


@dataclass
class LogOutcome:
    """What a finished task log holds."""

    path: Path
    status: EvalStatus
    total: int
    failed: int
    """Samples recorded with an error, or not recorded at all (an unfinished log)."""
    stopped: str | None = None
    """Why the run stopped this model early (every recent call failed the same way)."""


def read_prior_log(path: Path) -> PriorLog:
    """The header and per-sample outcomes of an existing log (finished or not)."""
    header = read_eval_log(str(path), header_only=True)
    summaries = read_eval_log_sample_summaries(str(path))
    errored = {str(s.id) for s in summaries if s.error is not None}
    finished = {str(s.id) for s in summaries} - errored
    errored_at = {
        str(s.id): datetime.fromisoformat(s.completed_at)
        for s in summaries
        if s.error is not None and s.completed_at
    }
    return PriorLog(
        path, header.eval, header.status, frozenset(finished), frozenset(errored), errored_at
    )


def _revision() -> EvalRevision | None:
    from inspect_ai._util.git import git_context

    git = git_context()
    if git is None:
        return None
    return EvalRevision(type="git", origin=git.origin, commit=git.commit, dirty=git.dirty)


def eval_spec(
    *,
    task: str,
    model: Model,
    model_args: dict[str, Any],
    dataset_name: str,
    sample_ids: list[str],
    max_connections: int,
    metadata: dict[str, Any],
    prior: EvalSpec | None,
) -> EvalSpec:
    """The log's ``EvalSpec``, shaped like the one Inspect's eval loop writes."""
    spec = EvalSpec(
        run_id=uuid(),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        task=task,
        task_id=uuid(),
        task_version=0,
        task_display_name=task,
        task_attribs={},
        task_args={},
        task_args_passed={},
        solver_args_passed={},
        model=str(model),
        model_generate_config=model.config,
        model_base_url=redact_url(model.explicit_base_url) if model.explicit_base_url else None,
        model_args=loggable_args(model_args),
        dataset=EvalDataset(
            name=dataset_name, samples=len(sample_ids), sample_ids=list(sample_ids)
        ),
        config=EvalConfig(
            epochs=1,
            fail_on_error=False,
            max_samples=max_connections,
            log_samples=True,
            log_realtime=False,
        ),
        packages={"inspect_ai": importlib_metadata.version("inspect_ai")},
        metadata=metadata,
    )
    if prior is None:
        return spec
    # the same log, continued: keep its identity (and so its file name)
    return spec.model_copy(
        update={
            "eval_id": prior.eval_id,
            "run_id": prior.run_id,
            "task_id": prior.task_id,
            "created": prior.created,
        }
    )


def eval_plan(seed: int | None) -> EvalPlan:
    params = {"seed": seed} if seed is not None else {}
    return EvalPlan(steps=[EvalPlanStep(solver=_SOLVER_NAME, params=params, params_passed=params)])


async def drain_recorder(recorder: EvalRecorder) -> None:
    """Move a recorder's buffered samples into its temp zip, without writing the destination.

    Its buffer checks each new sample against every buffered one, so writers of many samples
    drain it every hundred or so.
    """
    # EvalRecorder.data holds one ZipLogFile per eval being written
    for zip_log in recorder.data.values():
        await zip_log.write_buffered_samples()


def _usage_total(summaries: list[EvalSampleSummary]) -> dict[str, ModelUsage]:
    total: dict[str, ModelUsage] = {}
    for summary in summaries:
        for name, usage in summary.model_usage.items():
            total[name] = total[name] + usage if name in total else usage
    return total


@dataclass
class TaskLogWriter:
    """One task's log: samples handed over by the workers, recorded and flushed on a schedule.

    ``add`` only queues a sample, so a worker goes straight on to its next model call; the
    recording (summaries, serialisation, compression) happens in ``run``, between calls.
    """

    log_dir: Path
    spec: EvalSpec
    plan: EvalPlan
    prior: PriorLog | None
    policy: FlushPolicy = field(default_factory=FlushPolicy)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    journal: Journal | None = None
    """Where each recorded sample also goes at once, for a rerun after a kill -9."""

    def __post_init__(self) -> None:
        self._recorder = EvalRecorder(str(self.log_dir))
        self._location: str | None = None
        self._inbox: collections.deque[EvalSample] = collections.deque()
        self._inbox_ready = asyncio.Event()
        self._closing = False
        self._unflushed = 0  # recorded samples not yet in the destination file
        self._undrained = 0  # recorded samples still in the recorder's memory buffer
        self._first_unflushed_at = 0.0
        self._has_unflushed = asyncio.Event()
        self._next_flush_at = 0.0
        self._members = len(self.prior.finished | self.prior.errored) if self.prior else 0
        self._lock = asyncio.Lock()

    @property
    def opened(self) -> bool:
        """Whether the log file exists and takes samples."""
        return self._location is not None

    @property
    def path(self) -> Path:
        if self._location is None:
            raise RuntimeError("the task log is not open yet")
        return Path(self._location)

    @property
    def holds_samples(self) -> bool:
        """Whether samples are waiting to be recorded."""
        return bool(self._inbox)

    def add(self, sample: EvalSample) -> None:
        """Hand over one finished sample; ``run`` records it and a flush writes it."""
        self._inbox.append(sample)
        self._inbox_ready.set()

    def close(self) -> None:
        """No more samples will come: ``run`` records what is queued and returns."""
        self._closing = True
        self._inbox_ready.set()

    async def run(self) -> None:
        """Open the log, then record and flush samples until ``close``."""
        await self._open()
        flusher = asyncio.create_task(self._flush_loop())
        try:
            while not (self._closing and not self._inbox):
                await self._inbox_ready.wait()
                self._inbox_ready.clear()
                await self._record_inbox()
        finally:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)

    async def _open(self) -> None:
        """Create the log, or continue the prior one at its own path; first flush included."""
        # git runs three subprocesses: off the event loop, while the first requests go out
        revision = await asyncio.to_thread(_revision)
        self.spec = self.spec.model_copy(update={"revision": revision})
        self.log_dir.mkdir(parents=True, exist_ok=True)
        location = str(self.prior.path) if self.prior else None
        initialised = await self._recorder.log_init(self.spec, location, clean=True)
        if self.prior is not None:
            # the prior's records (errored ones too, until a rerun supersedes them)
            keep: set[tuple[str | int, int]] = {
                (i, 1) for i in self.prior.finished | self.prior.errored
            }
            await self._recorder.log_seed(self.spec, str(self.prior.path), keep)
        await self._recorder.log_start(self.spec, self.plan)
        await self._recorder.flush(self.spec)
        self._location = initialised

    async def _record_inbox(self) -> None:
        # one sample at a time, taken off the inbox only once recorded: a cancellation in
        # the middle (Ctrl-C) leaves the rest in the inbox, where ``finish`` records them
        while self._inbox:
            await self._recorder.log_sample(self.spec, self._inbox[0])
            sample = self._inbox.popleft()
            if self.journal is not None:
                self.journal.append(sample)
            self._unflushed += 1
            self._undrained += 1
            if not self._has_unflushed.is_set():
                self._first_unflushed_at = time.monotonic()
                self._has_unflushed.set()
            if self._undrained >= self.policy.drain_every:
                await self._drain()

    async def _drain(self) -> None:
        """Move buffered samples into the recorder's temp zip (no write to the destination)."""
        self._undrained = 0
        await drain_recorder(self._recorder)

    async def _flush_loop(self) -> None:
        while True:
            await self._has_unflushed.wait()
            due = max(self._first_unflushed_at + self.policy.interval_s, self._next_flush_at)
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await self.flush()

    async def flush(self) -> None:
        """Write every recorded sample to the log file now (an atomic replace)."""
        async with self._lock:
            if self._unflushed == 0:
                return
            self._members += self._unflushed
            self._unflushed = self._undrained = 0
            self._has_unflushed.clear()
            if self.journal is not None:
                self.journal.start_flush()
            await self._recorder.flush(self.spec)
            if self.journal is not None:
                self.journal.end_flush()
            gap = self.policy.gap_after(self._members, self.path.stat().st_size)
            self._next_flush_at = time.monotonic() + gap

    async def finish(self, status: EvalStatus) -> LogOutcome:
        """Record what is queued, write the header and close the log.

        The log is ``success`` when every planned sample has a record (an output or an
        error); a run that ends otherwise leaves an in-progress log the next run continues.
        A run interrupted before the log was open opens it here, to keep what finished.
        """
        if not self.opened:
            await self._open()
        await self._record_inbox()
        async with self._lock:
            summaries = await self._recorder.sample_summaries(self.spec) or []
            planned = set(self.spec.dataset.sample_ids or [])
            recorded = [s for s in summaries if str(s.id) in planned]
            errored = sum(1 for s in recorded if s.error is not None)
            if status == "success" and len(recorded) < len(planned):
                status = "started"
            if status == "started":
                await self._recorder.flush(self.spec)
                await self._recorder.log_discard(self.spec, keep_destination=True)
            else:
                stats = EvalStats(
                    started_at=self.started_at,
                    completed_at=datetime.now(UTC).isoformat(),
                    model_usage=_usage_total(recorded),
                )
                results = EvalResults(
                    total_samples=len(planned), completed_samples=len(recorded) - errored
                )
                await self._recorder.log_finish(self.spec, status, stats, results, None)
            if self.journal is not None:  # the log file holds every recorded sample now
                self.journal.remove()
            failed = errored + len(planned) - len(recorded)
            return LogOutcome(self.path, status, len(planned), failed)
