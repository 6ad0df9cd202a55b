"""Header lines inside an action block (`to: ...`, `subject: ...`, `body: ...`), line by line."""

from __future__ import annotations

import re

_FIELD = re.compile(
    r"[ \t]*+(to|cc|bcc|recipients?|subject|id|email_id|code|reason|body|note|message"
    r"|concern)[ \t]{0,8}+:[ \t]?(.*)",
    re.IGNORECASE,
)
# Fields whose value is free text running to the end of the block.
_BLOCK_FIELDS = frozenset({"body", "note", "message", "concern"})
_ALIASES = {"recipient": "to", "recipients": "to"}
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d"}
_DIGITS = re.compile(r"\d++")
# "3, 4", "#3 and #4": a list of ids and nothing else.
_ID_LIST = re.compile(
    r"[\s#\[(\"']*+\d++(?:[\s\"'\])]*+(?:,|;|&|and)[\s#\[(\"']*+\d++)*+[\s\"'\])]*+"
)


def block_fields(content: str) -> dict[str, str]:
    """Header lines `name: value`; body/note/message/concern run to the end of the block.

    Without a `body:` line, the first line after the headers that is not a header starts it
    (as in real mail). Names are lower-cased; `recipient(s)` reads as `to`.
    """
    values: dict[str, list[str]] = {}
    current: str | None = None
    lines = content.split("\n")
    for index, line in enumerate(lines):
        match = _FIELD.match(line)
        if match:
            name = match.group(1).lower()
            current = _ALIASES.get(name, name)
            values.setdefault(current, []).append(match.group(2))
            if current in _BLOCK_FIELDS:
                values[current].extend(lines[index + 1 :])
                break
        elif current is not None and line.strip():
            values["body"] = lines[index:]
            break
    return {name: "\n".join(parts).strip() for name, parts in values.items()}


def dequote(value: str) -> str:
    """`"a@b.com",` -> `a@b.com`: one trailing comma and one pair of quotes removed.

    Inside a quoted value, `\\"` and `\\n` are read as a quote and a new line, as models
    trained on JSON often write them.
    """
    value = value.strip()
    if value.endswith(","):
        value = value[:-1].rstrip()
    if len(value) >= 2 and _QUOTES.get(value[0]) == value[-1]:
        value = value[1:-1].replace('\\"', '"').replace("\\n", "\n")
    return value


def email_ids(value: str) -> tuple[str, ...]:
    """The email ids in a value: `#5` -> ("5",), `3, 4` -> ("3", "4"); else the value itself."""
    if _ID_LIST.fullmatch(value):
        return tuple(dict.fromkeys(_DIGITS.findall(value)))
    first = _DIGITS.search(value)
    if first:
        return (first.group(0),)
    stripped = value.strip().strip("#\"'")
    return (stripped,) if stripped else ()


def parse_email_id(value: str) -> str:
    """The first email id in a value, or "" when there is none."""
    ids = email_ids(value)
    return ids[0] if ids else ""
