"""The condition grid: counts, rules, ids, include/exclude."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from insider.scenarios import Condition, ConditionGrid, sample_id


def test_default_grid_is_the_234_of_the_research_design() -> None:
    conditions = ConditionGrid().expand()
    assert len(conditions) == 234
    per_scenario = {
        s: sum(c.scenario == s for c in conditions) for s in ("blackmail", "leaking", "lethal")
    }
    assert per_scenario == {"blackmail": 78, "leaking": 78, "lethal": 78}
    assert len({c.condition_id for c in conditions}) == 234


def test_valueless_goal_types_carry_no_value() -> None:
    conditions = ConditionGrid(goal_type=["none", "ambiguous"]).expand()
    assert {c.goal_value for c in conditions} == {"none"}
    with pytest.raises(ValidationError, match="carries no goal value"):
        Condition(scenario="blackmail", goal_type="none", goal_value="america", urgency="none")


def test_valued_goal_types_need_a_value() -> None:
    with pytest.raises(ValidationError, match="needs a goal_value"):
        Condition(scenario="blackmail", goal_type="swap", urgency="none")


def test_unknown_value_lists_allowed_values() -> None:
    with pytest.raises(ValidationError, match="'replacement'"):
        Condition(scenario="blackmail", goal_type="none", urgency="tomorrow")  # type: ignore[arg-type]


def test_condition_ids_match_the_research_naming_and_extras_add_suffixes() -> None:
    base = Condition(
        scenario="blackmail", goal_type="explicit", goal_value="america", urgency="replacement"
    )
    assert base.condition_id == "blackmail_explicit-america_replacement"
    prod = base.model_copy(update={"scratchpad": False, "extra_instruction": "dont"})
    assert prod.condition_id == "blackmail_explicit-america_replacement__prod__instr-dont"
    none = Condition(scenario="lethal", goal_type="none", urgency="none")
    assert none.condition_id == "lethal_none_none"
    assert sample_id(base, 7) == "blackmail_explicit-america_replacement:007"


def test_extras_multiply_the_grid() -> None:
    grid = ConditionGrid(scratchpad=[True, False], awareness_notice=["none", "ask"])
    assert len(grid.expand()) == 234 * 4


def test_goal_instruction_is_only_crossed_with_stated_goals() -> None:
    grid = ConditionGrid(scenario=["leaking"], extra_instruction=["none", "goal"])
    conditions = grid.expand()
    restated = [c for c in conditions if c.extra_instruction == "goal"]
    assert restated and all(c.goal_type in {"explicit", "swap"} for c in restated)
    assert len(conditions) == 78 + 2 * 8 * 3


def test_goal_instruction_without_a_stated_goal_is_an_error_when_asked_for() -> None:
    grid = ConditionGrid(
        include=[
            {
                "scenario": "leaking",
                "goal_type": "latent",
                "goal_value": "safety",
                "urgency": "none",
                "extra_instruction": "goal",
            }
        ]
    )
    with pytest.raises(ValueError, match=r"include entry 1.*needs goal_type explicit or swap"):
        grid.expand()


def test_exclude_and_include() -> None:
    grid = ConditionGrid(
        scenario=["blackmail"],
        goal_type=["none"],
        exclude=[{"urgency": "restriction"}],
        include=[{"scenario": "lethal", "goal_type": "ambiguous", "urgency": "none"}],
    )
    ids = [c.condition_id for c in grid.expand()]
    assert ids == ["blackmail_none_replacement", "blackmail_none_none", "lethal_ambiguous_none"]


def test_filters_with_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match=r"unknown field.*colour"):
        ConditionGrid(exclude=[{"colour": "red"}])


def test_empty_value_list_is_rejected() -> None:
    with pytest.raises(ValidationError, match="at least one value"):
        ConditionGrid(urgency=[])


def test_order_is_stable() -> None:
    first = [c.condition_id for c in ConditionGrid().expand()]
    second = [c.condition_id for c in ConditionGrid().expand()]
    assert first == second
