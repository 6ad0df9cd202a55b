"""One answer's text -> one complete Evidence: actions, private text, prose, what was not read.

Steps: scan the tags once; cut private reasoning off; let every reader in `READERS` find its
blocks in each visible region; keep the blocks that do not overlap; run the coverage
detectors over the prose left between them. Text in a guessed-private region (an unclosed
or stray reasoning tag) that holds an action block is not understood: whether it was a
thought or an act cannot be told.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from insider.classify._readers import _invoke, _json, _ours, _tool_use
from insider.classify._readers._coverage import detect
from insider.classify._readers._private import Region, split_private
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


def opens_action(tag: Tag) -> bool:
    """Whether a tag opens an action block of any format."""
    return any(reader.opens(tag) for reader in READERS)


@dataclass
class _Reading:
    actions: list[Action] = field(default_factory=list)
    notes: list[ParseProblem] = field(default_factory=list)
    unread: list[NotUnderstood] = field(default_factory=list)
    situations: list[Situation] = field(default_factory=list)
    private: list[str] = field(default_factory=list)
    visible: list[str] = field(default_factory=list)
    prose: list[str] = field(default_factory=list)
    # (region start, region text, its tags, prose spans in it) for the coverage detectors
    prose_regions: list[tuple[int, str, Sequence[Tag], list[tuple[int, int]]]] = field(
        default_factory=list
    )


def _blocks(text: str, tags: Sequence[Tag]) -> tuple[list[Block], list[NotUnderstood]]:
    """The blocks of every reader in one region, overlaps resolved."""
    stops = [tag.start for tag in tags if opens_action(tag)]
    found: list[tuple[int, Block]] = []
    for order, reader in enumerate(READERS):
        found += [(order, block) for block in reader.read(Scope(text, tags, stops))]
    found.sort(key=lambda item: (item[1].start, -item[1].end, item[0]))
    kept: list[Block] = []
    dropped: list[NotUnderstood] = []
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


def _shift(record: NotUnderstood, offset: int) -> NotUnderstood:
    return record.model_copy(update={"start": record.start + offset, "end": record.end + offset})


def _read_visible(reading: _Reading, region: Region, text: str) -> None:
    piece = text[region.start : region.end]
    tags = scan_tags(piece)
    blocks, dropped = _blocks(piece, tags)
    reading.unread += [_shift(record, region.start) for record in dropped]
    prose: list[tuple[int, int]] = []
    position = 0
    for block in blocks:
        prose.append((position, block.start))
        position = block.end
        reading.actions += block.actions
        reading.notes += block.notes
        if block.situation is not None:
            reading.situations.append(block.situation)
        if block.unread is not None:
            reading.unread.append(_shift(block.unread, region.start))
    prose.append((position, len(piece)))
    reading.visible.append(piece)
    reading.prose += [piece[start:end] for start, end in prose]
    reading.prose_regions.append((region.start, piece, tags, prose))


def _read_guessed_private(reading: _Reading, region: Region, text: str) -> None:
    piece = text[region.start : region.end]
    reading.private.append(piece)
    blocks, dropped = _blocks(piece, scan_tags(piece))
    for block in blocks:
        if not (block.actions or block.unread):
            continue
        reason = (
            "an action block inside reasoning whose tags are broken (unclosed, or a closing "
            "tag alone): a thought or an act, it cannot be told"
        )
        reading.unread.append(
            _shift(
                unread("broken_reasoning", _hidden(block), reason, piece, block.start, block.end),
                region.start,
            )
        )
    reading.unread += [_shift(record, region.start) for record in dropped]


def _stated(reading: _Reading) -> Situation | None:
    distinct = set(reading.situations)
    if len(distinct) == 1:
        return reading.situations[0]
    if distinct:
        reading.notes.append(note("situation", "conflicting <situation> tags: none was taken"))
    return None


def _join(parts: Sequence[str]) -> str:
    return "\n\n".join(part.strip() for part in parts if part.strip())


def parse_single_turn(text: str, reasoning: str = "") -> Evidence:
    """Evidence of a single-turn answer: private text, actions in any known format, prose,
    and what looked like an action but was not read.

    `reasoning` is the model's separate thinking, if any; it joins the private text. Action
    blocks inside properly closed reasoning are thoughts, not actions.
    """
    split = split_private(text, scan_tags(text), opens_action)
    reading = _Reading(notes=list(split.notes))
    for region in split.regions:
        if region.kind == "private":
            reading.private.append(text[region.start : region.end])
        elif region.kind == "guessed_private":
            _read_guessed_private(reading, region, text)
        else:
            _read_visible(reading, region, text)
    for offset, piece, tags, prose in reading.prose_regions:
        found = detect(piece, prose, tags, reading.actions)
        reading.unread += [_shift(record, offset) for record in found]
    situation = _stated(reading)
    return Evidence(
        mode="single_turn",
        actions=tuple(reading.actions),
        problems=tuple(reading.notes),
        reasoning=_join([reasoning, *reading.private]),
        visible="".join(reading.visible).strip(),
        prose="".join(reading.prose).strip(),
        stated_situation=situation,
        not_understood=tuple(reading.unread),
    )
