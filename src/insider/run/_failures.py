"""Stopping a model early: its last calls all failed the same way (the causes: insider.failures).

``FailureStreak`` watches one model's finished samples: when the last ``window`` of them all
failed with the same cause, the server is not coming back on its own, and the run stops that
model rather than burning through the grid (the samples not run stay resumable).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from insider.failures import SERVER_GONE, cause_of_message

T = TypeVar("T")


class FailureStreak:
    """Trips when one model's last ``window`` finished samples all failed with one cause."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.cause: str | None = None
        self.count = 0
        self.tripped: str | None = None
        """The cause that tripped it, once it has."""

    def record(self, error_message: str | None) -> bool:
        """Note one finished sample (its error message, None if it answered); tripped now?"""
        if error_message is None:
            self.cause, self.count = None, 0
            return False
        cause = cause_of_message(error_message)
        self.count = self.count + 1 if cause == self.cause else 1
        self.cause = cause
        if self.tripped is None and self.count >= self.window:
            self.tripped = cause
            return True
        return False

    def trip(self, cause: str) -> bool:
        """Trip now (another process saw the streak); whether this tripped it."""
        if self.tripped is not None:
            return False
        self.tripped = cause
        return True

    def guard(self, samples: Iterator[T]) -> Iterator[T]:
        """``samples`` until the streak trips: workers then take no new sample."""
        for sample in samples:
            if self.tripped is not None:
                return
            yield sample


def streak_window(max_connections: int) -> int:
    """Failures in a row that stop a model: every worker failed twice, and at least 20."""
    return max(20, 2 * max_connections)


def stop_message(model: str, base_url: str | None, cause: str, window: int) -> str:
    """Why a model was stopped early, in one sentence."""
    where = f"the server at {base_url}" if base_url else f"the provider of {model}"
    if cause in SERVER_GONE:
        what = f"{where} stopped answering ({cause} on the last {window} calls)"
    else:
        what = f"the last {window} calls to {model} all failed the same way ({cause})"
    return f"{what}; stopped {model} early"
