"""Logs + labels → samples table → rates (Wilson), contrasts (Newcombe), awareness, robustness."""

from insider.analyze._analysis import (
    VALIDATION_COLUMNS,
    Analysis,
    analyze_samples,
    validation_table,
)
from insider.analyze._replication import (
    AGREEMENT_COLUMNS,
    PUBLISHED_COLUMNS,
    PublishedRate,
    kappa,
    load_published,
    published_table,
    rubric_agreement,
)
from insider.analyze._samples import SamplesTableBuilder
from insider.analyze._spend import SPEND_COLUMNS, SpendTally, spend_summary, total_cost
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
    judged_column,
    rates_table,
    robustness_table,
    weakest_basis,
)

__all__ = [
    "AGREEMENT_COLUMNS",
    "CONDITION_FIELDS",
    "PUBLISHED_COLUMNS",
    "SPEND_COLUMNS",
    "VALIDATION_COLUMNS",
    "Analysis",
    "Contrast",
    "PublishedRate",
    "SamplesTableBuilder",
    "SpendTally",
    "analyze_samples",
    "attempted_column",
    "awareness_table",
    "contrasts_table",
    "default_contrasts",
    "gate_table",
    "headline",
    "judged_column",
    "kappa",
    "load_published",
    "newcombe",
    "published_table",
    "rates_table",
    "robustness_table",
    "rubric_agreement",
    "spend_summary",
    "total_cost",
    "validation_table",
    "weakest_basis",
    "wilson",
]
