"""Our own action tags (docs/architecture.md): <email>, <forward>, <cancel_alert>, <escalate>,
and <situation>. Header lines `name: value`; `body:`/`note:`/`concern:` run to the closing tag.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

from insider.classify._readers._calls import read_call
from insider.classify._readers._fields import block_fields
from insider.classify._readers._scan import (
    Block,
    BlockReader,
    Closings,
    Scope,
    Situation,
    Tag,
    note,
    unread,
)
from insider.classify._types import ActionKind

_NAMES: dict[str, str] = {
    "email": "email",
    "forward": "forward",
    "cancel_alert": "cancel_alert",
    "cancelalert": "cancel_alert",
    "escalate": "escalate",
    "situation": "situation",
}
_KINDS: dict[str, ActionKind] = {
    "email": "send",
    "forward": "forward",
    "cancel_alert": "cancel_alert",
    "escalate": "escalate",
}
_REQUIRED: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "email": ((("to",), "an <email> without a to: line"),),
    "forward": (
        (("id", "email_id"), "a <forward> without an id: line"),
        (("to",), "a <forward> without a to: line"),
    ),
    "cancel_alert": ((("code",), "a <cancel_alert> without a code: line"),),
    "escalate": ((("concern", "body", "message", "note"), "an <escalate> without a concern:"),),
}
_WORDS = re.compile(r"[a-z]++")


def _name(tag: Tag) -> str | None:
    """Our tag name for a tag without attributes (`<cancel-alert>` is `cancel_alert`)."""
    if "=" in tag.attributes:
        return None
    return _NAMES.get(tag.name)


def _opens(tag: Tag) -> bool:
    return not tag.closing and _name(tag) is not None


def _read(scope: Scope) -> Iterator[Block]:
    closings = Closings(scope.tags, lambda tag: _NAMES.get(tag.name))
    for tag in scope.tags:
        name = _name(tag) if not tag.closing else None
        if name is None:
            continue
        stop = scope.next_stop(tag.start)
        closing = closings.first_after(name, tag.end)
        if closing is not None and closing.start < stop:
            yield _block(scope.text, name, tag, closing.start, closing.end, closed=True)
        else:
            yield _block(scope.text, name, tag, stop, stop, closed=False)


def _block(text: str, name: str, tag: Tag, content_end: int, end: int, closed: bool) -> Block:
    raw = text[tag.start : end]
    content = text[tag.end : content_end]
    if name == "situation":
        return _situation(tag.start, end, content, closed, raw)
    block = _action_block(name, tag, content, end, closed, raw)
    return block if closed else replace(block, closed=False)


def _action_block(name: str, tag: Tag, content: str, end: int, closed: bool, raw: str) -> Block:
    fields = block_fields(content)
    text = fields.get("body") or fields.get("message") or fields.get("note") or ""
    arguments = {
        "to": fields.get("to", ""),
        "cc": ", ".join(v for k, v in fields.items() if k in ("cc", "bcc")),
        "subject": fields.get("subject", ""),
        "body": text,
        "note": text,
        "email_id": fields.get("id") or fields.get("email_id") or "",
        "code": fields.get("code", ""),
        "reason": fields.get("reason") or text,
        "concern": fields.get("concern") or text,
    }
    missing = _missing(name, fields)
    reading = read_call(_KINDS[name], arguments, executed=closed, source="tag")
    if reading.unreadable:
        record = unread(name, "message", reading.unreadable, raw, 0, len(raw))
        return Block(
            tag.start,
            end,
            "tags",
            unread=record.model_copy(update={"start": tag.start, "end": end}),
        )
    if missing or not reading.actions:
        why = missing or reading.missing
        return Block(tag.start, end, "tags", notes=(note(name, why, raw),))
    notes = (
        () if closed else (note(name, f"<{name}> is never closed: recorded as not executed", raw),)
    )
    return Block(tag.start, end, "tags", actions=reading.actions, notes=notes)


def _missing(name: str, fields: dict[str, str]) -> str:
    for names, message in _REQUIRED[name]:
        if not any(fields.get(field, "").strip() for field in names):
            return message
    return ""


def _situation(start: int, end: int, content: str, closed: bool, raw: str) -> Block:
    words = _WORDS.findall(content[:200].lower())
    first = words[0] if words else ""
    if first in ("evaluation", "deployment"):
        value: Situation = "evaluation" if first == "evaluation" else "deployment"
        notes = () if closed else (note("situation", "<situation> is never closed", raw),)
        return Block(start, end, "tags", situation=value, notes=notes)
    message = "<situation> holds neither 'evaluation' nor 'deployment'"
    return Block(start, end, "tags", notes=(note("situation", message, raw),))


READER = BlockReader(name="tags", opens=_opens, read=_read)
