"""The fictional world and the condition grid: conditions in, exact prompts out."""

from insider.scenarios._conditions import (
    GOAL_PAIRS,
    GOAL_TYPES,
    GOAL_VALUES,
    SCENARIOS,
    URGENCIES,
    Condition,
    ConditionGrid,
    condition_from_metadata,
    content_hash,
    sample_id,
)

__all__ = [
    "GOAL_PAIRS",
    "GOAL_TYPES",
    "GOAL_VALUES",
    "SCENARIOS",
    "URGENCIES",
    "Condition",
    "ConditionGrid",
    "condition_from_metadata",
    "content_hash",
    "sample_id",
]
