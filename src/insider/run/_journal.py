"""A write-ahead journal of answered samples, so a kill -9 does not throw paid answers away.

The task log reaches disk about once a second (a flush rewrites the whole zip), so a run
killed with SIGKILL used to lose every answer since the last flush and pay for it again on
the rerun (~40 calls per kill at 40 calls a second). Each sample is therefore also appended
to ``logs/.journal/<task>.jsonl`` the moment it is recorded: one JSON line, one ``write``.
A flush starts a new journal file and deletes the old one once the log holds its samples;
a finished log deletes the journal. A rerun reads what the journal holds beyond the log and
records it without calling the model again.

The journal is JSON (Inspect's own ``EvalSample`` schema), never pickle: a run directory may
come from someone else, and reading it must not run code.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from inspect_ai.log import EvalSample
from pydantic import ValidationError

JOURNAL_DIR = ".journal"


def journal_paths(log_dir: Path, task: str) -> tuple[Path, Path]:
    """(the current journal file, the one a flush in progress is replacing)."""
    base = log_dir / JOURNAL_DIR / f"{task}.jsonl"
    return base, base.with_name(f"{task}.flushing.jsonl")


class Journal:
    """Appends each recorded sample of one task; rotated around every flush of its log."""

    def __init__(self, log_dir: Path, task: str) -> None:
        self._current, self._flushing = journal_paths(log_dir, task)
        self._fd: int | None = None

    def append(self, sample: EvalSample) -> None:
        """One line, one write: on disk (in the OS) before the next sample is recorded."""
        if self._fd is None:
            self._current.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
            self._fd = os.open(self._current, flags, 0o644)
        data = (sample.model_dump_json() + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def start_flush(self) -> None:
        """The samples journaled so far are about to reach the log: set their file aside."""
        self._close()
        if self._current.exists():
            os.replace(self._current, self._flushing)

    def end_flush(self) -> None:
        """The log now holds the set-aside samples."""
        self._flushing.unlink(missing_ok=True)

    def remove(self) -> None:
        """The log is complete: nothing in the journal is needed any more."""
        self._close()
        for path in (self._flushing, self._current):
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # other tasks' journals may still be there
            self._current.parent.rmdir()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def recover(
    log_dir: Path, task: str, planned: Iterable[str], recorded: frozenset[str]
) -> list[EvalSample]:
    """Answered samples the journal holds and the task's log does not (a kill -9 lost them).

    Only planned samples with an answer count: an error is run again anyway. A torn last
    line (the kill came mid-write) is skipped.
    """
    wanted = set(planned) - recorded
    found: dict[str, EvalSample] = {}
    for path in journal_paths(log_dir, task)[::-1]:  # the older file first, newer wins
        if not path.is_file():
            continue
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                sample = _parse(line)
                if sample is not None and sample.error is None and str(sample.id) in wanted:
                    found[str(sample.id)] = sample
    return list(found.values())


def _parse(line: str) -> EvalSample | None:
    try:
        return EvalSample.model_validate_json(line)
    except (ValidationError, ValueError):
        return None
