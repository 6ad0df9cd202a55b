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

import numpy as np
import numpy.typing as npt
import pandas as pd

from insider.analyze._replication import replication_tables
from insider.analyze._tables import (
    awareness_table,
    contrasts_table,
    default_contrasts,
    gate_table,
    rates_table,
    robustness_table,
    weakest_basis,
)
from insider.classify import LABELS, JudgeTrust

VALIDATION_COLUMNS = [
    "judge_id", "label", "validated", "status", "verdicts_by_judge", "gold_judged",
    "gold_answered", "gold_accuracy", "gold_kappa", "validated_at", "rubric_version",
    "gold_sets",
]  # fmt: skip


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
    # Per label: whether the scoring's judge was validated, how well, and how many of this
    # run's verdicts it gave (docs/architecture.md, "Judge validation").
    validation: pd.DataFrame = field(default_factory=pd.DataFrame)
    trust: JudgeTrust | None = None
    # What the run spent, per model and per judge (``SpendTally``; the pipeline prices it).
    spend: pd.DataFrame = field(default_factory=pd.DataFrame)
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
    trust: JudgeTrust | None = None,
) -> Analysis:
    """Every table from a samples table; without ``contrasts`` the default ones.

    ``references`` are other scorings of the same samples (scoring id -> samples table; the
    original classifiers' scorings), set beside the published figures and compared label by
    label. ``model_names`` maps a table's model to the other names it goes by (its Inspect
    model string), for matching the published figures. ``trust`` is the scoring's judge and
    its validation as the run recorded it; without it, figures a judge decided count as
    resting on an unvalidated judge.
    """
    trust = trust or JudgeTrust(judge_id=judge_id, recorded=False)
    specs = list(contrasts) or default_contrasts(samples)
    rates = rates_table(samples)
    rates["basis"] = _basis(trust, rates["label"], rates["n_judged"])
    published, agreement = replication_tables(
        samples, rates, judge_id, references or {}, model_names or {}
    )
    contrast = contrasts_table(samples, specs)
    contrast["basis"] = _basis(trust, contrast["label"], contrast["n_judged"])
    by_label = _label_basis(rates)
    analysis = Analysis(
        judge_id=judge_id,
        samples=samples,
        rates=rates,
        contrasts=contrast,
        awareness=_with_basis(awareness_table(samples), by_label),
        robustness=_with_basis(robustness_table(samples), by_label),
        gate=_with_basis(gate_table(samples), by_label),
        published=_published_basis(published, judge_id, by_label),
        agreement=agreement,
        validation=validation_table(trust, rates),
        trust=trust,
    )
    return analysis


def _basis(trust: JudgeTrust, labels: pd.Series, judged: pd.Series) -> npt.NDArray[np.str_]:
    """Per row: evidence (no judge verdict in it), or a validated / unvalidated judge."""
    validated = {label: trust.validated(label) for label in LABELS}
    trusted = labels.map(validated).fillna(False).to_numpy(dtype=bool)
    some = judged.fillna(0).to_numpy(dtype=np.int64) > 0
    return np.where(
        ~some, "evidence", np.where(trusted, "validated judge", "unvalidated judge")
    ).astype(object)


def _label_basis(rates: pd.DataFrame) -> dict[str, str]:
    """Per label over the whole run: the weakest basis any of its figures rests on."""
    if rates.empty:
        return {}
    return {str(k): str(v) for k, v in rates.groupby("label")["basis"].agg(weakest_basis).items()}


def _with_basis(table: pd.DataFrame, by_label: Mapping[str, str]) -> pd.DataFrame:
    table = table.copy()
    table["basis"] = table["label"].map(dict(by_label)).fillna("evidence") if len(table) else []
    return table


def _published_basis(
    published: pd.DataFrame, judge_id: str, by_label: Mapping[str, str]
) -> pd.DataFrame:
    """Our scoring's rows by label; a reference scoring (the original classifiers, whose
    grader is not validated against the gold sets) rests on an unvalidated judge."""
    table = published.copy()
    if table.empty:
        table["basis"] = []
        return table
    ours = table["scoring"] == judge_id
    table["basis"] = np.where(
        ours, table["label"].map(dict(by_label)).fillna("evidence"), "unvalidated judge"
    )
    return table


def validation_table(trust: JudgeTrust, rates: pd.DataFrame) -> pd.DataFrame:
    """Per label: the judge's validation as recorded, and how many verdicts it gave here."""
    record = trust.validation
    judged = rates.groupby("label")["n_judged"].sum() if not rates.empty else pd.Series()
    sets = (
        ", ".join(f"{g.name} {g.version} ({g.n_samples})" for g in record.gold_sets)
        if record
        else ""
    )
    rows = []
    for label in LABELS:
        validated, status = trust.label(label)
        gold = record.labels.get(label) if record else None
        rows.append(
            {
                "judge_id": trust.judge_id,
                "label": label,
                "validated": validated,
                "status": status,
                "verdicts_by_judge": int(judged.get(label, 0)),
                "gold_judged": gold.n_judged if gold else None,
                "gold_answered": gold.answered if gold else None,
                "gold_accuracy": gold.accuracy if gold else None,
                "gold_kappa": gold.kappa if gold else None,
                "validated_at": record.validated_at if record else "",
                "rubric_version": record.rubric_version if record else "",
                "gold_sets": sets,
            }
        )
    return pd.DataFrame(rows, columns=VALIDATION_COLUMNS)
