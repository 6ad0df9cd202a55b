"""Logs + labels → samples table → rates (Wilson), contrasts (Newcombe), awareness, robustness."""

from insider.analyze._analysis import Analysis, analyze_samples
from insider.analyze._replication import (
    AGREEMENT_COLUMNS,
    PUBLISHED_COLUMNS,
    PublishedRate,
    kappa,
    load_published,
    published_table,
    rubric_agreement,
)
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
    "AGREEMENT_COLUMNS",
    "CONDITION_FIELDS",
    "PUBLISHED_COLUMNS",
    "Analysis",
    "Contrast",
    "PublishedRate",
    "analyze_samples",
    "attempted_column",
    "awareness_table",
    "contrasts_table",
    "default_contrasts",
    "gate_table",
    "headline",
    "kappa",
    "load_published",
    "newcombe",
    "published_table",
    "rates_table",
    "robustness_table",
    "rubric_agreement",
    "wilson",
]
