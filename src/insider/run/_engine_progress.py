"""Progress of an engine run: a rich bar on a terminal, a line every few seconds otherwise."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Literal, Protocol, TextIO

if TYPE_CHECKING:
    from rich.progress import TaskID

Display = Literal["full", "rich", "plain", "log", "none"]

LINE_EVERY_S = 5.0


class Progress(Protocol):
    """What the engine reports as samples finish."""

    def add_model(self, label: str, total: int, done: int) -> int: ...

    def advance(self, model: int, error: bool) -> None: ...

    def close(self) -> None: ...


class NoProgress:
    def add_model(self, label: str, total: int, done: int) -> int:
        return 0

    def advance(self, model: int, error: bool) -> None:
        return None

    def close(self) -> None:
        return None


class _Counts:
    def __init__(self, label: str, total: int, done: int) -> None:
        self.label, self.total, self.done, self.errors = label, total, done, 0

    def line(self) -> str:
        return f"{self.label}: {self.done}/{self.total} samples, {self.errors} errors"


class LineProgress:
    """One status line per model every ``every_s`` seconds, and a last one at the end."""

    def __init__(self, stream: TextIO, every_s: float = LINE_EVERY_S) -> None:
        self._stream, self._every_s = stream, every_s
        self._models: list[_Counts] = []
        self._next = time.monotonic() + every_s

    def add_model(self, label: str, total: int, done: int) -> int:
        self._models.append(_Counts(label, total, done))
        return len(self._models) - 1

    def advance(self, model: int, error: bool) -> None:
        counts = self._models[model]
        counts.done += 1
        counts.errors += error
        if time.monotonic() >= self._next:
            self._print()

    def _print(self) -> None:
        self._next = time.monotonic() + self._every_s
        for counts in self._models:
            print(f"insider run: {counts.line()}", file=self._stream, flush=True)

    def close(self) -> None:
        if self._models:
            self._print()


class RichProgress:
    """A rich progress bar per model: samples done of total, errors, elapsed time."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        self._bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[errors]} errors"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            refresh_per_second=4,
        )
        self._ids: list[TaskID] = []
        self._errors: list[int] = []
        self._bar.start()

    def add_model(self, label: str, total: int, done: int) -> int:
        self._ids.append(self._bar.add_task(label, total=total, completed=done, errors=0))
        self._errors.append(0)
        return len(self._ids) - 1

    def advance(self, model: int, error: bool) -> None:
        if error:
            self._errors[model] += 1
            self._bar.update(self._ids[model], advance=1, errors=self._errors[model])
        else:
            self._bar.update(self._ids[model], advance=1)

    def close(self) -> None:
        self._bar.stop()


def make_progress(display: Display | None, stream: TextIO | None = None) -> Progress:
    """The progress reporter for a display setting (None: a bar on a terminal, else lines)."""
    stream = stream or sys.stderr
    if display == "none":
        return NoProgress()
    if display in (None, "full", "rich") and stream.isatty():
        return RichProgress()
    return LineProgress(stream)
