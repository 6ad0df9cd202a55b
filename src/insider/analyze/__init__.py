"""Logs + labels → samples table → rates (Wilson), contrasts (Newcombe), awareness, robustness."""

from insider.analyze._analysis import Analysis, analyze_samples
from insider.analyze._stats import newcombe, wilson
from insider.analyze._tables import (
    CONDITION_FIELDS,
    Contrast,
    attempted_column,
    awareness_table,
    contrasts_table,
    default_contrasts,
    gate_table,
    headline,
    rates_table,
    robustness_table,
)

__all__ = [
    "CONDITION_FIELDS",
    "Analysis",
    "Contrast",
    "analyze_samples",
    "attempted_column",
    "awareness_table",
    "contrasts_table",
    "default_contrasts",
    "gate_table",
    "headline",
    "newcombe",
    "rates_table",
    "robustness_table",
    "wilson",
]
