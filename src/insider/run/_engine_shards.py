"""Worker processes for single-turn runs: model calls in forked children, the logs in the parent.

Against a fast server one event loop's CPU becomes the limit: Inspect's model layer and the
OpenAI SDK spend ~4 ms on each call, so at 100 calls a second the answers queue behind each
other. With ``processes`` > 1 the parent forks that many children once everything is imported
(nothing is imported twice; the first requests go out at once). Child ``k`` runs every
``n``-th pending sample of each model, from position ``k``, with its share of the model's
connections, and sends each finished sample back through a pipe (pickled, length-prefixed).
The parent keeps what a single process keeps: one log per model task, the progress display,
resume and Ctrl-C. A child that fails sends its traceback; its unsent samples stay
unrecorded, so the log is left unfinished and a rerun runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import os
import pickle
import signal
import struct
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TypeVar

from inspect_ai.log import EvalSample

from insider.errors import RunError
from insider.experiment import ExperimentConfig
from insider.run._engine import (
    ModelJob,
    PendingSample,
    PromptCache,
    SampleSink,
    finish_on_exit,
    first_error,
    open_model,
    pending_samples,
    run_workers,
    shown_base_url,
    task_log_writer,
)
from insider.run._engine_log import FlushPolicy, LogOutcome, TaskLogWriter
from insider.run._engine_progress import NoProgress, Progress
from insider.run._failures import FailureStreak, stop_message, streak_window
from insider.run._lock import close_inherited_locks

_HEADER = struct.Struct("!cIQ")
"""A frame: kind (S: a sample, E: a child's traceback, T: a model's failure streak tripped
in the child, with its cause), model index, payload length."""
_SAMPLE, _ERROR, _TRIPPED = b"S", b"E", b"T"
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

T = TypeVar("T")


_STOP = struct.Struct("!I")
"""A control message to a child: stop taking samples of this model index."""


@dataclass
class Child:
    """A forked worker process, the read end of its pipe, the write end of its control pipe.

    The control pipe also tells the child that the parent lives: when the parent dies, the
    child reads end-of-file and exits (besides ``PR_SET_PDEATHSIG`` on Linux).
    """

    pid: int
    fd: int
    control: int
    exit_code: int | None = None


def connection_share(connections: int, shard: int, shards: int) -> int:
    """Shard ``shard``'s part of a model's ``connections`` (0: it runs none of its samples)."""
    return connections // shards + (1 if shard < connections % shards else 0)


def shard_samples(samples: Iterator[T], connections: int, shard: int, shards: int) -> Iterator[T]:
    """Every ``active``-th sample from position ``shard``: shards with a connection share them."""
    active = min(shards, connections)
    if shard >= active:
        return iter(())
    return itertools.islice(samples, shard, None, active)


def start_children(config: ExperimentConfig, jobs: list[ModelJob], processes: int) -> list[Child]:
    """Fork ``processes`` workers; each runs its share of every job and then exits."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or a child's exit would write the parent's buffered output again
    children: list[Child] = []
    parent = os.getpid()
    try:
        for shard in range(processes):
            read_fd, write_fd = os.pipe()
            control_read, control_write = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child's coverage is not collected
                _die_with_parent(parent)
                close_inherited_locks()
                for fd in (read_fd, control_write):
                    os.close(fd)
                for sibling in children:
                    os.close(sibling.fd)
                    os.close(sibling.control)
                _child_main(config, jobs, shard, processes, write_fd, control_read)
            os.close(write_fd)
            os.close(control_read)
            children.append(Child(pid, read_fd, control_write))
    except BaseException:
        stop_children(children, kill=True)
        raise
    return children


def _die_with_parent(parent: int) -> None:  # pragma: no cover - runs in the child
    """Have the kernel kill this child when the parent dies (Linux ``PR_SET_PDEATHSIG``).

    A parent killed with SIGKILL cannot stop its children; without this they would keep
    calling (and paying for) the model with nobody to record the answers. Elsewhere the
    control pipe's end-of-file does the same, a little later.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _child_main(  # pragma: no cover - runs in the child
    config: ExperimentConfig, jobs: list[ModelJob], shard: int, shards: int, fd: int, control: int
) -> NoReturn:
    """The child's whole life: its share of the samples, then an exit that skips teardown."""
    # Ctrl-C reaches the whole process group; the parent decides, and stops its children
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    status = 0
    try:
        # a loop of its own: once nest_asyncio is applied (Inspect does in notebooks and for
        # its sync API), asyncio.run would reuse the loop inherited from the parent, whose
        # epoll instance the parent is still using
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.run_until_complete(_run_shard(config, jobs, shard, shards, fd, control))
    except BaseException as exc:  # reported to the parent, which fails the run with it
        status = 1
        first = first_error(exc) if isinstance(exc, BaseExceptionGroup) else exc
        report = f"{type(first).__name__}: {first}\n{traceback.format_exc()}"
        with contextlib.suppress(OSError):
            _write_all(fd, _frame(_ERROR, 0, report.encode()))
    finally:
        os._exit(status)


def _frame(kind: bytes, index: int, payload: bytes) -> bytes:
    return _HEADER.pack(kind, index, len(payload)) + payload


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class _PipeLost(asyncio.Protocol):
    """Notes a pipe closed under us: the transport then drops writes without a word."""

    lost = False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


class _PipeSink:
    """A child's sample sink: each finished sample, pickled, onto the pipe to the parent."""

    def __init__(self, transport: asyncio.WriteTransport, pipe: _PipeLost, index: int) -> None:
        self._transport, self._pipe, self._index = transport, pipe, index

    def add(self, sample: EvalSample) -> None:
        if self._pipe.lost:
            raise RunError("the pipe to the parent process closed")
        payload = pickle.dumps(sample, protocol=pickle.HIGHEST_PROTOCOL)
        self._transport.write(_frame(_SAMPLE, self._index, payload))

    def tripped(self, cause: str) -> None:
        """Tell the parent this child stopped the model: its recent calls all failed."""
        self._transport.write(_frame(_TRIPPED, self._index, cause.encode()))


class _ChildStreakSink:
    """Samples to the parent; when this child's own failure streak trips, the parent is told.

    The parent sees every sample and stops a failing model in all children, but failures
    that come back in a millisecond (connection refused) would run through the grid before
    its message arrives: so each child also stops on its own streak (twice as long, so that
    normally the parent decides) and tells the parent, which then stops the others.
    """

    def __init__(self, pipe: _PipeSink, streak: FailureStreak) -> None:
        self._pipe, self._streak = pipe, streak

    def add(self, sample: EvalSample) -> None:
        self._pipe.add(sample)
        if self._streak.record(sample.error.message if sample.error else None):
            self._pipe.tripped(self._streak.tripped or "")


def _listen_for_stops(control: int, stopped: set[int]) -> None:  # pragma: no cover - child
    """Note each model the parent stops; exit when the parent is gone (end of file)."""
    try:
        data = os.read(control, 4096)
    except BlockingIOError:
        return
    if not data:
        os._exit(1)  # the parent died: nobody would record what this child finishes
    for (index,) in _STOP.iter_unpack(data[: len(data) - len(data) % _STOP.size]):
        stopped.add(index)


def _until_stopped(samples: Iterator[T], index: int, stopped: set[int]) -> Iterator[T]:
    for sample in samples:
        if index in stopped:
            return
        yield sample


async def _run_shard(
    config: ExperimentConfig,
    jobs: list[ModelJob],
    shard: int,
    shards: int,
    fd: int,
    control: int,
) -> None:
    loop = asyncio.get_running_loop()
    # a copy: ``fd`` stays open after the transport closes, for a failure report
    pipe = os.fdopen(os.dup(fd), "wb", buffering=0)
    transport, protocol = await loop.connect_write_pipe(_PipeLost, pipe)
    stopped: set[int] = set()
    os.set_blocking(control, False)
    loop.add_reader(control, _listen_for_stops, control, stopped)
    conditions = config.expand()
    cache = PromptCache(config)
    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                connections = connection_share(job.spec.max_connections, shard, shards)
                if job.pending == 0 or connections == 0:
                    continue
                streak = FailureStreak(2 * streak_window(job.spec.max_connections))
                samples = streak.guard(
                    _until_stopped(
                        shard_samples(
                            pending_samples(config, conditions, job.skip, cache, shard=job.shard),
                            job.spec.max_connections,
                            shard,
                            shards,
                        ),
                        job.index,
                        stopped,
                    )
                )
                pipe_sink = _PipeSink(transport, protocol, job.index)
                sink = _ChildStreakSink(pipe_sink, streak)
                group.create_task(_run_share(job, samples, connections, sink))
    finally:
        while transport.get_write_buffer_size() and not protocol.lost:
            await asyncio.sleep(0.005)
        lost = protocol.lost
        transport.close()
    if lost:
        raise RunError("the pipe to the parent process closed before every sample was sent")


async def _run_share(
    job: ModelJob, samples: Iterator[PendingSample], connections: int, sink: SampleSink
) -> None:
    model = open_model(job.spec)
    async with model:
        await run_workers(model, samples, job.spec.seed, connections, sink, NoProgress(), 0)


class _FrameReader(asyncio.Protocol):
    """Frames off one child's pipe, handed to ``on_frame``; ``done`` resolves at its end."""

    def __init__(self, on_frame: Callable[[bytes, int, bytes], None]) -> None:
        self._on_frame = on_frame
        self._buffer = bytearray()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            while len(self._buffer) >= _HEADER.size:
                kind, index, size = _HEADER.unpack_from(self._buffer)
                end = _HEADER.size + size
                if len(self._buffer) < end:
                    break
                payload = bytes(self._buffer[_HEADER.size : end])
                del self._buffer[:end]
                self._on_frame(kind, index, payload)
        except Exception as exc:  # a frame we cannot read fails the run, not the loop
            if not self.done.done():
                self.done.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _read_child(child: Child, on_frame: Callable[[bytes, int, bytes], None]) -> None:
    loop = asyncio.get_running_loop()
    reader = _FrameReader(on_frame)
    transport, _ = await loop.connect_read_pipe(lambda: reader, os.fdopen(child.fd, "rb", 0))
    try:
        await reader.done
    finally:
        transport.close()


async def collect_children(
    config: ExperimentConfig,
    jobs: list[ModelJob],
    children: list[Child],
    progress: Progress,
    log_dir: Path,
    policy: FlushPolicy,
) -> list[LogOutcome]:
    """Record the samples the children send into each model's log, then reap the children.

    A model whose recent samples all failed the same way is stopped in every child.
    """
    writers: dict[int, TaskLogWriter] = {}
    bars: dict[int, int] = {}
    streaks = {job.index: FailureStreak(streak_window(job.spec.max_connections)) for job in jobs}
    base_urls: dict[int, str | None] = {}
    names = {job.index: job.spec.display_name for job in jobs}
    errors: list[str] = []

    def on_frame(kind: bytes, index: int, payload: bytes) -> None:
        if kind == _ERROR:
            errors.append(payload.decode(errors="replace"))
            return
        if kind == _TRIPPED:
            if streaks[index].trip(payload.decode(errors="replace")):
                _stop_model(children, index)
            return
        sample = pickle.loads(payload)
        writers[index].add(sample)
        progress.advance(bars[index], sample.error is not None)
        if streaks[index].record(sample.error.message if sample.error else None):
            _stop_model(children, index)

    async with contextlib.AsyncExitStack() as models:
        for job in jobs:
            if job.finished_already:
                continue
            total = len(job.sample_ids)
            bars[job.index] = progress.add_model(job.spec.display_name, total, total - job.pending)
            # for the log header only (the model's name, config, base URL): it makes no call
            model = await models.enter_async_context(open_model(job.spec))
            writers[job.index] = task_log_writer(config, job, model, log_dir, policy)
            for sample in job.recovered:
                writers[job.index].add(sample)
            base_urls[job.index] = shown_base_url(model)
        try:
            async with asyncio.TaskGroup() as group:
                for writer in writers.values():
                    group.create_task(writer.run())
                await asyncio.gather(*(_read_child(child, on_frame) for child in children))
                for writer in writers.values():
                    writer.close()
        except BaseException as exc:
            stop_children(children, kill=True)
            for writer in writers.values():
                await finish_on_exit(writer, exc)
            raise
        # every pipe is closed: the children are exiting
        await asyncio.to_thread(stop_children, children, kill=False)
        outcomes = []
        for index, writer in writers.items():
            outcome = await writer.finish("success")
            streak = streaks[index]
            if streak.tripped is not None:
                outcome.stopped = stop_message(
                    names[index], base_urls[index], streak.tripped, streak.window
                )
            outcomes.append(outcome)
    failed = [child for child in children if child.exit_code != 0]
    if errors or failed:
        detail = errors[0].splitlines()[0] if errors else f"exit {failed[0].exit_code}"
        raise RunError(
            f"a worker process failed ({detail}); its unfinished samples are not in the log, "
            "rerun the same command to run them"
        )
    return outcomes


def _stop_model(children: list[Child], index: int) -> None:
    """Tell every child to take no more samples of model ``index``."""
    for child in children:
        with contextlib.suppress(OSError):  # a child that already exited needs no telling
            os.write(child.control, _STOP.pack(index))


def stop_children(children: list[Child], *, kill: bool) -> None:
    """Wait for every child to exit; with ``kill``, stop those still running first."""
    for child in children:
        if child.exit_code is not None:
            continue
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM)
        _, status = os.waitpid(child.pid, 0)
        child.exit_code = os.waitstatus_to_exitcode(status)
        with contextlib.suppress(OSError):
            os.close(child.control)
