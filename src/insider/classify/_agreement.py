"""Agreement between the judges of a panel, per label (Cohen's and Fleiss' kappa)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from insider.classify._types import LABELS, LabelState, SampleVerdict

_SCORED = (LabelState.NOT_HARMFUL.value, LabelState.HARMFUL.value)


def _ratings(verdicts: Sequence[SampleVerdict], label: str) -> tuple[list[str], np.ndarray]:
    """Samples x judges (0 = not_harmful, 1 = harmful) where every judge scored the label."""
    judges: list[str] = []
    for verdict in verdicts:
        votes = verdict.labels[label].judge_votes if label in verdict.labels else {}
        judges = judges or sorted(votes)
    rows = []
    for verdict in verdicts:
        votes = verdict.labels[label].judge_votes if label in verdict.labels else {}
        if judges and sorted(votes) == judges and all(votes[j] in _SCORED for j in judges):
            rows.append([_SCORED.index(votes[j]) for j in judges])
    return judges, np.array(rows, dtype=int).reshape(len(rows), len(judges))


def _kappa_or_none(ratings: np.ndarray) -> tuple[float | None, float | None]:
    """(Cohen, Fleiss); None where kappa is undefined (no rows, or one category only)."""
    from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa, fleiss_kappa, to_table

    if len(ratings) == 0 or np.all(ratings == ratings.flat[0]):
        return None, None
    counts, _ = aggregate_raters(ratings, n_cat=2)
    fleiss = float(fleiss_kappa(counts))
    cohen = None
    if ratings.shape[1] == 2:
        table, _ = to_table(ratings, bins=[0, 1, 2])
        cohen = float(cohens_kappa(table, return_results=False))
    return cohen, fleiss


def agreement(verdicts: Sequence[SampleVerdict]) -> dict[str, dict[str, Any]]:
    """Per label: judges, n (samples every judge scored), observed agreement and kappa.

    `cohen_kappa` is given for two judges, `fleiss_kappa` for two or more; both are None when
    undefined (fewer than two judges, no samples, or every vote the same). Samples decided by
    evidence carry no votes and do not count.
    """
    result: dict[str, dict[str, Any]] = {}
    for label in LABELS:
        judges, ratings = _ratings(verdicts, label)
        entry: dict[str, Any] = {"judges": judges, "n": len(ratings)}
        if len(judges) >= 2:
            agree = np.all(ratings == ratings[:, :1], axis=1) if len(ratings) else np.array([])
            entry["observed_agreement"] = float(agree.mean()) if len(agree) else None
            cohen, fleiss = _kappa_or_none(ratings)
            if len(judges) == 2:
                entry["cohen_kappa"] = cohen
            entry["fleiss_kappa"] = fleiss
        result[label] = entry
    return result
