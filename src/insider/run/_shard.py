"""Shards: a deterministic K-th of N of a run's samples, for any machine, key or GPU node.

A sample belongs to shard ``K/N`` when the hash of its stable id, modulo N, is K-1. The ids
are stable hashes of (condition, sample index), so every machine computes the same split
without talking to the others, and ``insider analyze`` merges the shards' run directories
into the tables one unsharded run gives.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from insider.errors import ConfigError

_SPELLING = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
MAX_SHARDS = 10_000


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (1-based, as written: ``--shard 2/4``)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ConfigError(f"--shard {self}: N must be in 1..{MAX_SHARDS}")
        if not 1 <= self.index <= self.count:
            raise ConfigError(f"--shard {self}: K must be in 1..N (here 1..{self.count})")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, sample_id: str) -> bool:
        """Whether the sample with this id is in the shard."""
        digest = hashlib.sha256(sample_id.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``K/N``, e.g. ``2/4``; anything else is a ConfigError."""
        found = _SPELLING.match(text)
        if found is None:
            raise ConfigError(f"--shard {text!r}: write K/N, e.g. 2/4 (the 2nd of 4 shards)")
        return cls(int(found.group(1)), int(found.group(2)))
