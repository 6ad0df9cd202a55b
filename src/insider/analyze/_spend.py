"""What a run spent: tokens and USD per model and per judge, summed as samples are read.

The pipeline prices each call (``insider.run``'s price table, batch and cache prices
included) and adds it here; this module only sums. A model or judge without a price has
``cost_usd`` NaN and ``priced`` False: its tokens are counted, its cost is unknown, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

SPEND_COLUMNS = [
    "role", "name", "model", "calls", "batch_calls", "input_tokens", "cached_input_tokens",
    "cache_write_tokens", "output_tokens", "reasoning_tokens", "cost_usd", "priced",
]  # fmt: skip
TOKEN_FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)


@dataclass
class _Line:
    model: str
    calls: int = 0
    batch_calls: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_FIELDS, 0))
    cost_usd: float = 0.0
    priced: bool = True


@dataclass
class SpendTally:
    """Calls, tokens and cost per (role, name): ``model`` rows and ``judge`` rows."""

    _lines: dict[tuple[str, str], _Line] = field(default_factory=dict)

    def add(
        self,
        role: str,
        name: str,
        model: str,
        *,
        calls: int,
        batched: bool,
        tokens: dict[str, int],
        cost_usd: float | None,
    ) -> None:
        """One sample's calls of one model (``cost_usd`` None: the model has no price)."""
        line = self._lines.setdefault((role, name), _Line(model))
        line.calls += calls
        line.batch_calls += calls if batched else 0
        for key in TOKEN_FIELDS:
            line.tokens[key] += int(tokens.get(key, 0))
        if cost_usd is None:
            line.priced = False
        else:
            line.cost_usd += cost_usd

    def table(self) -> pd.DataFrame:
        """One row per model and per judge (models first), in the order first seen."""
        rows = [
            {
                "role": role,
                "name": name,
                "model": line.model,
                "calls": line.calls,
                "batch_calls": line.batch_calls,
                **line.tokens,
                "cost_usd": line.cost_usd if line.priced else float("nan"),
                "priced": line.priced,
            }
            for (role, name), line in sorted(
                self._lines.items(), key=lambda item: item[0][0] != "model"
            )
        ]
        return pd.DataFrame(rows, columns=SPEND_COLUMNS)


def total_cost(spend: pd.DataFrame) -> float | None:
    """The run's cost in USD; None when some model or judge has no price."""
    if spend.empty:
        return 0.0
    if not bool(spend["priced"].all()):
        return None
    return float(spend["cost_usd"].sum())


def spend_summary(spend: pd.DataFrame) -> dict[str, Any]:
    """The spend table as plain JSON: the total, then one entry per model and per judge."""
    total = total_cost(spend)
    entries: dict[str, list[dict[str, Any]]] = {"models": [], "judges": []}
    for row in spend.to_dict("records"):
        entry = {key: row[key] for key in SPEND_COLUMNS if key not in ("role", "priced")}
        entry["cost_usd"] = None if not row["priced"] else round(float(row["cost_usd"]), 6)
        for key in ("calls", "batch_calls", *TOKEN_FIELDS):
            entry[key] = int(entry[key])
        entries["models" if row["role"] == "model" else "judges"].append(entry)
    return {"total_usd": None if total is None else round(total, 6), **entries}
