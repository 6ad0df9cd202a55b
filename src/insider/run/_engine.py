"""The run engine for single-turn runs: Inspect's model layer, driven directly.

Inspect's eval loop spends ~20 ms of CPU per sample on transcripts, realtime buffers and
display; a single-turn sample needs one model call. So each model gets one Inspect ``Model``
(its providers, retries, timeouts and connection limit) and a pool of ``max_connections``
worker coroutines pulling samples from one lazy iterator; every model runs in the same event
loop. Results still go to one real Inspect ``.eval`` log per model task (``_engine_log``).

Samples are built lazily: a condition is rendered the first time any model needs one of its
samples, so the first request goes out after one render, not after rendering the whole grid.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import signal
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from inspect_ai.log import EvalError, EvalSample
from inspect_ai.model import (
    ChatMessage,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    Model,
    ModelOutput,
    get_model,
)
from inspect_ai.model._model import use_model_event_sink
from shortuuid import uuid

from insider.experiment import ExperimentConfig, ModelSpec
from insider.failures import describe_failure
from insider.redact import redact_url, redact_urls_in_text
from insider.run._batches import (
    BATCH_IN_FLIGHT,
    BatchLedger,
    ResumableBatches,
    batch_key,
    ledger_path,
    quiet_batch_log,
    resumable_batches,
)
from insider.run._budget import Budget, ModelBudget
from insider.run._engine_log import (
    FlushPolicy,
    LogOutcome,
    PriorLog,
    TaskLogWriter,
    eval_plan,
    eval_spec,
    read_prior_log,
)
from insider.run._engine_progress import Progress
from insider.run._failures import FailureStreak, stop_message, streak_window
from insider.run._journal import Journal, recover
from insider.run._logs import newest_task_logs
from insider.run._shard import Shard
from insider.run._task import generate_config, task_name
from insider.scenarios import Condition, derived_seed, render, sample_id

current_sample_id: ContextVar[str | None] = ContextVar("insider_current_sample_id", default=None)
"""The id of the sample whose model call is running (for providers and tests)."""


@dataclass(frozen=True)
class PendingSample:
    """One sample to run: its stable id, the prompt messages and the metadata to log."""

    id: str
    input: list[ChatMessage]
    metadata: dict[str, Any]


class PromptCache:
    """Each condition rendered once, the first time any model needs it.

    Samples of a condition share its message objects (the text is identical), which also
    lets Inspect's message snapshots reuse one copy per condition.
    """

    def __init__(self, config: ExperimentConfig) -> None:
        self._config = config
        self._prompts: dict[str, tuple[list[ChatMessage], dict[str, Any]]] = {}

    def get(self, condition: Condition) -> tuple[list[ChatMessage], dict[str, Any]]:
        key = condition.condition_id
        cached = self._prompts.get(key)
        if cached is None:
            prompt = render(condition, mode=self._config.mode)
            messages: list[ChatMessage] = [
                ChatMessageSystem(content=prompt.system),
                ChatMessageUser(content=prompt.user),
            ]
            cached = self._prompts[key] = (messages, prompt.metadata())
        return cached


def pending_samples(
    config: ExperimentConfig,
    conditions: list[Condition],
    skip: frozenset[str],
    cache: PromptCache,
    batched: bool = False,
    shard: Shard | None = None,
) -> Iterator[PendingSample]:
    """The samples not in ``skip`` (and in ``shard``), in grid order, rendered only when reached.

    ``batched`` samples say so in their metadata (``batch: true``): they are priced with the
    provider's batch discount.
    """
    extra = {"batch": True} if batched else {}
    for condition in conditions:
        indices = [
            i
            for i in range(config.samples)
            if sample_id(condition, i) not in skip
            and (shard is None or shard.holds(sample_id(condition, i)))
        ]
        if not indices:
            continue
        messages, metadata = cache.get(condition)
        for index in indices:
            yield PendingSample(
                id=sample_id(condition, index),
                input=messages,
                metadata={
                    **metadata,
                    "sample_index": index,
                    "experiment_id": config.id,
                    **extra,
                },
            )


@dataclass(frozen=True)
class ModelJob:
    """One model's share of the run: its task, planned sample ids, and what is left to do."""

    index: int
    spec: ModelSpec
    task: str
    sample_ids: list[str]
    prior: PriorLog | None
    skip: frozenset[str]
    """Samples that need no call: a previous run recorded an output for them."""
    pending: int
    recovered: tuple[EvalSample, ...] = ()
    """Answers a killed run journaled but never got into its log: recorded, not called."""
    shard: Shard | None = None
    """The shard of the run's samples this run plans (None: all of them)."""

    @property
    def finished_already(self) -> bool:
        return self.pending == 0 and self.prior is not None and self.prior.status == "success"


def plan_jobs(
    config: ExperimentConfig, conditions: list[Condition], log_dir: Path, shard: Shard | None = None
) -> list[ModelJob]:
    """One job per model, each resuming from the newest log its task left in ``log_dir``."""
    ids = [sample_id(c, i) for c in conditions for i in range(config.samples)]
    if shard is not None:
        ids = [sample for sample in ids if shard.holds(sample)]
    priors = newest_task_logs(log_dir)
    jobs = []
    for index, spec in enumerate(config.models):
        name = task_name(config.id, index)
        prior = read_prior_log(priors[name]) if name in priors else None
        logged = prior.finished if prior else frozenset()
        recovered = tuple(recover(log_dir, name, ids, logged))
        skip = logged.intersection(ids) | {str(sample.id) for sample in recovered}
        jobs.append(
            ModelJob(
                index,
                spec,
                name,
                ids,
                prior,
                frozenset(skip),
                len(ids) - len(skip),
                recovered,
                shard,
            )
        )
    return jobs


class _DiscardModelEvents:
    """Model events go nowhere: a sample's log record is built from its output instead.

    Without a sink, Inspect appends each call's event (with a copy of its input) to a
    transcript that lives as long as the worker, i.e. memory grows with every sample.
    """

    def on_pending(self, event: Any) -> None:
        return None

    def on_complete(self, event: Any) -> None:
        return None


def _eval_error(exc: Exception) -> EvalError:
    """The sample's error record: the cause first (not ``RetryError(<Future …>)``)."""
    text = redact_urls_in_text("".join(traceback.format_exception(exc)))
    return EvalError(message=describe_failure(exc), traceback=text, traceback_ansi=text)


async def run_sample(model: Model, item: PendingSample, seed: int | None) -> EvalSample:
    """One model call; a call that still fails after Inspect's retries gives an error record."""
    token = current_sample_id.set(item.id)
    key_token = batch_key.set(item.id)
    started = datetime.now(UTC)
    clock = time.monotonic()
    config = GenerateConfig(seed=None if seed is None else derived_seed(seed, item.id))
    error: EvalError | None = None
    try:
        output = await model.generate(item.input, config=config)
    except Exception as exc:  # recorded on the sample; a rerun retries it
        output, error = ModelOutput(model=str(model)), _eval_error(exc)
    finally:
        batch_key.reset(key_token)
        current_sample_id.reset(token)
    elapsed = round(time.monotonic() - clock, 3)
    answered = error is None and bool(output.choices)
    messages = [*item.input, output.message] if answered else list(item.input)
    return EvalSample(
        id=item.id,
        epoch=1,
        input=item.input,
        target="",
        messages=messages,
        output=output,
        metadata=item.metadata,
        model_usage={str(model): output.usage} if output.usage else {},
        started_at=started.isoformat(),
        completed_at=datetime.now(UTC).isoformat(),
        total_time=elapsed,
        working_time=elapsed,
        uuid=uuid(),
        error=error,
    )


class SampleSink(Protocol):
    """Where a worker hands each finished sample: a task log, or the pipe to the parent."""

    def add(self, sample: EvalSample) -> None: ...


Gate = Callable[[PendingSample], Awaitable[bool]]
"""Whether a sample's call may go now (the budget); False: this worker takes no more."""


async def run_workers(
    model: Model,
    samples: Iterator[PendingSample],
    seed: int | None,
    workers: int,
    sink: SampleSink,
    progress: Progress,
    bar: int,
    gate: Gate | None = None,
) -> None:
    """``workers`` coroutines calling ``model`` for each sample until ``samples`` runs out."""
    async with asyncio.TaskGroup() as pool:
        for _ in range(workers):
            pool.create_task(_worker(model, samples, seed, sink, progress, bar, gate))


async def _worker(
    model: Model,
    samples: Iterator[PendingSample],
    seed: int | None,
    sink: SampleSink,
    progress: Progress,
    bar: int,
    gate: Gate | None = None,
) -> None:
    # the iterator is shared by every worker of the model: next() never awaits, so each
    # sample goes to exactly one worker
    with use_model_event_sink(_DiscardModelEvents()):
        for item in samples:
            if gate is not None and not await gate(item):
                return  # over the budget: the sample stays unrun, for a rerun
            sample = await run_sample(model, item, seed)
            sink.add(sample)
            progress.advance(bar, sample.error is not None)


def open_model(spec: ModelSpec) -> Model:
    """Our own instance (not memoized), so closing its client at the end harms no one."""
    return get_model(
        spec.model,
        config=generate_config(spec),
        base_url=spec.base_url,
        memoize=False,
        **spec.args,
    )


def task_log_writer(
    config: ExperimentConfig, job: ModelJob, model: Model, log_dir: Path, policy: FlushPolicy
) -> TaskLogWriter:
    """The writer of one model's task log (a new log, or the prior one continued)."""
    spec = job.spec
    return TaskLogWriter(
        log_dir=log_dir,
        spec=eval_spec(
            task=job.task,
            model=model,
            model_args=dict(spec.args),
            dataset_name=config.id,
            sample_ids=job.sample_ids,
            max_connections=spec.max_connections,
            metadata={
                "experiment_id": config.id,
                "model_label": spec.display_name,
                "mode": config.mode,
            },
            prior=job.prior.spec if job.prior else None,
        ),
        plan=eval_plan(spec.seed),
        prior=job.prior,
        policy=policy,
        journal=Journal(log_dir, job.task),
    )


async def finish_on_exit(writer: TaskLogWriter, exc: BaseException) -> None:
    """Leave an unfinished log that the next run continues, after an interrupt or failure."""
    cancelled = isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)
    if writer.opened or (cancelled and writer.holds_samples):
        await writer.finish("cancelled" if cancelled else "started")


async def _run_model(
    config: ExperimentConfig,
    job: ModelJob,
    conditions: list[Condition],
    cache: PromptCache,
    progress: Progress,
    log_dir: Path,
    policy: FlushPolicy,
    budget: Budget | None = None,
) -> LogOutcome:
    spec = job.spec
    total = len(job.sample_ids)
    bar = progress.add_model(spec.display_name, total, total - job.pending)
    model = open_model(spec)
    batcher = await batch_resumably(model, job, log_dir) if spec.batch else None
    streak = FailureStreak(streak_window(spec.max_connections))
    samples = streak.guard(
        pending_samples(
            config, conditions, job.skip, cache, batched=spec.batch is not None, shard=job.shard
        )
    )
    writer = task_log_writer(config, job, model, log_dir, policy)
    for sample in job.recovered:
        writer.add(sample)
    sink: SampleSink = StreakSink(writer, streak)
    gate: Gate | None = None
    if budget is not None:
        spending = ModelBudget(budget, spec.model, spec.batch is not None, spec.max_tokens)
        gate = functools.partial(_admit, spending)
        sink = BudgetSink(sink, spending)
    workers = min(BATCH_IN_FLIGHT if spec.batch else spec.max_connections, job.pending)
    try:
        async with model, asyncio.TaskGroup() as group:
            group.create_task(writer.run())
            await run_workers(model, samples, spec.seed, workers, sink, progress, bar, gate)
            writer.close()
    except BaseException as exc:
        await finish_on_exit(writer, exc)
        raise
    finally:
        if batcher is not None:
            batcher.close_streams()
    outcome = await writer.finish("success")
    if outcome.status == "success":
        BatchLedger(ledger_path(log_dir, job.task)).remove()  # every batch is collected
    if streak.tripped is not None:
        outcome.stopped = stop_message(
            spec.display_name, shown_base_url(model), streak.tripped, streak.window
        )
    return outcome


async def batch_resumably(model: Model, job: ModelJob, log_dir: Path) -> ResumableBatches:
    """The model's batcher, resumable: the batches a killed run left pending are waited for.

    A pending sample whose last record (an error) came after its batch was created has had
    that batch's answer; it joins a new batch instead.
    """
    quiet_batch_log(_say)
    errored_at = job.prior.errored_at if job.prior else {}
    wanted = {sample: errored_at.get(sample) for sample in job.sample_ids if sample not in job.skip}
    ledger = BatchLedger(ledger_path(log_dir, job.task))
    return await resumable_batches(model, ledger, wanted)


def _say(text: str) -> None:
    print(f"insider run: {text}", file=sys.stderr, flush=True)


async def _admit(spending: ModelBudget, item: PendingSample) -> bool:
    """Whether the budget lets this sample's call go (its projection: the prompt's size)."""
    return await spending.admit(item.id, sum(len(message.text) for message in item.input))


class BudgetSink:
    """A sink that also settles each sample's cost with the budget."""

    def __init__(self, sink: SampleSink, spending: ModelBudget) -> None:
        self._sink, self._spending = sink, spending

    def add(self, sample: EvalSample) -> None:
        self._sink.add(sample)
        self._spending.settle(sample)


class StreakSink:
    """A sink that also tells the model's failure streak how each sample ended."""

    def __init__(self, sink: SampleSink, streak: FailureStreak) -> None:
        self._sink, self._streak = sink, streak

    def add(self, sample: EvalSample) -> None:
        self._sink.add(sample)
        self._streak.record(sample.error.message if sample.error else None)


def shown_base_url(model: Model) -> str | None:
    """The server a model calls, fit to print (no credentials)."""
    url = model.explicit_base_url or getattr(model.api, "base_url", None)
    return redact_url(str(url)) if url else None


async def _run_jobs(
    config: ExperimentConfig,
    jobs: list[ModelJob],
    progress: Progress,
    log_dir: Path,
    policy: FlushPolicy,
    budget: Budget | None = None,
) -> list[LogOutcome]:
    conditions = config.expand()
    cache = PromptCache(config)
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(
                _run_model(config, job, conditions, cache, progress, log_dir, policy, budget)
            )
            for job in jobs
            if not job.finished_already
        ]
    return [task.result() for task in tasks]


async def _run_interruptibly(run: Awaitable[list[LogOutcome]]) -> list[LogOutcome]:
    """Await ``run``, where Ctrl-C cancels it (each log is finished as ``cancelled``).

    ``asyncio.run`` does this itself, but not once ``nest_asyncio`` has replaced it (Inspect
    applies it in notebooks, or when its sync API is called inside a running loop): then
    Ctrl-C raises KeyboardInterrupt inside whichever task runs, the loop stops on the spot,
    and the threads Inspect's recorder started keep the process from exiting.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        loop.remove_signal_handler(signal.SIGINT)  # a second Ctrl-C interrupts hard
        if task is not None:
            task.cancel()

    ours = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if ours:
        loop.add_signal_handler(signal.SIGINT, interrupt)
    try:
        return await run
    except asyncio.CancelledError:
        if interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        if ours and not interrupted:
            loop.remove_signal_handler(signal.SIGINT)


def run_single_turn(
    config: ExperimentConfig,
    log_dir: Path,
    progress: Progress,
    policy: FlushPolicy | None = None,
    processes: int = 1,
    budget: Budget | None = None,
    shard: Shard | None = None,
) -> list[LogOutcome]:
    """Run (or resume) every model x sample of a single-turn experiment into ``log_dir``.

    With ``processes`` > 1 the model calls run in that many forked worker processes
    (``_engine_shards``) and this one writes the logs. With a ``budget`` no call is sent once
    its projected spend would pass it (one process only). With a ``shard`` only its samples
    are planned.
    """
    jobs = plan_jobs(config, config.expand(), log_dir, shard)
    policy = policy or FlushPolicy()
    outcomes = [
        LogOutcome(job.prior.path, "success", len(job.sample_ids), 0)
        for job in jobs
        if job.finished_already and job.prior
    ]
    try:
        with _single_threaded_log_compression(), _long_lived_objects_frozen():
            if processes > 1 and not all(job.finished_already for job in jobs):
                outcomes += _run_in_processes(config, jobs, progress, log_dir, policy, processes)
            else:
                run = _run_jobs(config, jobs, progress, log_dir, policy, budget)
                outcomes += asyncio.run(_run_interruptibly(run))
    except BaseExceptionGroup as group:
        raise first_error(group) from group
    finally:
        progress.close()
    return outcomes


def _run_in_processes(
    config: ExperimentConfig,
    jobs: list[ModelJob],
    progress: Progress,
    log_dir: Path,
    policy: FlushPolicy,
    processes: int,
) -> list[LogOutcome]:
    from insider.run import _engine_shards as shards  # it builds on this module

    # forked before the event loop starts, with every import done
    children = shards.start_children(config, jobs, processes)
    try:
        run = shards.collect_children(config, jobs, children, progress, log_dir, policy)
        return asyncio.run(_run_interruptibly(run))
    finally:
        shards.stop_children(children, kill=True)


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first real error of a task group (nested groups unwrapped), for a plain message."""
    first = group.exceptions[0]
    return first_error(first) if isinstance(first, BaseExceptionGroup) else first


@contextlib.contextmanager
def _single_threaded_log_compression() -> Iterator[None]:
    """Compress log members with one zstd thread while the engine runs.

    Inspect gives every zip member (one per sample, ~20 KB) a fresh 12-thread zstd context:
    ~0.8 ms of CPU per sample spent starting threads, against ~0.05 ms single-threaded. The
    files are the same format either way. If Inspect drops the setting, this does nothing.
    """
    from inspect_ai._util import zipfile as inspect_zipfile

    threads = getattr(inspect_zipfile, "_ZSTD_THREADS", None)
    if not isinstance(threads, int):
        yield
        return
    inspect_zipfile._ZSTD_THREADS = 0
    try:
        yield
    finally:
        inspect_zipfile._ZSTD_THREADS = threads


@contextlib.contextmanager
def _long_lived_objects_frozen() -> Iterator[None]:
    """Keep the objects that exist before the run out of the garbage collector's full passes.

    Inspect, pydantic and their schemas leave ~10^6 long-lived objects; each full collection
    walked them all (150-270 ms every few seconds, stalling every request in flight). No
    collection first: it would delay the first request by ~0.1 s to free a few dozen objects,
    which the collector frees after the run instead.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
