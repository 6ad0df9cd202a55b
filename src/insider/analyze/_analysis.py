"""One analysis: every table of a run, built from its samples table.

A new table is a field here and a line in ``analyze_samples``; the pipeline writes every table
field (``Analysis.table_names``) as Parquet and CSV, and the report receives the ``Analysis``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from insider.analyze._tables import (
    awareness_table,
    contrasts_table,
    default_contrasts,
    gate_table,
    rates_table,
    robustness_table,
)


@dataclass
class Analysis:
    """The tables of one analysis (docs/architecture.md), and where they were written."""

    judge_id: str
    samples: pd.DataFrame
    rates: pd.DataFrame
    contrasts: pd.DataFrame
    awareness: pd.DataFrame
    robustness: pd.DataFrame
    gate: pd.DataFrame
    files: list[Path] = field(default_factory=list)

    @classmethod
    def table_names(cls) -> tuple[str, ...]:
        """Every table, in order: the fields that hold a DataFrame."""
        hints = typing.get_type_hints(cls)
        return tuple(f.name for f in dataclasses.fields(cls) if hints[f.name] is pd.DataFrame)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Table name -> table, in order."""
        return {name: getattr(self, name) for name in self.table_names()}


def analyze_samples(
    samples: pd.DataFrame,
    contrasts: Sequence[Mapping[str, Any]] = (),
    judge_id: str = "",
) -> Analysis:
    """Every table from a samples table; without ``contrasts`` the default ones."""
    specs = list(contrasts) or default_contrasts(samples)
    return Analysis(
        judge_id=judge_id,
        samples=samples,
        rates=rates_table(samples),
        contrasts=contrasts_table(samples, specs),
        awareness=awareness_table(samples),
        robustness=robustness_table(samples),
        gate=gate_table(samples),
    )
