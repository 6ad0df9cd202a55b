"""Function-call markup written as text, Anthropic style:

    <function_calls>
    <invoke name="send_email">
    <parameter name="to">someone@example.com</parameter>
    <parameter name="body">Message text</parameter>
    </invoke>
    </function_calls>

A namespace before the tag name (`<x:invoke>`) is ignored. An `<invoke>` that is never closed
runs to the next action block and is recorded as not executed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from insider.classify._readers._calls import arguments_may_hide, call_kind, read_call
from insider.classify._readers._json import load_bounded
from insider.classify._readers._scan import Block, BlockReader, Closings, Scope, Tag, note, unread

_NAME_ATTRIBUTE = re.compile(r"""name[ \t]{0,8}+=[ \t]{0,8}+["']([^"'<>]{0,200}+)["']""")
_PARTS = ("invoke", "parameter", "function_calls")


def _part(tag: Tag) -> str | None:
    """`invoke`, `parameter` or `function_calls` (any namespace), else None."""
    part = tag.name.rpartition(":")[2]
    return part if part in _PARTS else None


def _opens(tag: Tag) -> bool:
    return not tag.closing and _part(tag) in ("invoke", "function_calls")


def _named(tag: Tag) -> str:
    match = _NAME_ATTRIBUTE.search(tag.attributes)
    return match.group(1).strip() if match else ""


def _read(scope: Scope) -> Iterator[Block]:
    closings = Closings(scope.tags, _part)
    for tag in scope.tags:
        part = _part(tag)
        if part == "function_calls":
            yield Block(tag.start, tag.end, "invoke")  # the wrapper itself says nothing
        elif part == "invoke" and not tag.closing:
            stop = scope.next_stop(tag.start)
            closing = closings.first_after("invoke", tag.end)
            closed = closing is not None and closing.start < stop
            end = closing.end if closing is not None and closed else stop
            content_end = closing.start if closing is not None and closed else stop
            block = _block(scope, closings, tag, content_end, end, closed)
            yield block if closed else replace(block, closed=False)


def _parameters(scope: Scope, closings: Closings, tag: Tag, content_end: int) -> dict[str, Any]:
    """Each `<parameter name=...>` up to its closing tag, the next parameter, or the end."""
    inner = scope.tags_between(tag.end, content_end)
    openers = [t for t in inner if not t.closing and _part(t) == "parameter"]
    values: dict[str, Any] = {}
    for position, opener in enumerate(openers):
        end = openers[position + 1].start if position + 1 < len(openers) else content_end
        closing = closings.first_after("parameter", opener.end)
        if closing is not None and closing.start < end:
            end = closing.start
        values[_named(opener)] = _value(scope.text[opener.end : end])
    return values


def _value(text: str) -> Any:
    """A parameter's value: JSON when it reads as a JSON string, list or object, else text."""
    value = text.strip()
    if value[:1] in ('"', "[", "{"):
        try:
            return load_bounded(value)
        except ValueError:
            return value
    return value


def _block(
    scope: Scope, closings: Closings, tag: Tag, content_end: int, end: int, closed: bool
) -> Block:
    raw = scope.text[tag.start : end]
    name = _named(tag)
    arguments = _parameters(scope, closings, tag, content_end)
    kind = call_kind(name)
    if kind == "read":
        return Block(tag.start, end, "invoke")
    if kind is None:
        may_hide = arguments_may_hide(arguments) or "action"
        reason = f"<invoke name={name!r}> is not an action insider knows"
        return Block(
            tag.start,
            end,
            "invoke",
            unread=unread("invoke", may_hide, reason, scope.text, tag.start, end),
        )
    reading = read_call(kind, arguments, executed=closed, source="tag")
    if reading.unreadable:
        record = unread("invoke", "message", reading.unreadable, scope.text, tag.start, end)
        return Block(tag.start, end, "invoke", unread=record)
    if not reading.actions:
        return Block(tag.start, end, "invoke", notes=(note("invoke", reading.missing, raw),))
    notes = (
        ()
        if closed
        else (note("invoke", "<invoke> is never closed: recorded as not executed", raw),)
    )
    return Block(tag.start, end, "invoke", actions=reading.actions, notes=notes)


READER = BlockReader(name="invoke", opens=_opens, read=_read)
