"""Tool calls written as JSON in the text, in the shapes harnesses and models use:

    {"name": "send_email", "arguments": {"to": "...", "body": "..."}}
    {"name": "send_email", "arguments": "{\\"to\\": \\"...\\"}"}      (arguments as a JSON string)
    {"tool": "forward_email", "args": {...}}      {"action": "...", "action_input": {...}}
    {"type": "function", "function": {"name": ..., "arguments": ...}}
    {"tool_calls": [...]}   and a list of any of these

JSON is parsed with limits: an object larger than 16 KB, nested deeper than 32, or past the
2,000th attempt in one answer is not read, and if it looks like an action it is not understood.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from insider.classify._readers._calls import arguments_may_hide, call_kind, read_call
from insider.classify._readers._scan import Block, BlockReader, Scope, note, unread
from insider.classify._types import Action, MayHide, ParseProblem

MAX_OBJECT = 16_384
MAX_DEPTH = 32
MAX_ATTEMPTS = 2_000
_CANDIDATE = re.compile(r"""[\[{][ \t\r\n]{0,64}+["'{]""")
_NAME_KEYS = ("name", "tool", "tool_name", "function", "action", "recipient_name", "tool_call")
_ARGUMENT_KEYS = (
    "arguments",
    "args",
    "parameters",
    "params",
    "input",
    "tool_input",
    "action_input",
)
_LIST_KEYS = ("tool_calls", "calls", "tool_uses", "function_calls", "actions")
_DECODER = json.JSONDecoder()


def depth(value: Any) -> int:
    """How deeply a parsed JSON value nests (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            deepest = max(deepest, level)
            continue
        deepest = max(deepest, level + 1)
        stack.extend((child, level + 1) for child in children)
    return deepest


def load_bounded(text: str) -> Any:
    """A small JSON document, or ValueError when it is not one (too big, too deep, invalid)."""
    if len(text) > MAX_OBJECT:
        raise ValueError(f"larger than {MAX_OBJECT} characters")
    try:
        value = json.loads(text)
    except RecursionError as error:
        raise ValueError("nested too deeply") from error
    if depth(value) > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH}")
    return value


def _read(scope: Scope) -> Iterator[Block]:
    text = scope.text
    consumed_to = 0
    attempts = 0
    for candidate in _CANDIDATE.finditer(text, scope.start, scope.end):
        start = candidate.start()
        if start < consumed_to:
            continue
        attempts += 1
        if attempts > MAX_ATTEMPTS:
            reason = f"more than {MAX_ATTEMPTS} JSON-like objects: the rest was not read"
            yield Block(
                start,
                scope.end,
                "json",
                unread=unread("json", "action", reason, text, start, scope.end),
            )
            return
        parsed = _parse_at(text, start, scope.end)
        if parsed is None:
            continue
        value, end = parsed
        start, end = _fenced(text, start, end, scope)
        block = _block(text, start, end, value)
        if block is not None:
            consumed_to = end
            yield block


_FENCE_OPEN = re.compile(
    r"```[ \t]{0,8}+(?:json|javascript|js|tool_code|tool_call)?[ \t]{0,8}+\r?\n?[ \t]{0,8}+$"
)
_FENCE_CLOSE = re.compile(r"[ \t]{0,8}+\r?\n?[ \t]{0,8}+```")


def _fenced(text: str, start: int, end: int, scope: Scope) -> tuple[int, int]:
    """The block widened over a Markdown code fence around it (```json ... ```), if any."""
    before = _FENCE_OPEN.search(text, max(scope.start, start - 40), start)
    after = _FENCE_CLOSE.match(text, end, scope.end)
    if before is None or after is None:
        return start, end
    return before.start(), after.end()


def _parse_at(text: str, start: int, end: int) -> tuple[Any, int] | None:
    window = text[start : min(end, start + MAX_OBJECT + 1)]
    try:
        value, length = _DECODER.raw_decode(window)
    except (json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(value, dict | list) or depth(value) > MAX_DEPTH:
        return None
    return value, start + length


def _block(text: str, start: int, end: int, value: Any) -> Block | None:
    """The block a JSON value makes: its calls' actions, or None when it is no call at all."""
    calls = list(_calls(value))
    if not calls:
        may_hide = _mail_like(value)
        if may_hide is None:
            return None
        reason = "a JSON object with mail or alert fields but no tool name"
        return Block(start, end, "json", unread=unread("json", may_hide, reason, text, start, end))
    actions: list[Action] = []
    notes: list[ParseProblem] = []
    for name, arguments in calls:
        found = _call(text, start, end, name, arguments)
        if isinstance(found, Block):
            return found  # one call not understood: the whole object goes to the judge
        if isinstance(found, ParseProblem):
            notes.append(found)
        else:
            actions.extend(found)
    return Block(start, end, "json", actions=tuple(actions), notes=tuple(notes))


def _call(
    text: str, start: int, end: int, name: str, arguments: Any
) -> Block | ParseProblem | tuple[Action, ...]:
    kind = call_kind(name)
    if isinstance(arguments, str):
        try:
            arguments = load_bounded(arguments) if arguments.strip() else {}
        except ValueError as error:
            if kind == "read":
                return ()
            reason = f"the arguments of {name!r} are not readable JSON: {error}"
            return Block(
                start, end, "json", unread=unread("json", "action", reason, text, start, end)
            )
    if not isinstance(arguments, Mapping):
        arguments = {}
    if kind == "read":
        return ()
    if kind is None:
        may_hide = arguments_may_hide(arguments)
        if may_hide is None:
            return ()
        reason = f"a call of {name!r}, a tool insider does not know, with mail or alert fields"
        return Block(start, end, "json", unread=unread("json", may_hide, reason, text, start, end))
    reading = read_call(kind, arguments, source="tag")
    if reading.unreadable:
        return Block(
            start,
            end,
            "json",
            unread=unread("json", "message", reading.unreadable, text, start, end),
        )
    if not reading.actions:
        return note("json", f"{name}: {reading.missing}", text[start:end])
    return reading.actions


def _calls(value: Any) -> Iterator[tuple[str, Any]]:
    """(tool name, arguments) for each call a JSON value describes."""
    if isinstance(value, list):
        for item in value:
            yield from _calls(item)
        return
    if not isinstance(value, Mapping):
        return
    function = value.get("function")
    if isinstance(function, Mapping):
        yield from _calls(function)
        return
    for key in _LIST_KEYS:
        if isinstance(value.get(key), list):
            yield from _calls(value[key])
            return
    name = next((value[k] for k in _NAME_KEYS if isinstance(value.get(k), str)), None)
    arguments = next((value[k] for k in _ARGUMENT_KEYS if k in value), None)
    if name is not None and (arguments is not None or call_kind(name) not in (None, "read")):
        yield name, arguments if arguments is not None else {}


def _mail_like(value: Any) -> MayHide | None:
    if isinstance(value, Mapping):
        return arguments_may_hide(value)
    if isinstance(value, list):
        found = [_mail_like(item) for item in value[:50]]
        return next((item for item in found if item is not None), None)
    return None


READER = BlockReader(name="json", opens=lambda tag: False, read=_read)
