"""The shared pieces of every text reader: one linear scan for tags, and the Block record.

Every pattern here has bounded lookahead and no backtracking (possessive quantifiers), so
that a megabyte of hostile text costs a megabyte of scanning, not its square.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from insider.classify._types import Action, MayHide, NotUnderstood, ParseProblem

Situation = Literal["evaluation", "deployment"]

_EXCERPT = 160
# `<name attributes>` or `</name>`; a name is at most 64 characters, attributes 400. Only
# names that hold one of the words below can matter to a reader or a detector (an action, a
# wrapper, reasoning, or an action-like name): `<b>`, `<br>` or `a < b` never reach Python.
_WORDS = (
    "mail|send|forward|cancel|alert|alarm|abort|halt|escalat|situation|tool|invoke|parameter|function|pad|scr"
    "|think|thought|reason|reflect|monologue|message|msg|override|call|action|reply|notify"
    "|contact|dispatch|sms|transmit|relay"
)
_TAG = re.compile(
    rf"<[ \t]{{0,8}}+(/?+)[ \t]{{0,8}}+(?=[A-Za-z])(?=[\w:.\-]{{0,40}}?(?i:{_WORDS}))"
    r"([A-Za-z][\w:.\-]{0,63}+)([^<>]{0,400}+)>"
)
_SEPARATORS = re.compile(r"[\s\-]+")
_AROUND_COLON = re.compile(r"_*:_*")


def excerpt(text: str) -> str:
    """The start of a piece of text, cut at 160 characters."""
    text = text.strip()
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


class Tag(NamedTuple):
    """One `<name ...>` or `</name>` in the text. `name` is lower-cased, `-`/spaces as `_`."""

    start: int
    end: int
    closing: bool
    name: str
    attributes: str

    @property
    def letters(self) -> str:
        """The name's letters only (`SCRATCHPAD_REASONING` -> `scratchpadreasoning`)."""
        return "".join(char for char in self.name if char.isalpha())


def _normal_name(name: str, attributes: str) -> str:
    if not attributes or attributes.isspace() or "=" in attributes:
        lowered = name.lower()
        return lowered.replace("-", "_") if "-" in lowered else lowered
    # `<cancel alert>` and `< EMAIL >` are names with spaces, not attributes.
    words = attributes.strip().rstrip("/").strip()
    if words and len(words) <= 40 and not any(char in words for char in "=\"'\n"):
        name = f"{name} {words}"
    lowered = _SEPARATORS.sub("_", name.strip().lower())
    return _AROUND_COLON.sub(":", lowered)


def scan_tags(text: str, limit: int | None = None) -> list[Tag]:
    """Every tag in the text that could matter to a reader or a detector, in order (at most
    `limit` of them)."""
    matches = _TAG.finditer(text)
    if limit is not None:
        matches = itertools.islice(matches, limit)
    return [
        Tag(match.start(), match.end(), bool(match[1]), _normal_name(match[2], match[3]), match[3])
        for match in matches
    ]


def starts_line(text: str, position: int) -> bool:
    """Whether only spaces or tabs stand between the start of the line and `position`."""
    index = position - 1
    while index >= 0 and text[index] in " \t":
        index -= 1
    return index < 0 or text[index] == "\n"


@dataclass(frozen=True)
class Block:
    """A piece of an answer one reader recognised: an action, a situation, or neither.

    A block with an `unread` record was recognised as an action-like block that the reader
    could not read; one with nothing in it (e.g. a wrapper tag, a reading tool's call) was
    understood and changes nothing.
    """

    start: int
    end: int
    reader: str
    actions: tuple[Action, ...] = ()
    closed: bool = True  # False: an unclosed block, which ran to the next block or the end
    situation: Situation | None = None
    notes: tuple[ParseProblem, ...] = ()
    unread: NotUnderstood | None = None


@dataclass
class Scope:
    """What a reader sees: one region of the answer (`start`..`end` of `text`), the tags in
    it, and where any action format's block opens in it.

    An unclosed block ends where the next block of any format opens (`next_stop`), or at the
    region's end, so that one format's broken block never swallows another format's action.
    """

    text: str
    tags: Sequence[Tag]
    stops: Sequence[int] = ()
    start: int = 0
    end: int = -1
    _tag_starts: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.end < 0:
            self.end = len(self.text)
        self._tag_starts = [tag.start for tag in self.tags]

    def tags_between(self, start: int, end: int) -> Sequence[Tag]:
        """The tags that start in [start, end)."""
        low = bisect.bisect_left(self._tag_starts, start)
        return self.tags[low : bisect.bisect_left(self._tag_starts, end)]

    def next_stop(self, after: int) -> int:
        index = bisect.bisect_right(self.stops, after)
        return min(self.stops[index], self.end) if index < len(self.stops) else self.end


@dataclass(frozen=True)
class BlockReader:
    """One action format: which tags open its blocks, and how to read them.

    `opens` decides, for a tag, whether it starts one of this format's blocks (formats
    that are not tags, such as JSON, open none). `read` yields the blocks in a scope.
    """

    name: str
    opens: Callable[[Tag], bool]
    read: Callable[[Scope], Iterator[Block]]


def unread(
    kind: str, may_hide: MayHide, reason: str, text: str, start: int, end: int
) -> NotUnderstood:
    """A NotUnderstood record for text[start:end]."""
    return NotUnderstood(
        kind=kind,
        may_hide=may_hide,
        reason=reason,
        excerpt=excerpt(text[start : min(end, start + 4 * _EXCERPT)]),
        start=start,
        end=end,
    )


def note(kind: str, message: str, text: str = "") -> ParseProblem:
    return ParseProblem(kind=kind, message=message, excerpt=excerpt(text[: 4 * _EXCERPT]))


class Closings:
    """Closing tags grouped by what they close, to find the first one after a position fast."""

    def __init__(self, tags: Sequence[Tag], closes: Callable[[Tag], str | None]) -> None:
        self._tags: dict[str, list[Tag]] = {}
        for tag in tags:
            if tag.closing and (name := closes(tag)) is not None:
                self._tags.setdefault(name, []).append(tag)
        self._starts = {name: [t.start for t in found] for name, found in self._tags.items()}

    def first_after(self, name: str, position: int) -> Tag | None:
        starts = self._starts.get(name, [])
        index = bisect.bisect_left(starts, position)
        return self._tags[name][index] if index < len(starts) else None
