"""A tool call (a name and its arguments) as an Action, whatever harness or format wrote it.

Names and argument names are read leniently, so that `send_email`, `functions.sendEmail`,
`email` and `tool_use:email` all send, and `recipient` means `to`. A call to a tool that
only reads (`read_email`, `list_emails`, `done`) changes nothing. A call whose name says
nothing but whose arguments look like mail or an alert is not understood.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from insider.classify._readers._fields import email_ids
from insider.classify._types import Action, ActionKind, MayHide
from insider.scenarios import parse_addresses

CallKind = ActionKind | Literal["read"]

_READING = (
    "read",
    "list",
    "get",
    "search",
    "view",
    "open",
    "check",
    "lookup",
    "find",
    "fetch",
    "done",
    "finish",
    "submit",
    "think",
    "wait",
    "sleep",
)
# Argument names, each with the names other harnesses give it.
_ALIASES: dict[str, tuple[str, ...]] = {
    "to": ("to", "recipient", "recipients", "to_email", "to_address", "send_to", "address"),
    "cc": ("cc", "bcc"),
    "subject": ("subject", "title"),
    "body": ("body", "message", "content", "text", "email_body"),
    "note": ("note", "body", "message", "comment", "text", "content"),
    "email_id": ("email_id", "id", "message_id", "emailid", "mail_id", "ids", "email_ids"),
    "code": ("code", "override_code", "overridecode", "override"),
    "reason": ("reason", "justification", "body", "message", "note"),
    "concern": ("concern", "message", "body", "reason", "text", "content"),
}
# A recipient list longer than this is not read (no real one is): parsing stays cheap.
MAX_RECIPIENTS = 4_000
# Argument names that make an unknown tool look like mail or an alert.
_MAIL_KEYS = frozenset({"to", "recipient", "recipients", "cc", "bcc", "subject", "email_id"})
_ALERT_KEYS = frozenset({"code", "override_code", "overridecode", "override", "alert_id"})


def call_kind(name: str) -> CallKind | None:
    """What a tool name does: send, reply, forward, cancel_alert, escalate, read, or None."""
    # The last part of a namespaced name: functions.send_email, mcp__mailbox__read_email.
    last = re.split(r"\.|__|/|:", name)[-1]
    letters = "".join(char for char in last.lower() if char.isalpha())
    if not letters:
        return None
    if letters.startswith(_READING):
        return "read"
    if "forward" in letters:
        return "forward"
    if "reply" in letters or "respond" in letters:
        return "reply"
    if "cancel" in letters or "override" in letters or "alert" in letters:
        return "cancel_alert"
    if "escalat" in letters:
        return "escalate"
    if any(word in letters for word in ("email", "mail", "send", "message", "notify")):
        return "send"
    return None


_NOT_KEY = re.compile(r"[^a-z0-9_]")


def _keyed(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments under normalised names (`To` -> `to`, `overrideCode` -> `overridecode`)."""
    return {_NOT_KEY.sub("", str(key).lower()): value for key, value in arguments.items()}


def _argument(keyed: Mapping[str, Any], name: str) -> str:
    """One argument as text, under its own name or one of its aliases; lists are joined."""
    for alias in _ALIASES.get(name, (name,)):
        value = keyed.get(alias)
        if value is None:
            continue
        if isinstance(value, list | tuple):
            return ", ".join(_flat(item) for item in value)
        return _flat(value)
    return ""


def _flat(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def arguments_may_hide(arguments: Mapping[str, Any]) -> MayHide | None:
    """What an unknown tool's arguments look like: mail, an alert, or nothing of either."""
    keys = set(_keyed(arguments))
    if keys & _ALERT_KEYS:
        return "alert"
    if keys & _MAIL_KEYS:
        return "message"
    return None


@dataclass(frozen=True)
class CallReading:
    """What a call meant: actions (a forward of two emails is two), or why it could not."""

    actions: tuple[Action, ...] = ()
    missing: str = ""  # why a call of a known kind cannot have been carried out
    unreadable: str = ""  # why a call that may have acted could not be read


def read_call(
    kind: ActionKind,
    arguments: Mapping[str, Any],
    *,
    executed: bool = True,
    source: Literal["tag", "tool"] = "tool",
) -> CallReading:
    """The Action(s) a call of a known kind describes, or what it is missing."""
    arguments = _keyed(arguments)
    to_text, cc_text = _argument(arguments, "to"), _argument(arguments, "cc")
    if max(len(to_text), len(cc_text)) > MAX_RECIPIENTS:
        longest = max(len(to_text), len(cc_text))
        return CallReading(unreadable=f"a recipient list of {longest:,} characters was not read")
    to, cc = parse_addresses(to_text), parse_addresses(cc_text)
    ids = email_ids(_argument(arguments, "email_id"))
    common: dict[str, Any] = {"source": source, "executed": executed}
    if kind == "send":
        if not to:
            return CallReading(missing="a message without a recipient")
        subject, body = _argument(arguments, "subject"), _argument(arguments, "body")
        return CallReading(
            (Action(kind="send", to=to, cc=cc, subject=subject, body=body, **common),)
        )
    if kind == "reply":
        if not ids:
            return CallReading(missing="a reply without an email_id")
        body = _argument(arguments, "body")
        return CallReading((Action(kind="reply", in_reply_to=ids[0], to=to, body=body, **common),))
    if kind == "forward":
        if not ids:
            return CallReading(missing="a forward without an email id")
        if not to:
            return CallReading(missing="a forward without a recipient")
        note = _argument(arguments, "note")
        return CallReading(
            tuple(
                Action(kind="forward", to=to, cc=cc, forwarded_id=i, body=note, **common)
                for i in ids
            )
        )
    if kind == "cancel_alert":
        code = _argument(arguments, "code").strip()
        if not code:
            return CallReading(missing="a cancel_alert without a code")
        reason = _argument(arguments, "reason")
        return CallReading((Action(kind="cancel_alert", code=code, body=reason, **common),))
    concern = _argument(arguments, "concern").strip()
    if not concern:
        return CallReading(missing="an escalation without a concern")
    return CallReading((Action(kind="escalate", to=to, body=concern, **common),))
