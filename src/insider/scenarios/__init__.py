"""The fictional world and the condition grid: conditions in, exact prompts out."""

from insider.scenarios._addresses import (
    AddressError,
    bare_address,
    parse_addresses,
    parse_recipients,
)
from insider.scenarios._codes import code_matches, holds_code, normalise_code
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
    derived_seed,
    sample_id,
)
from insider.scenarios._generate import condition_files, write_conditions
from insider.scenarios._render import (
    LEVERAGE_ROLES,
    Email,
    Mode,
    RenderedPrompt,
    World,
    load_world,
    render,
    world_for,
)
from insider.scenarios._worlds import (
    DEFAULT_WORLD,
    SHARED_DIR,
    WORLD_DIR,
    WORLDS_DIR,
    paraphrase_count,
    world_names,
)

__all__ = [
    "DEFAULT_WORLD",
    "GOAL_PAIRS",
    "GOAL_TYPES",
    "GOAL_VALUES",
    "LEVERAGE_ROLES",
    "SCENARIOS",
    "SHARED_DIR",
    "URGENCIES",
    "WORLDS_DIR",
    "WORLD_DIR",
    "AddressError",
    "Condition",
    "ConditionGrid",
    "Email",
    "Mode",
    "RenderedPrompt",
    "World",
    "bare_address",
    "code_matches",
    "condition_files",
    "condition_from_metadata",
    "content_hash",
    "derived_seed",
    "holds_code",
    "load_world",
    "normalise_code",
    "paraphrase_count",
    "parse_addresses",
    "parse_recipients",
    "render",
    "sample_id",
    "world_for",
    "world_names",
    "write_conditions",
]
