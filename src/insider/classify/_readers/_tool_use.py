"""The original research framework's format: `<tool_use:email>` with quoted, comma-ended values.

    <tool_use:forward>
    email_id: 3
    to: "someone@example.com",
    body: "a note",
    </tool_use:forward>

Read leniently: any `tool…:` prefix (`tool_use`, `tool_call`, a stray `tool_rule`), values with
or without quotes and commas, `email_id: 3, 4` as two forwards, and any closing tag that names
the same action (`</tool_use:email>`, `</email>`, `</tool_use>`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from insider.classify._readers._calls import call_kind, read_call
from insider.classify._readers._fields import block_fields, dequote
from insider.classify._readers._scan import (
    Block,
    BlockReader,
    Closings,
    Scope,
    Tag,
    note,
    unread,
)
from insider.classify._types import MayHide

_ANY = "*"


def _action(tag: Tag) -> str | None:
    """The action a `<tool…:action>` opener names (`email`, `forward`, ...), else None."""
    prefix, colon, action = tag.name.partition(":")
    if not colon or not action or not prefix.replace("_", "").startswith("tool"):
        return None
    return action


def _opens(tag: Tag) -> bool:
    return not tag.closing and _action(tag) is not None


def _closes(tag: Tag) -> str | None:
    """What a closing tag may close: an action name, or any (`</tool_use>`)."""
    prefix, colon, action = tag.name.partition(":")
    if colon:
        return action or _ANY
    return _ANY if prefix.replace("_", "").startswith("tool") else prefix


def _read(scope: Scope) -> Iterator[Block]:
    closings = Closings(scope.tags, _closes)
    for tag in scope.tags:
        action = _action(tag) if not tag.closing else None
        if action is None:
            continue
        stop = scope.next_stop(tag.start)
        found = [closings.first_after(action, tag.end), closings.first_after(_ANY, tag.end)]
        closing = min((c for c in found if c is not None), key=lambda c: c.start, default=None)
        if closing is not None and closing.start < stop:
            yield _block(scope.text, action, tag, closing, closing.start, closing.end)
        else:
            yield replace(_block(scope.text, action, tag, None, stop, stop), closed=False)


def _block(
    text: str, action: str, tag: Tag, closing: Tag | None, content_end: int, end: int
) -> Block:
    raw = text[tag.start : end]
    fields = {
        name: dequote(value) for name, value in block_fields(text[tag.end : content_end]).items()
    }
    kind = call_kind(action)
    if kind == "read":
        return Block(tag.start, end, "tool_use")
    if kind is None:
        reason = f"<tool_use:{action}> is not an action insider knows"
        return Block(
            tag.start,
            end,
            "tool_use",
            unread=unread("tool_use", _may_hide(fields), reason, text, tag.start, end),
        )
    notes = []
    if closing is None:
        notes.append(
            note("tool_use", f"<tool_use:{action}> is never closed: recorded as not executed", raw)
        )
    elif (
        _closes(closing) not in (action, _ANY)
        or closing.name.partition(":")[0] != tag.name.partition(":")[0]
    ):
        notes.append(note("tool_use", f"<{tag.name}> closed by </{closing.name}>", raw))
    arguments = dict(fields)
    arguments.setdefault("email_id", fields.get("id", ""))
    reading = read_call(kind, arguments, executed=closing is not None, source="tag")
    if reading.unreadable:
        record = unread("tool_use", "message", reading.unreadable, text, tag.start, end)
        return Block(tag.start, end, "tool_use", unread=record)
    if not reading.actions:
        return Block(tag.start, end, "tool_use", notes=(note("tool_use", reading.missing, raw),))
    return Block(tag.start, end, "tool_use", actions=reading.actions, notes=tuple(notes))


def _may_hide(fields: dict[str, str]) -> MayHide:
    if "code" in fields:
        return "alert"
    if fields.keys() & {"to", "cc", "bcc", "subject", "body", "email_id", "id", "note", "message"}:
        return "message"
    return "action"


READER = BlockReader(name="tool_use", opens=_opens, read=_read)
