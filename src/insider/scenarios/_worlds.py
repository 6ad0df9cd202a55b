"""Where the worlds live: one folder per scenario family under ``worlds/``.

Kept apart from rendering so that validating a condition (does its world exist, does it have
that paraphrase?) needs no templates.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

WORLDS_DIR = Path(__file__).parent / "worlds"
SHARED_DIR = WORLDS_DIR / "_shared"  # templates every world shares (control block, user turns)
DEFAULT_WORLD = "ferrowen"
WORLD_DIR = WORLDS_DIR / DEFAULT_WORLD
# The original research's world: no folder here; loaded at run time from the installed
# inspect-evals package (the ``replication`` extra), see ``_original.py``.
ORIGINAL_WORLD = "original"


@functools.cache
def world_names() -> tuple[str, ...]:
    """The worlds that ship with insider (folders of ``worlds/`` with a world.yaml)."""
    return tuple(sorted(p.parent.name for p in WORLDS_DIR.glob("*/world.yaml")))


def known_worlds() -> tuple[str, ...]:
    """Every value a condition's ``world`` may take: our worlds and the original."""
    return (*world_names(), ORIGINAL_WORLD)


# Where the original world's prompts and classifiers live, and how a user gets them.
ORIGINAL_PACKAGE = "inspect_evals.agentic_misalignment"
ORIGINAL_INSTALL_HINT = "pip install 'insider[replication]'"


def original_installed() -> bool:
    """Whether the package holding the original world is installed (found without importing)."""
    return importlib.util.find_spec("inspect_evals") is not None


@functools.cache
def paraphrase_count(root: Path) -> int:
    """How many paraphrase overlays a world has (``paraphrases/1``, ``paraphrases/2``, ...)."""
    count = 0
    while (root / "paraphrases" / str(count + 1)).is_dir():
        count += 1
    return count
