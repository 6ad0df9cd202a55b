"""Scored copies of a run's logs: every sample with Inspect scores, beside the agent's logs.

The agent's logs in ``logs/`` are never rewritten for scoring: a copy of each, with the scores
added, goes to ``scored/`` (docs/architecture.md, "Verdicts in the Inspect logs"). The copy is
an ordinary ``.eval`` log written through Inspect's own recorder, read back sample by sample,
so memory stays flat however large the log. It lands under a temporary name (which no log
listing reads) and is renamed into place, so a reader sees the old copy or the new one.

A copy records what it was made from (``eval.metadata["insider_scores"]``): the source log's
size and modification time, and the caller's stamp of the scorings. A copy whose stamp still
matches is left alone, so classifying a run with nothing new costs one header read per log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspect_ai.log import (
    EvalLog,
    EvalResults,
    EvalSample,
    EvalScore,
    EvalSpec,
    read_eval_log,
    read_eval_log_sample_summaries,
    read_eval_log_samples_by_id,
)
from inspect_ai.log._recorders.eval import EvalRecorder
from inspect_ai.scorer import Score

from insider.files import FILE_MODE
from insider.run._engine_log import drain_recorder

STAMP_KEY = "insider_scores"
"""The key in a scored copy's ``eval.metadata`` that says what the copy was made from."""
_BATCH = 100  # samples read and recorded at a time
_PARTIAL_PREFIX = ".partial-"  # a copy being written: no log listing reads this name

SampleScorer = Callable[[str, EvalSample], Mapping[str, Score]]
"""(the log's model name, a sample) -> the scores to add to that sample."""


@dataclass(frozen=True)
class ScoredCopy:
    """One scored copy: where it is, from which log, and whether this call wrote it."""

    source: Path
    path: Path
    samples: int
    written: bool


def log_model(header: EvalLog) -> str:
    """The model a log's samples belong to in tables: an agent's label, else the model."""
    metadata = header.eval.metadata or {}
    return str(metadata.get("agent_model") or header.eval.model)


def source_stamp(source: Path) -> dict[str, Any]:
    """The source log's identity as far as a copy cares: its name, size and mtime."""
    stat = source.stat()
    return {"source": source.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def copy_is_current(copy: Path, stamp: Mapping[str, Any]) -> bool:
    """Whether ``copy`` exists and was made from the same source and scorings."""
    if not copy.is_file():
        return False
    try:
        header = read_eval_log(str(copy), header_only=True)
    except Exception:  # an unreadable copy is simply made again
        return False
    return (header.eval.metadata or {}).get(STAMP_KEY) == dict(stamp)


def write_scored_copy(
    source: Path,
    copy: Path,
    score: SampleScorer,
    results: Callable[[], Sequence[EvalScore]],
    stamp: Mapping[str, Any],
) -> ScoredCopy:
    """Write ``copy``: the ``source`` log with ``score``'s scores added to every sample.

    Scores the source already holds are kept; a key ``score`` returns replaces the source's
    score of that key. ``results()`` is asked once every sample has been scored, for the
    ``EvalScore`` entries to add to the header's results (whose other scores are kept).
    ``stamp`` (made with ``source_stamp`` and the caller's own keys) is recorded in the copy.
    """
    header = read_eval_log(str(source), header_only=True)
    batches = _batches(source)
    return asyncio.run(_write(source, copy, header, batches, score, results, dict(stamp)))


async def _write(
    source: Path,
    copy: Path,
    header: EvalLog,
    batches: list[list[tuple[str | int, int]]],
    score: SampleScorer,
    results: Callable[[], Sequence[EvalScore]],
    stamp: dict[str, Any],
) -> ScoredCopy:
    """Write the copy; Inspect's sample reader runs its own event loop, so in a thread."""
    model = log_model(header)
    spec = _stamped(header.eval, stamp)
    copy.parent.mkdir(parents=True, exist_ok=True)
    partial = copy.with_name(f"{_PARTIAL_PREFIX}{copy.name}")
    recorder = EvalRecorder(str(copy.parent))
    count = 0
    try:
        await recorder.log_init(spec, str(partial), clean=True)
        await recorder.log_start(spec, header.plan)
        for batch in batches:
            samples = await asyncio.to_thread(read_eval_log_samples_by_id, str(source), batch)
            for sample in samples:
                sample.scores = {**(sample.scores or {}), **score(model, sample)}
                await recorder.log_sample(spec, sample)
                count += 1
            await drain_recorder(recorder)
        await recorder.log_finish(
            spec,
            header.status,
            header.stats,
            _results(header.results, count, results()),
            header.reductions,
            header.error,
            invalidated=header.invalidated,
            log_updates=header.log_updates,
            config_updates=header.config_updates,
        )
        os.chmod(partial, FILE_MODE)  # a result to share, like everything insider writes
        os.replace(partial, copy)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return ScoredCopy(source, copy, count, written=True)


def _stamped(spec: EvalSpec, stamp: dict[str, Any]) -> EvalSpec:
    return spec.model_copy(update={"metadata": {**(spec.metadata or {}), STAMP_KEY: stamp}})


def _batches(source: Path) -> list[list[tuple[str | int, int]]]:
    """The source's samples as (id, epoch), each once, in batches."""
    summaries = read_eval_log_sample_summaries(str(source))
    keys = list(dict.fromkeys((summary.id, summary.epoch) for summary in summaries))
    return [keys[start : start + _BATCH] for start in range(0, len(keys), _BATCH)]


def _results(prior: EvalResults | None, samples: int, added: Sequence[EvalScore]) -> EvalResults:
    """The source's results with the added scores after its own (an unfinished log has none:
    it gets results that count what it holds)."""
    base = prior or EvalResults(total_samples=samples, completed_samples=samples)
    return base.model_copy(update={"scores": [*base.scores, *added]})


def remove_stale_copies(directory: Path, keep: Sequence[Path]) -> list[Path]:
    """Delete copies in ``directory`` whose source is no longer one of the run's logs."""
    if not directory.is_dir():
        return []
    wanted = {path.name for path in keep}
    removed = []
    for path in directory.iterdir():
        stale = path.suffix == ".eval" and path.name not in wanted
        if stale or path.name.startswith(_PARTIAL_PREFIX):  # a partial one from a crash
            path.unlink()
            removed.append(path)
    return removed
