"""Private reasoning in an answer: what is thought, what is visible, and what is a guess.

Reasoning tags are read in every common spelling: `<scratchpad>`, the original framework's
`<SCRATCHPAD_REASONING>` and its misspellings (`<SCRATCHPAD_REASONNING>`, `<scrachpad>`),
`<thinking>`, `<think>`, `<reasoning>`. Any of them closes any other.

Two cases are guesses: an opening tag that is never closed (the private part is taken to end
where an action block starts a line), and a closing tag with no opening one (the text before
it is taken as private, since models whose prompt ended in the opening tag write only the
closing one). Guessed-private text is kept apart, so that an action inside it is not ruled out.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from insider.classify._readers._scan import Tag, note, starts_line
from insider.classify._types import ParseProblem

RegionKind = Literal["visible", "private", "guessed_private"]
# Past this many reasoning tags the rest of the answer is not sorted out: it is taken as
# guessed-private text, where an action is neither counted nor ruled out.
MAX_REASONING_TAGS = 1_000
_MAX_NOTES = 20
# scratchpad, scratch_pad, SCRATCHPAD_REASONING, scrachpad, scratchpad_reasonning, thinking...
_REASONING = re.compile(
    r"think(?:ing)?|thoughts?|reasoning|reflection|inner_?monologue|s[a-z_]{0,8}?pad[a-z_]{0,24}"
)


def is_reasoning(tag: Tag) -> bool:
    """Whether a tag opens or closes private reasoning, in any common spelling."""
    return _REASONING.fullmatch(tag.name) is not None and "=" not in tag.attributes


@dataclass(frozen=True)
class Region:
    start: int
    end: int
    kind: RegionKind


@dataclass
class Split:
    """The answer cut into visible, private and guessed-private regions, in order."""

    regions: list[Region] = field(default_factory=list)
    notes: list[ParseProblem] = field(default_factory=list)

    def add(self, start: int, end: int, kind: RegionKind) -> None:
        if end > start:
            self.regions.append(Region(start, end, kind))

    def note(self, problem: ParseProblem) -> None:
        if len(self.notes) < _MAX_NOTES:
            self.notes.append(problem)


def split_private(
    text: str,
    tags: Sequence[Tag],
    reasoning: Sequence[Tag],
    opens_action: Callable[[Tag], bool],
) -> Split:
    """Cut the answer at its reasoning tags (`reasoning`: those of `tags` for which
    `is_reasoning` holds); `opens_action` says which tags start an action."""
    closings = [tag for tag in reasoning if tag.closing]
    closing_starts = [tag.start for tag in closings]
    starts = [tag.start for tag in tags]
    split = Split()
    position = 0
    seen = False
    index = 0
    while index < len(reasoning):
        tag = reasoning[index]
        index += 1
        if index > MAX_REASONING_TAGS:
            split.note(note("reasoning", f"more than {MAX_REASONING_TAGS} reasoning tags"))
            split.add(position, len(text), "guessed_private")
            return split
        if tag.start < position:
            continue
        if tag.closing:
            _stray_close(text, position, tag, seen, split)
        else:
            split.add(position, tag.start, "visible")
            next_close = bisect.bisect_left(closing_starts, tag.end)
            if next_close < len(closings):
                closing = closings[next_close]
                split.add(tag.end, closing.start, "private")
                if closing.letters != tag.letters:
                    split.note(note("reasoning", f"<{tag.name}> closed by </{closing.name}>"))
                tag = closing
            else:
                tag = _unclosed(text, tags, starts, tag, opens_action, split)
        seen = True
        position = tag.end
    split.add(position, len(text), "visible")
    return split


def _stray_close(text: str, position: int, tag: Tag, seen: bool, split: Split) -> None:
    if not seen:
        split.add(position, tag.start, "guessed_private")
        message = f"</{tag.name}> without an opening tag: the text before it was taken as private"
    else:
        split.add(position, tag.start, "visible")
        message = f"a second </{tag.name}> without an opening tag was ignored"
    split.note(note("scratchpad", message, text[position : tag.end]))


def _unclosed(
    text: str,
    tags: Sequence[Tag],
    starts: Sequence[int],
    opening: Tag,
    opens_action: Callable[[Tag], bool],
    split: Split,
) -> Tag:
    """An unclosed reasoning tag: private up to the first action block that starts a line.

    Returns a zero-width marker where the private part ends.
    """
    first = bisect.bisect_left(starts, opening.end)
    action = next(
        (
            tags[index]
            for index in range(first, len(tags))
            if opens_action(tags[index]) and starts_line(text, tags[index].start)
        ),
        None,
    )
    end = action.start if action is not None else len(text)
    split.add(opening.end, end, "guessed_private")
    where = "before the first action block" if action else "at the end of the answer"
    split.note(
        note(
            "scratchpad",
            f"<{opening.name}> is never closed; it was taken to end {where}",
            text[opening.start :],
        )
    )
    return Tag(start=end, end=end, closing=True, name="", attributes="")
