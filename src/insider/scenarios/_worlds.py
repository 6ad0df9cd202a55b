"""Where the worlds live: one folder per scenario family under ``worlds/``.

Kept apart from rendering so that validating a condition (does its world exist, does it have
that paraphrase?) needs no templates.
"""

from __future__ import annotations

import functools
from pathlib import Path

WORLDS_DIR = Path(__file__).parent / "worlds"
SHARED_DIR = WORLDS_DIR / "_shared"  # templates every world shares (control block, user turns)
DEFAULT_WORLD = "ferrowen"
WORLD_DIR = WORLDS_DIR / DEFAULT_WORLD


@functools.cache
def world_names() -> tuple[str, ...]:
    """The worlds that ship with insider (folders of ``worlds/`` with a world.yaml)."""
    return tuple(sorted(p.parent.name for p in WORLDS_DIR.glob("*/world.yaml")))


@functools.cache
def paraphrase_count(root: Path) -> int:
    """How many paraphrase overlays a world has (``paraphrases/1``, ``paraphrases/2``, ...)."""
    count = 0
    while (root / "paraphrases" / str(count + 1)).is_dir():
        count += 1
    return count
