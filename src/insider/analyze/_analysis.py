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

from insider.analyze._replication import replication_tables
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
    # Replication (docs/replication.md): the published figures beside the matching rates, and
    # per label the agreement of these labels with each scoring by the original classifiers.
    published: pd.DataFrame = field(default_factory=pd.DataFrame)
    agreement: pd.DataFrame = field(default_factory=pd.DataFrame)
    files: list[Path] = field(default_factory=list)
    unscored_samples: int = 0
    """Samples without a verdict for their current log record (``insider classify`` them)."""

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
    references: Mapping[str, pd.DataFrame] | None = None,
    model_names: Mapping[str, Sequence[str]] | None = None,
) -> Analysis:
    """Every table from a samples table; without ``contrasts`` the default ones.

    ``references`` are other scorings of the same samples (scoring id -> samples table; the
    original classifiers' scorings), set beside the published figures and compared label by
    label. ``model_names`` maps a table's model to the other names it goes by (its Inspect
    model string), for matching the published figures.
    """
    specs = list(contrasts) or default_contrasts(samples)
    rates = rates_table(samples)
    published, agreement = replication_tables(
        samples, rates, judge_id, references or {}, model_names or {}
    )
    return Analysis(
        judge_id=judge_id,
        samples=samples,
        rates=rates,
        contrasts=contrasts_table(samples, specs),
        awareness=awareness_table(samples),
        robustness=robustness_table(samples),
        gate=gate_table(samples),
        published=published,
        agreement=agreement,
    )
