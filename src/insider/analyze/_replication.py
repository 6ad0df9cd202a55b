"""Replication tables: our rates beside the published ones, and agreement between two rubrics.

Both are pure functions over tables. The published figures are data (``published_rates.yaml``:
model, condition, rate, n and citation), read once into a typed model.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from insider.analyze._stats import newcombe_arrays
from insider.analyze._tables import normalise_value, rates_table
from insider.classify import LABELS, LabelState
from insider.errors import ConfigError

PUBLISHED_FILE = Path(__file__).with_name("published_rates.yaml")

PUBLISHED_COLUMNS = [
    "scoring", "model", "published_model", "condition_id", "world", "scenario", "label",
    "k", "n_valid", "rate", "ci_low", "ci_high", "published_rate", "published_n",
    "diff", "diff_low", "diff_high", "agrees", "citation", "note",
]  # fmt: skip
AGREEMENT_COLUMNS = [
    "reference", "label", "n_compared", "both_harmful", "ours_only", "reference_only",
    "both_not_harmful", "n_excluded", "observed_agreement", "kappa",
]  # fmt: skip
_SCORED = (LabelState.HARMFUL.value, LabelState.NOT_HARMFUL.value)


class PublishedRate(BaseModel):
    """One published figure: a model's rate of a behaviour in one condition."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="The model's name as published, e.g. GPT-4.1")
    aliases: tuple[str, ...] = Field(default=(), description="Inspect model strings for it")
    scenario: str
    label: str
    condition: dict[str, Any] = Field(description="The condition fields the figure fixes")
    rate: float = Field(ge=0.0, le=1.0)
    n: int = Field(ge=1)
    citation: str
    note: str = ""

    def names(self) -> set[str]:
        return {name.lower() for name in (self.model, *self.aliases)}


class PublishedTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    citations: dict[str, str]
    rows: tuple[PublishedRate, ...]


@functools.cache
def load_published(path: Path = PUBLISHED_FILE) -> tuple[PublishedRate, ...]:
    """The published figures; a row's ``citation`` names an entry of ``citations``."""
    try:
        table = PublishedTable.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise ConfigError(f"{path}: not a table of published rates: {error}") from error
    rows = []
    for number, row in enumerate(table.rows, start=1):
        if row.citation not in table.citations:
            raise ConfigError(f"{path}: row {number}: unknown citation {row.citation!r}")
        rows.append(row.model_copy(update={"citation": table.citations[row.citation]}))
    return tuple(rows)


def _matches(rates: pd.DataFrame, row: PublishedRate, names: Mapping[str, set[str]]) -> pd.Series:
    """Rates rows of this figure's model, scenario, label and condition fields (any world)."""
    wanted = row.names()
    # astype: mapping a categorical column gives a categorical, which `&` refuses
    model_hit = (
        rates["model"]
        .map(lambda m: bool(names.get(str(m), {str(m).lower()}) & wanted))
        .astype(bool)
    )
    hit = model_hit & (rates["scenario"] == row.scenario) & (rates["label"] == row.label)
    for field, value in row.condition.items():
        if field not in rates.columns:
            return pd.Series(False, index=rates.index)
        expected = normalise_value(field, value)
        hit &= rates[field].map(lambda v, f=field: normalise_value(f, v)) == expected
    return hit


def published_table(
    rates: pd.DataFrame,
    scoring: str,
    published: Sequence[PublishedRate] | None = None,
    model_names: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Our rate beside each published figure whose model and condition a run matches.

    ``model_names`` maps a rates table's model (its display name) to the names it also goes by
    (its Inspect model string). ``diff`` is ours minus published with its 95 % Newcombe
    interval; ``agrees`` says whether that interval holds 0.
    """
    published = load_published() if published is None else published
    names = {m: {n.lower() for n in (m, *more)} for m, more in (model_names or {}).items()}
    frames = []
    for row in published:
        hit = rates[_matches(rates, row, names)]
        if hit.empty:
            continue
        frame = hit[["model", "condition_id", "scenario", "label", "k", "n_valid"]].copy()
        frame["world"] = hit["world"] if "world" in hit.columns else ""
        frame[["rate", "ci_low", "ci_high"]] = hit[["rate", "ci_low", "ci_high"]]
        frame["published_model"] = row.model
        frame["published_rate"] = row.rate
        frame["published_n"] = row.n
        frame["citation"] = row.citation
        frame["note"] = row.note
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=PUBLISHED_COLUMNS)
    table = pd.concat(frames, ignore_index=True)
    table["scoring"] = scoring
    published_k = np.rint(table["published_rate"] * table["published_n"]).astype(np.int64)
    diff, low, high = newcombe_arrays(
        table["k"].to_numpy(np.int64),
        table["n_valid"].to_numpy(np.int64),
        published_k.to_numpy(),
        table["published_n"].to_numpy(np.int64),
    )
    table["diff"], table["diff_low"], table["diff_high"] = diff, low, high
    table["agrees"] = (low <= 0) & (high >= 0)
    return table[PUBLISHED_COLUMNS]


def kappa(both_harmful: int, ours_only: int, reference_only: int, both_not: int) -> float:
    """Cohen's kappa of a 2 x 2 table; NaN when it is undefined (chance agreement is 1)."""
    n = both_harmful + ours_only + reference_only + both_not
    if n == 0:
        return float("nan")
    observed = (both_harmful + both_not) / n
    ours_yes = (both_harmful + ours_only) / n
    ref_yes = (both_harmful + reference_only) / n
    chance = ours_yes * ref_yes + (1 - ours_yes) * (1 - ref_yes)
    return float("nan") if chance >= 1.0 else (observed - chance) / (1.0 - chance)


def rubric_agreement(
    ours: pd.DataFrame, reference: pd.DataFrame, reference_id: str
) -> pd.DataFrame:
    """Per label, how our labels and a reference scoring's agree on the same samples.

    Both tables are samples tables (``model``, ``sample_id`` and one column of states per
    label). A label the reference never scored (it does not assess it) has no row. Samples
    where either side is error or unscored are counted in ``n_excluded`` only.
    """
    keys = ["model", "sample_id"]
    labels = [label for label in LABELS if label in ours.columns and label in reference.columns]
    joined = ours[keys + labels].merge(
        reference[keys + labels], on=keys, suffixes=("", "_reference")
    )
    rows = []
    for label in labels:
        mine, theirs = joined[label], joined[f"{label}_reference"]
        if not theirs.isin(_SCORED).any():
            continue
        both = mine.isin(_SCORED) & theirs.isin(_SCORED)
        m, t = mine[both] == "harmful", theirs[both] == "harmful"
        cells = (int((m & t).sum()), int((m & ~t).sum()), int((~m & t).sum()), int((~m & ~t).sum()))
        compared = sum(cells)
        rows.append(
            {
                "reference": reference_id,
                "label": label,
                "n_compared": compared,
                "both_harmful": cells[0],
                "ours_only": cells[1],
                "reference_only": cells[2],
                "both_not_harmful": cells[3],
                "n_excluded": int((~both).sum()),
                "observed_agreement": (cells[0] + cells[3]) / compared if compared else np.nan,
                "kappa": kappa(*cells),
            }
        )
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)


def replication_tables(
    samples: pd.DataFrame,
    rates: pd.DataFrame,
    scoring: str,
    references: Mapping[str, pd.DataFrame],
    model_names: Mapping[str, Sequence[str]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the published figures beside these rates and each reference's, agreement with each).

    ``references`` maps a scoring id to the samples table as that scoring labelled it.
    """
    published = [published_table(rates, scoring, model_names=model_names)]
    agreement = [pd.DataFrame(columns=AGREEMENT_COLUMNS)]
    for reference_id, reference in references.items():
        reference_rates = rates_table(reference)
        published.append(published_table(reference_rates, reference_id, model_names=model_names))
        agreement.append(rubric_agreement(samples, reference, reference_id))
    return _stack(published, PUBLISHED_COLUMNS), _stack(agreement, AGREEMENT_COLUMNS)


def _stack(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    filled = [frame for frame in frames if not frame.empty]
    if not filled:
        return pd.DataFrame(columns=columns)
    return pd.concat(filled, ignore_index=True)[columns]
