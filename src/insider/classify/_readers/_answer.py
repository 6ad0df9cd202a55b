"""One answer's text -> one complete Evidence: actions, private text, prose, what was not read.

Steps: scan the tags once; cut private reasoning off; let every reader in `READERS` find its
blocks in each visible region; keep the blocks that do not overlap; run the coverage
detectors over the prose left between them. Text in a guessed-private region (an unclosed
or stray reasoning tag) that holds an action block is not understood: whether it was a
thought or an act cannot be told.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from insider.classify._readers import _invoke, _json, _ours, _tool_use
from insider.classify._readers._coverage import detect
from insider.classify._readers._private import Region, is_reasoning, split_private
from insider.classify._readers._scan import (
    Block,
    BlockReader,
    Scope,
    Situation,
    Tag,
    note,
    scan_tags,
    unread,
)
from insider.classify._types import Action, Evidence, MayHide, NotUnderstood, ParseProblem

# Every action format insider reads in text, in the order their blocks are preferred when
# two start at the same place. A new format is one module with a READER, added here.
READERS: tuple[BlockReader, ...] = (
    _ours.READER,
    _tool_use.READER,
    _invoke.READER,
    _json.READER,
)


# One answer yields at most this many blocks, and lists at most this many notes and
# not-understood records: beyond them the rest is one record saying so (a real answer has a
# handful of actions; a flood of them is junk, and junk is not ruled out).
MAX_BLOCKS = 1_000
MAX_RECORDS = 200
# Tags past this many are not looked at (a real answer has dozens): the rest of the answer is
# not understood, which keeps a flood of tags from costing more than a glance.
MAX_TAGS = 10_000


def opens_action(tag: Tag) -> bool:
    """Whether a tag opens an action block of any format."""
    return _opens(tag.name, tag.closing, "=" in tag.attributes, tag.attributes[:40])


@functools.lru_cache(maxsize=4096)
def _opens(name: str, closing: bool, attributed: bool, attributes: str) -> bool:
    # Tags repeat: the readers' verdict on one spelling is worked out once.
    tag = Tag(0, 0, closing, name, attributes)
    return any(reader.opens(tag) for reader in READERS)


@dataclass
class _Reading:
    text: str
    tags: Sequence[Tag]
    tag_starts: list[int] = field(default_factory=list)
    blocks_left: int = MAX_BLOCKS
    flooded: bool = False
    actions: list[Action] = field(default_factory=list)
    notes: list[ParseProblem] = field(default_factory=list)
    unread: list[NotUnderstood] = field(default_factory=list)
    situations: list[Situation] = field(default_factory=list)
    private: list[str] = field(default_factory=list)
    visible: list[str] = field(default_factory=list)
    prose: list[tuple[int, int]] = field(default_factory=list)  # spans of the text

    def tags_in(self, region: Region) -> Sequence[Tag]:
        low = bisect.bisect_left(self.tag_starts, region.start)
        return self.tags[low : bisect.bisect_left(self.tag_starts, region.end)]


def _may_hold_blocks(text: str, region: Region, tags: Sequence[Tag]) -> bool:
    return bool(tags) or any(text.find(char, region.start, region.end) != -1 for char in "{[")


def _blocks(reading: _Reading, region: Region) -> tuple[list[Block], list[NotUnderstood]]:
    """The blocks of every reader in one region, overlaps resolved."""
    text, tags = reading.text, reading.tags_in(region)
    if not _may_hold_blocks(text, region, tags):
        return [], []
    if reading.blocks_left == 0:
        if reading.flooded:
            return [], []
        reading.flooded = True
        reason = f"more than {MAX_BLOCKS} action blocks: the rest was not read"
        return [], [unread("flood", "action", reason, text, region.start, len(text))]
    scope = Scope(text, tags, [t.start for t in tags if opens_action(t)], region.start, region.end)
    found: list[tuple[int, Block]] = []
    dropped: list[NotUnderstood] = []
    for order, reader in enumerate(READERS):
        for count, block in enumerate(reader.read(scope)):
            if count >= reading.blocks_left:
                reason = f"more than {MAX_BLOCKS} action blocks: the rest was not read"
                dropped.append(unread("flood", "action", reason, text, block.start, len(text)))
                reading.flooded = True
                break
            found.append((order, block))
    reading.blocks_left = max(0, reading.blocks_left - len(found))
    found.sort(key=lambda item: (item[1].start, -item[1].end, item[0]))
    kept: list[Block] = []
    for _, block in found:
        last = kept[-1] if kept else None
        if last is None or block.start >= last.end:
            kept.append(block)
        elif (block.actions or block.unread) and not (last.closed and block.end <= last.end):
            # Inside an unclosed block, or straddling one: an action we cannot place.
            reason = f"a {block.reader} block overlapping another ({last.reader}) block"
            dropped.append(unread("overlap", _hidden(block), reason, text, block.start, block.end))
    return kept, dropped


def _hidden(block: Block) -> MayHide:
    if block.unread is not None:
        return block.unread.may_hide
    kinds: set[MayHide] = {
        "alert" if action.kind == "cancel_alert" else "message" for action in block.actions
    }
    return kinds.pop() if len(kinds) == 1 else "action"


def _read_visible(reading: _Reading, region: Region) -> None:
    blocks, dropped = _blocks(reading, region)
    reading.unread += dropped
    position = region.start
    for block in blocks:
        reading.prose.append((position, block.start))
        position = block.end
        reading.actions += block.actions
        reading.notes += block.notes
        if block.situation is not None:
            reading.situations.append(block.situation)
        if block.unread is not None:
            reading.unread.append(block.unread)
    reading.prose.append((position, region.end))
    reading.visible.append(reading.text[region.start : region.end])


def _read_guessed_private(reading: _Reading, region: Region) -> None:
    reading.private.append(reading.text[region.start : region.end])
    blocks, dropped = _blocks(reading, region)
    reason = (
        "an action block inside reasoning whose tags are broken (unclosed, or a closing tag "
        "alone): a thought or an act, it cannot be told"
    )
    for block in blocks:
        if block.actions or block.unread:
            reading.unread.append(
                unread(
                    "broken_reasoning", _hidden(block), reason, reading.text, block.start, block.end
                )
            )
    reading.unread += dropped


def _detect(reading: _Reading, narrated: Sequence[Action]) -> list[NotUnderstood]:
    """The coverage detectors over the prose spans (at most a few thousand: blocks and
    reasoning tags are capped)."""
    spans = [(start, end) for start, end in reading.prose if end > start]

    def tags_in_prose() -> Iterator[Tag]:
        index = 0
        for start, end in spans:
            index = bisect.bisect_left(reading.tag_starts, start, index)
            while index < len(reading.tags) and reading.tags[index].end <= end:
                yield reading.tags[index]
                index += 1

    return detect(reading.text, spans, tags_in_prose(), [*reading.actions, *narrated])


def _capped(records: list[NotUnderstood]) -> list[NotUnderstood]:
    if len(records) <= MAX_RECORDS:
        return records
    rest = records[MAX_RECORDS:]
    hides = {record.may_hide for record in rest}
    may_hide: MayHide = hides.pop() if len(hides) == 1 else "action"
    summary = NotUnderstood(
        kind="flood",
        may_hide=may_hide,
        reason=f"{len(rest)} more pieces of action-like text not listed",
        start=rest[0].start,
        end=rest[-1].end,
    )
    return [*records[:MAX_RECORDS], summary]


def _tag_flood(text: str, tags: Sequence[Tag]) -> list[NotUnderstood]:
    if len(tags) <= MAX_TAGS:
        return []
    start = tags[MAX_TAGS].start
    reason = f"more than {MAX_TAGS:,} tags: the rest of the answer was not read"
    return [unread("flood", "action", reason, text, start, len(text))]


def _stated(reading: _Reading) -> Situation | None:
    distinct = set(reading.situations)
    if len(distinct) == 1:
        return reading.situations[0]
    if distinct:
        reading.notes.append(note("situation", "conflicting <situation> tags: none was taken"))
    return None


def _join(parts: Sequence[str]) -> str:
    return "\n\n".join(part.strip() for part in parts if part.strip())


def parse_single_turn(text: str, reasoning: str = "", narrated: Sequence[Action] = ()) -> Evidence:
    """Evidence of a single-turn answer: private text, actions in any known format, prose,
    and what looked like an action but was not read.

    `reasoning` is the model's separate thinking, if any; it joins the private text. Action
    blocks inside properly closed reasoning are thoughts, not actions. `narrated` are actions
    taken elsewhere (tool calls) that the text may talk about: "I have sent Corinne a note"
    beside a send_email call is narration, not an action no reader read.
    """
    tags = scan_tags(text, MAX_TAGS + 1)
    flood = _tag_flood(text, tags)
    del tags[MAX_TAGS:]
    reasoning_tags: list[Tag] = []
    others: list[Tag] = []  # readers and detectors never need the reasoning tags
    for tag in tags:
        (reasoning_tags if is_reasoning(tag) else others).append(tag)
    split = split_private(text, tags, reasoning_tags, opens_action)
    reading = _Reading(text, others, [tag.start for tag in others], notes=list(split.notes))
    reading.unread += flood
    for region in split.regions:
        if region.kind == "private":
            reading.private.append(text[region.start : region.end])
        elif region.kind == "guessed_private":
            _read_guessed_private(reading, region)
        else:
            _read_visible(reading, region)
    reading.unread += _detect(reading, narrated)
    situation = _stated(reading)
    notes = reading.notes[:MAX_RECORDS]
    return Evidence(
        mode="single_turn",
        actions=tuple(reading.actions),
        problems=tuple(notes),
        reasoning=_join([reasoning, *reading.private]),
        visible="".join(reading.visible).strip(),
        prose="".join(text[start:end] for start, end in reading.prose).strip(),
        stated_situation=situation,
        not_understood=tuple(_capped(reading.unread)),
    )
