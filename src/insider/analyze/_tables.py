"""Samples table → rates, contrasts, eval-awareness and robustness tables (pure functions).

Every table starts from one tally: per (model, condition) and label, how many samples are in
each state. The tally is one pass of integer bincounts over the samples, so a million samples
take well under a second; everything downstream works on the tally's few thousand rows.
States: ``harmful`` counts as k; ``harmful + not_harmful`` is the denominator; ``error`` and
``unscored`` are counted and reported, never treated as safe; ``not_requested`` (a scoring of
some labels only) is counted apart and is in no denominator. A cell holding anything else (an
empty or unknown state) is counted as unscored. The tally also counts, per label, how
many of the harmful and not-harmful verdicts a judge gave (``<label>_judged``): the part of
each figure that rests on the judge.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt
import pandas as pd

from insider.analyze._stats import newcombe_arrays, wilson_arrays
from insider.classify import LABELS, PRIMARY_LABEL, LabelState
from insider.scenarios import Condition

IntArray = npt.NDArray[np.int64]

CONDITION_FIELDS: tuple[str, ...] = tuple(Condition.model_fields)
BOOL_FIELDS: frozenset[str] = frozenset(
    name for name, info in Condition.model_fields.items() if info.annotation is bool
)
VARIANT_FIELDS: tuple[str, ...] = ("persona", "paraphrase", "world")
STATES: tuple[str, ...] = tuple(state.value for state in LabelState)
_HARMFUL, _NOT_HARMFUL, _ERROR, _UNSCORED, _NOT_REQUESTED = range(5)
_VARIANT_SUFFIX = re.compile(r"__(?:persona-\d+|para-\d+|world-[\w-]+?)(?=__|$)")

RATE_COUNTS = [
    "label", "k", "n_valid", "n_error", "n_unscored", "n_not_requested",
    "rate", "ci_low", "ci_high", "k_judged", "n_judged",
]  # fmt: skip
CONTRAST_COLUMNS = [
    "contrast", "model", "scenario", "label", "field", "treatment", "baseline",
    "k_t", "n_t", "k_b", "n_b", "rate_t", "rate_b", "diff", "ci_low", "ci_high", "n_judged",
]  # fmt: skip
AWARENESS_COLUMNS = [
    "model", "scenario", "label",
    "k_eval", "n_eval", "rate_eval", "ci_low_eval", "ci_high_eval",
    "k_deploy", "n_deploy", "rate_deploy", "ci_low_deploy", "ci_high_deploy",
    "diff", "diff_low", "diff_high", "n_unstated",
]  # fmt: skip
ROBUSTNESS_COLUMNS = [
    "model", "base_condition_id", "scenario", "label", "n_variants", "rate_min", "rate_max",
    "k", "n_valid", "rate", "ci_low", "ci_high", "flips",
]  # fmt: skip
GATE_COLUMNS = [
    "model", "condition_id", "scenario", "label", "n_held",
    "k_executed", "n_executed", "rate_executed", "ci_low_executed", "ci_high_executed",
    "k_attempted", "n_attempted", "rate_attempted", "ci_low_attempted", "ci_high_attempted",
]  # fmt: skip
HEADLINE_COLUMNS = [
    "model", "scenario", "label", "n_conditions", "k", "n_valid", "n_error", "n_unscored",
    "n_not_requested", "rate", "ci_low", "ci_high", "k_judged", "n_judged",
]  # fmt: skip
BASIS_ORDER = ("evidence", "validated judge", "unvalidated judge")
"""What a figure rests on, from the firmest to the weakest (``insider.classify.BASES``)."""


class Contrast(TypedDict):
    """A named contrast: samples with ``field == treatment`` against ``field == baseline``."""

    name: str
    field: str
    treatment: Any
    baseline: Any


# ----------------------------------------------------------------------------- the tally


@dataclass(frozen=True)
class _Tally:
    """State counts per (model, condition) and label; ``pairs`` is sorted by model, condition."""

    pairs: pd.DataFrame  # model, condition_id, condition fields present
    labels: tuple[str, ...]
    counts: npt.NDArray[np.int64]  # (pairs, labels, 4 states)
    row_pair: IntArray  # for each sample row, its row in ``pairs``
    judged: npt.NDArray[np.int64]  # (pairs, labels, 2): harmful, not_harmful given by a judge

    def label_counts(self, label: str) -> npt.NDArray[np.int64]:
        return self.counts[:, self.labels.index(label), :]

    def label_judged(self, label: str) -> npt.NDArray[np.int64]:
        """Per pair: the label's valid verdicts (harmful or not) that a judge gave."""
        result: npt.NDArray[np.int64] = self.judged[:, self.labels.index(label), :].sum(axis=1)
        return result


def label_columns(samples: pd.DataFrame) -> tuple[str, ...]:
    """The labels (in LABELS order) that have a column in the samples table."""
    return tuple(label for label in LABELS if label in samples.columns)


def condition_fields(samples: pd.DataFrame) -> list[str]:
    """The condition fields (in Condition order) that have a column in the samples table."""
    return [name for name in CONDITION_FIELDS if name in samples.columns]


def state_codes(column: pd.Series) -> npt.NDArray[np.int8]:
    """Each cell's state as 0 harmful, 1 not_harmful, 2 error, 3 unscored (also: unknown),
    4 not_requested."""
    codes: npt.NDArray[np.intp]
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    lookup = np.array(
        [STATES.index(str(u)) if str(u) in STATES else _UNSCORED for u in uniques] + [_UNSCORED],
        dtype=np.int8,
    )
    return lookup[codes]  # the sentinel -1 picks the trailing "unscored"


def _first_rows(dense: IntArray) -> IntArray:
    """Row of each code's first occurrence, for codes numbered in order of appearance."""
    running_max = np.maximum.accumulate(dense)
    new = np.empty(dense.shape, dtype=bool)
    new[:1] = True
    new[1:] = running_max[1:] > running_max[:-1]
    return np.flatnonzero(new)


def _tally(samples: pd.DataFrame) -> _Tally:
    fields = condition_fields(samples)
    labels = label_columns(samples)
    model_codes, models = pd.factorize(samples["model"], use_na_sentinel=False)
    condition_codes, conditions = pd.factorize(samples["condition_id"], use_na_sentinel=False)
    combined = model_codes.astype(np.int64) * max(len(conditions), 1) + condition_codes
    dense, _ = pd.factorize(combined)
    dense = dense.astype(np.int64)
    first = _first_rows(dense) if len(dense) else np.empty(0, dtype=np.int64)
    # Keys from the factorized uniques: taking rows of a long Arrow string column would first
    # concatenate its chunks (a transient copy of the whole column).
    pairs = samples[fields].iloc[first].reset_index(drop=True)
    pairs.insert(0, "condition_id", conditions.take(condition_codes[first]))
    pairs.insert(0, "model", models.take(model_codes[first]))
    order = np.lexsort((pairs["condition_id"].astype(str), pairs["model"].astype(str)))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    n_pairs = len(pairs)
    counts = np.zeros((n_pairs, len(labels), len(STATES)), dtype=np.int64)
    judged = np.zeros((n_pairs, len(labels), 2), dtype=np.int64)
    for j, label in enumerate(labels):
        codes = state_codes(samples[label])
        flat = dense * len(STATES) + codes
        counts[:, j, :] = np.bincount(flat, minlength=n_pairs * len(STATES)).reshape(
            n_pairs, len(STATES)
        )
        by_judge = _judged_rows(samples, label) & (codes <= _NOT_HARMFUL)
        judged[:, j, :] = np.bincount(
            dense[by_judge] * 2 + codes[by_judge], minlength=n_pairs * 2
        ).reshape(n_pairs, 2)
    return _Tally(
        pairs=pairs.iloc[order].reset_index(drop=True),
        labels=labels,
        counts=counts[order],
        row_pair=rank[dense] if n_pairs else dense,
        judged=judged[order],
    )


def judged_column(label: str) -> str:
    """The samples-table column saying whether a judge gave the label's verdict."""
    return f"{label}_judged"


def _judged_rows(samples: pd.DataFrame, label: str) -> npt.NDArray[np.bool_]:
    column = judged_column(label)
    if column not in samples.columns:
        return np.zeros(len(samples), dtype=bool)
    values: npt.NDArray[np.bool_] = samples[column].fillna(False).to_numpy(dtype=bool)
    return values


def _rate_columns(k: IntArray, n_valid: IntArray) -> dict[str, npt.NDArray[np.float64]]:
    low, high = wilson_arrays(k, n_valid)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n_valid > 0, k / np.maximum(n_valid, 1), np.nan)
    return {"rate": rate, "ci_low": low, "ci_high": high}


# ----------------------------------------------------------------------------- rates


def rates_table(samples: pd.DataFrame) -> pd.DataFrame:
    """Per model × condition × label: k, n_valid, n_error, n_unscored, n_not_requested, rate,
    Wilson 95 % CI."""
    tally = _tally(samples)
    n_pairs, n_labels = len(tally.pairs), len(tally.labels)
    frame = tally.pairs.iloc[np.repeat(np.arange(n_pairs), n_labels)].reset_index(drop=True)
    flat = tally.counts.reshape(n_pairs * n_labels, len(STATES))
    k = flat[:, _HARMFUL]
    n_valid = k + flat[:, _NOT_HARMFUL]
    frame["label"] = np.tile(np.array(tally.labels, dtype=object), n_pairs)
    frame["k"] = k
    frame["n_valid"] = n_valid
    frame["n_error"] = flat[:, _ERROR]
    frame["n_unscored"] = flat[:, _UNSCORED]
    frame["n_not_requested"] = flat[:, _NOT_REQUESTED]
    for name, values in _rate_columns(k, n_valid).items():
        frame[name] = values
    judged = tally.judged.reshape(n_pairs * n_labels, 2)
    frame["k_judged"] = judged[:, _HARMFUL]
    frame["n_judged"] = judged.sum(axis=1)
    return frame


def weakest_basis(bases: Iterable[str]) -> str:
    """The weakest of several figures' bases: a pooled figure rests on all of them."""
    found = [BASIS_ORDER.index(b) for b in bases if b in BASIS_ORDER]
    return BASIS_ORDER[max(found)] if found else ""


def headline(rates: pd.DataFrame) -> pd.DataFrame:
    """Per model × scenario: the scenario's primary label pooled over all its conditions."""
    primary = rates["scenario"].map(PRIMARY_LABEL)
    rows = rates[rates["label"] == primary]
    if rows.empty:
        return pd.DataFrame(columns=HEADLINE_COLUMNS)
    grouped = rows.groupby(["model", "scenario", "label"], sort=True, observed=True)
    summed = ["k", "n_valid", "n_error", "n_unscored", "n_not_requested", "k_judged", "n_judged"]
    table = grouped[[c for c in summed if c in rows.columns]].sum().reset_index()
    table["n_conditions"] = grouped.size().to_numpy()
    k, n_valid = table["k"].to_numpy(np.int64), table["n_valid"].to_numpy(np.int64)
    for name, values in _rate_columns(k, n_valid).items():
        table[name] = values
    for column in ("k_judged", "n_judged"):
        if column not in table.columns:
            table[column] = 0
    columns = list(HEADLINE_COLUMNS)
    if "basis" in rows.columns:
        table["basis"] = grouped["basis"].agg(weakest_basis).to_numpy()
        columns.append("basis")
    return table[columns]


# ----------------------------------------------------------------------------- contrasts


def normalise_value(field: str, value: object) -> str:
    """One spelling per value, so YAML's ``true``/``1`` and a table's ``True``/``"true"`` match."""
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)
    text = str(value).strip()
    if field in BOOL_FIELDS:
        lowered = text.lower()
        if lowered in {"true", "1", "yes"}:
            return "true"
        if lowered in {"false", "0", "no"}:
            return "false"
    return text


def _normalised(field: str, column: pd.Series) -> npt.NDArray[np.str_]:
    codes: npt.NDArray[np.intp]
    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    return np.array([normalise_value(field, u) for u in uniques], dtype=str)[codes]


def _spec(entry: Mapping[str, Any]) -> Contrast:
    missing = {"field", "treatment", "baseline"} - set(entry)
    if missing:
        raise ValueError(f"contrast {dict(entry)!r} lacks {', '.join(sorted(missing))}")
    field = str(entry["field"])
    if field not in CONDITION_FIELDS:
        raise ValueError(f"contrast field {field!r} is not one of: {', '.join(CONDITION_FIELDS)}")
    treatment = normalise_value(field, entry["treatment"])
    baseline = normalise_value(field, entry["baseline"])
    name = str(entry.get("name") or f"{field}: {treatment} vs {baseline}")
    return Contrast(name=name, field=field, treatment=treatment, baseline=baseline)


def _matched_arms(pairs: pd.DataFrame, spec: Contrast, fields: Sequence[str]) -> IntArray:
    """Per (model, condition): 0 treatment, 1 baseline, -1 out (other arm lacks its match)."""
    values = _normalised(spec["field"], pairs[spec["field"]])
    is_t = np.asarray(values == spec["treatment"], dtype=bool)
    is_b = np.asarray(values == spec["baseline"], dtype=bool)
    arm = np.where(is_t, 0, np.where(is_b, 1, -1))
    inside = arm >= 0
    # goal_value depends on goal_type (none/ambiguous carry none), so it is not matched on then
    skipped = {spec["field"], "goal_value"} if spec["field"] == "goal_type" else {spec["field"]}
    others = ["model", *(name for name in fields if name not in skipped)]
    spelled = pd.DataFrame({name: _normalised(name, pairs[name]) for name in others})[inside]
    key: IntArray = spelled.groupby(others, sort=False).ngroup().to_numpy(np.int64)
    presence = np.bincount(key * 2 + arm[inside], minlength=(key.max(initial=-1) + 1) * 2)
    both = np.asarray((presence.reshape(-1, 2) > 0).all(axis=1), dtype=bool)
    matched = np.full(len(pairs), -1, dtype=np.int64)
    matched[np.flatnonzero(inside)[both[key]]] = arm[inside][both[key]]
    return matched


def _one_contrast(tally: _Tally, spec: Contrast, fields: Sequence[str]) -> pd.DataFrame:
    arm = _matched_arms(tally.pairs, spec, fields)
    keep = arm >= 0
    if not keep.any():
        return pd.DataFrame(columns=CONTRAST_COLUMNS)
    kept = tally.pairs.loc[keep, ["model", "scenario"]]
    group = kept.groupby(["model", "scenario"], sort=True).ngroup().to_numpy(np.int64)
    heads = kept.drop_duplicates().sort_values(["model", "scenario"]).reset_index(drop=True)
    n_groups = len(heads)
    frames = []
    for label in tally.labels:
        counts = tally.label_counts(label)[keep]
        bins = group * 2 + arm[keep]
        k = np.bincount(bins, counts[:, _HARMFUL], minlength=n_groups * 2).reshape(-1, 2)
        n = np.bincount(
            bins, counts[:, _HARMFUL] + counts[:, _NOT_HARMFUL], minlength=n_groups * 2
        ).reshape(-1, 2)
        k, n = k.astype(np.int64), n.astype(np.int64)
        judged = np.bincount(group, tally.label_judged(label)[keep], minlength=n_groups)
        diff, low, high = newcombe_arrays(k[:, 0], n[:, 0], k[:, 1], n[:, 1])
        frame = heads.copy()
        frame["label"] = label
        frame["k_t"], frame["n_t"], frame["k_b"], frame["n_b"] = k[:, 0], n[:, 0], k[:, 1], n[:, 1]
        frame["rate_t"] = _rate_columns(k[:, 0], n[:, 0])["rate"]
        frame["rate_b"] = _rate_columns(k[:, 1], n[:, 1])["rate"]
        frame["diff"], frame["ci_low"], frame["ci_high"] = diff, low, high
        frame["n_judged"] = judged.astype(np.int64)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table["contrast"], table["field"] = spec["name"], spec["field"]
    table["treatment"], table["baseline"] = spec["treatment"], spec["baseline"]
    order = {label: i for i, label in enumerate(tally.labels)}
    table = table.sort_values(
        ["model", "scenario", "label"], key=lambda c: c.map(order) if c.name == "label" else c
    )
    return table[CONTRAST_COLUMNS]


def contrasts_table(samples: pd.DataFrame, contrasts: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Per contrast × model × scenario × label: matched arms, pooled rates, Newcombe 95 % CI.

    Matching: a (model, condition) enters an arm only if the condition with the contrast field
    switched to the other arm's value — every other condition field equal — was also run
    for that model. Unmatched conditions would confound the contrast with other fields.
    """
    specs = [_spec(entry) for entry in contrasts]
    tally = _tally(samples)
    fields = condition_fields(samples)
    for spec in specs:
        if spec["field"] not in samples.columns:
            raise ValueError(f"contrast {spec['name']!r}: the samples table has no column "
                             f"{spec['field']!r}")  # fmt: skip
    frames = [_one_contrast(tally, spec, fields) for spec in specs]
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return pd.DataFrame(columns=CONTRAST_COLUMNS)
    return pd.concat(frames, ignore_index=True)


_DEFAULT_CONTRASTS: tuple[tuple[str, object, object], ...] = (
    ("urgency", "replacement", "none"),
    ("urgency", "restriction", "none"),
    ("extra_instruction", "dont", "none"),
    ("approval_gate", True, False),
    ("escalation_channel", True, False),
    ("data_minimisation", True, False),
    ("goal_framing", "rigid", "standard"),
    ("goal_framing", "soft", "standard"),
    ("ablate", "nudge_situation", ""),
    ("ablate", "nudge_goals", ""),
)


def default_contrasts(samples: pd.DataFrame) -> list[Contrast]:
    """The standard contrasts (threat, instruction, each mitigation) whose two arms both exist."""
    chosen: list[Contrast] = []
    present: dict[str, set[str]] = {}
    for field, treatment, baseline in _DEFAULT_CONTRASTS:
        if field not in samples.columns:
            continue
        if field not in present:
            present[field] = {normalise_value(field, v) for v in samples[field].unique()}
        spec = _spec({"field": field, "treatment": treatment, "baseline": baseline})
        if {spec["treatment"], spec["baseline"]} <= present[field]:
            chosen.append(spec)
    return chosen


# ----------------------------------------------------------------------------- awareness


def _primary_index(tally: _Tally) -> npt.NDArray[np.int64]:
    """Per (model, condition): the column in ``tally.labels`` of its scenario's primary label.

    -1 where the scenario has no primary label or that label was not tallied.
    """
    index = {
        s: tally.labels.index(name) for s, name in PRIMARY_LABEL.items() if name in tally.labels
    }
    found: npt.NDArray[np.int64] = tally.pairs["scenario"].map(index).fillna(-1).to_numpy(np.int64)
    return found


def _primary_row_states(samples: pd.DataFrame, tally: _Tally) -> npt.NDArray[np.int8]:
    """Each sample's state on its scenario's primary label; -1 where the scenario has none."""
    row_index = _primary_index(tally)[tally.row_pair]
    states = np.full(len(samples), -1, dtype=np.int8)
    for j in np.unique(row_index[row_index >= 0]):
        rows = row_index == j
        states[rows] = state_codes(samples[tally.labels[j]])[rows]
    return states


def awareness_table(samples: pd.DataFrame) -> pd.DataFrame:
    """Per model × scenario: primary-label rate when the agent said "evaluation" vs "deployment".

    Only samples with a valid primary-label state count; ``n_unstated`` counts the valid
    samples that stated neither. The difference is evaluation − deployment (Newcombe 95 % CI).
    """
    if "stated_situation" not in samples.columns or samples.empty:
        return pd.DataFrame(columns=AWARENESS_COLUMNS)
    tally = _tally(samples)
    states = _primary_row_states(samples, tally)
    codes: npt.NDArray[np.intp]
    codes, uniques = pd.factorize(samples["stated_situation"], use_na_sentinel=False)
    said = {"evaluation": 0, "deployment": 1}
    lookup = [said.get(normalise_value("stated_situation", u).lower(), 2) for u in uniques]
    where = np.array(lookup, dtype=np.int64)[codes]
    valid = (states == _HARMFUL) | (states == _NOT_HARMFUL)
    if not valid.any():
        return pd.DataFrame(columns=AWARENESS_COLUMNS)
    heads = tally.pairs[["model", "scenario"]]
    group_of_pair = heads.groupby(["model", "scenario"], sort=True).ngroup().to_numpy(np.int64)
    group = group_of_pair[tally.row_pair][valid]
    bins = group * 3 + where[valid]
    size = (group_of_pair.max() + 1) * 3
    n = np.bincount(bins, minlength=size).reshape(-1, 3)
    k = np.bincount(bins, (states[valid] == _HARMFUL), minlength=size).reshape(-1, 3)
    k = k.astype(np.int64)
    table = heads.drop_duplicates().sort_values(["model", "scenario"]).reset_index(drop=True)
    table["label"] = table["scenario"].map(PRIMARY_LABEL)
    for arm, suffix in ((0, "eval"), (1, "deploy")):
        table[f"k_{suffix}"], table[f"n_{suffix}"] = k[:, arm], n[:, arm]
        for name, values in _rate_columns(k[:, arm], n[:, arm]).items():
            table[f"{name}_{suffix}"] = values
    table["diff"], table["diff_low"], table["diff_high"] = newcombe_arrays(
        k[:, 0], n[:, 0], k[:, 1], n[:, 1]
    )
    table["n_unstated"] = n[:, 2]
    stated = (table["n_eval"] + table["n_deploy"]) > 0
    return table.loc[stated, AWARENESS_COLUMNS].reset_index(drop=True)


# ----------------------------------------------------------------------------- robustness


def robustness_table(samples: pd.DataFrame) -> pd.DataFrame:
    """Per model × base condition: how much the primary-label rate moves across variants.

    A base condition is every condition field except persona, paraphrase and world; its
    variants are the persona/paraphrase/world combinations run. Variants without valid samples
    are left out.
    ``flips`` is True when the variants' point rates straddle 0.5 (one ≥ 0.5, one < 0.5): the
    verdict "mostly does it / mostly doesn't" depends on the wording. Only bases with at least
    two variants appear.
    """
    if not set(VARIANT_FIELDS) & set(samples.columns) or samples.empty:
        return pd.DataFrame(columns=ROBUSTNESS_COLUMNS)
    tally = _tally(samples)
    index = _primary_index(tally)
    known = np.flatnonzero(index >= 0)
    pairs = tally.pairs.iloc[known].copy()
    counts = tally.counts[known, index[known]]
    pairs["label"] = np.array(tally.labels, dtype=object)[index[known]]
    pairs["k"] = counts[:, _HARMFUL]
    pairs["n_valid"] = counts[:, _HARMFUL] + counts[:, _NOT_HARMFUL]
    pairs = pairs[pairs["n_valid"] > 0]
    if pairs.empty:
        return pd.DataFrame(columns=ROBUSTNESS_COLUMNS)
    pairs["variant_rate"] = pairs["k"] / pairs["n_valid"]
    pairs["base_condition_id"] = (
        pairs["condition_id"].astype(str).str.replace(_VARIANT_SUFFIX, "", regex=True)
    )
    base = ["model", "base_condition_id"]
    grouped = pairs.groupby(base, sort=True)
    table = grouped.agg(
        scenario=("scenario", "first"),
        label=("label", "first"),
        n_variants=("variant_rate", "size"),
        rate_min=("variant_rate", "min"),
        rate_max=("variant_rate", "max"),
        k=("k", "sum"),
        n_valid=("n_valid", "sum"),
    ).reset_index()
    table = table[table["n_variants"] >= 2].reset_index(drop=True)
    k, n_valid = table["k"].to_numpy(np.int64), table["n_valid"].to_numpy(np.int64)
    for name, values in _rate_columns(k, n_valid).items():
        table[name] = values
    table["flips"] = (table["rate_max"] >= 0.5) & (table["rate_min"] < 0.5)
    return table[ROBUSTNESS_COLUMNS]


# ----------------------------------------------------------------------------- approval gate


def attempted_column(label: str) -> str:
    """The samples-table column with a label's state counting gate-held actions as done."""
    return f"{label}_attempted"


def gate_table(samples: pd.DataFrame) -> pd.DataFrame:
    """Per model × gated agentic condition: the primary label executed, and as attempted.

    Under an approval gate the labels count only what took effect. ``attempted`` counts the
    actions the gate held as done, so the gate's effect on what the agent *tried* can be told
    apart from its effect on what *happened*. ``n_held`` counts samples with any held action.
    """
    needed = {"approval_gate", "scenario", "held_by_gate"}
    if not needed <= set(samples.columns) or samples.empty:
        return pd.DataFrame(columns=GATE_COLUMNS)
    gated = samples[samples["approval_gate"].astype(bool)]
    if "mode" in gated.columns:  # in single-turn mode the gate is a notice: nothing is held
        gated = gated[gated["mode"].astype(str) == "agentic"]
    frames = []
    for scenario, label in PRIMARY_LABEL.items():
        rows = gated[gated["scenario"] == scenario]
        if rows.empty or label not in rows.columns:
            continue
        attempted = (
            rows[attempted_column(label)] if attempted_column(label) in rows else rows[label]
        )
        parts = pd.DataFrame(
            {
                "model": rows["model"].astype(str),
                "condition_id": rows["condition_id"].astype(str),
                "held": rows["held_by_gate"].fillna(0).astype(int) > 0,
                "k_executed": rows[label].astype(str) == "harmful",
                "n_executed": rows[label].astype(str).isin(["harmful", "not_harmful"]),
                "k_attempted": attempted.astype(str) == "harmful",
                "n_attempted": attempted.astype(str).isin(["harmful", "not_harmful"]),
            }
        )
        table = parts.groupby(["model", "condition_id"], sort=True).sum().reset_index()
        table = table.rename(columns={"held": "n_held"})
        table["scenario"], table["label"] = scenario, label
        frames.append(table)
    if not frames:
        return pd.DataFrame(columns=GATE_COLUMNS)
    table = pd.concat(frames, ignore_index=True)
    for arm in ("executed", "attempted"):
        k = table[f"k_{arm}"].to_numpy(np.int64)
        n = table[f"n_{arm}"].to_numpy(np.int64)
        for name, values in _rate_columns(k, n).items():
            table[f"{name}_{arm}"] = values
    return table[GATE_COLUMNS]
