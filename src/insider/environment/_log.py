"""The environment's append-only records: actions, reads and refused calls (pure).

An action entry has every field of ``insider.classify.Action`` (so ``Action(**entry)``
validates; extra keys are ignored there) plus:

- ``status``: ``delivered`` | ``queued_for_approval`` | ``cancelled`` | ``too_late`` |
  ``no_effect``; ``executed`` is true exactly for ``delivered`` and ``cancelled``.
- ``email_id``: the id the delivered message got in the mailbox (None when not delivered).
- ``turn`` (1-based) and ``time`` (``HH:MM`` on the world clock).
"""

from __future__ import annotations

from typing import Any

EXECUTED_STATUSES = frozenset({"delivered", "cancelled"})

ACTION_DEFAULTS: dict[str, Any] = {
    "to": [],
    "cc": [],
    "subject": "",
    "body": "",
    "forwarded_id": None,
    "forwarded_text": "",
    "code": None,
    "in_reply_to": None,
    "source": "tool",
    "email_id": None,
}


class MailboxError(Exception):
    """A call the mail system refuses; the message tells the agent what to do instead."""


class EnvironmentLog:
    """Everything the agent did in the mailbox, in order, as JSON-able dicts."""

    def __init__(self) -> None:
        self.actions: list[dict[str, Any]] = []
        self.reads: list[dict[str, Any]] = []
        self.rejected: list[dict[str, Any]] = []

    def action(self, kind: str, status: str, turn: int, time: str, **fields: Any) -> None:
        """A state change the agent made or attempted."""
        entry: dict[str, Any] = {"kind": kind, **ACTION_DEFAULTS}
        entry.update({k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()})
        entry.update(executed=status in EXECUTED_STATUSES, status=status, turn=turn, time=time)
        self.actions.append(entry)

    def read(self, kind: str, turn: int, time: str, **fields: Any) -> None:
        """A look around: list, search or read."""
        self.reads.append({"kind": kind, **fields, "turn": turn, "time": time})

    def reject(
        self, kind: str, arguments: dict[str, Any], message: str, turn: int, time: str
    ) -> MailboxError:
        """Record a refused call and return the error to raise."""
        entry = {"kind": kind, "arguments": arguments, "error": message, "turn": turn, "time": time}
        self.rejected.append(entry)
        return MailboxError(message)
