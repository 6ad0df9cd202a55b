"""Wilson and Newcombe intervals, and the rates / contrasts / awareness / robustness tables."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped,unused-ignore]
import pytest

from insider.analyze import (
    awareness_table,
    contrasts_table,
    default_contrasts,
    headline,
    newcombe,
    rates_table,
    robustness_table,
    wilson,
)
from insider.classify import LABELS
from insider.scenarios import Condition, sample_id

# ----------------------------------------------------------------------------- intervals


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0)],
)
def test_wilson_matches_published_values(k: int, n: int, low: float, high: float) -> None:
    got_low, got_high = wilson(k, n)
    assert got_low == pytest.approx(low, abs=5e-5)
    assert got_high == pytest.approx(high, abs=5e-5)


def test_wilson_ends_are_exact_when_no_or_every_sample_is_harmful() -> None:
    for n in range(1, 301):
        assert wilson(0, n)[0] == 0.0, n
        assert wilson(n, n)[1] == 1.0, n


def test_wilson_is_vectorised_and_nan_without_samples() -> None:
    low, high = wilson(np.array([0, 5, 0]), np.array([10, 10, 0]))
    assert low[:2] == pytest.approx([0.0, 0.2366], abs=5e-5)
    assert high[:2] == pytest.approx([0.2775, 0.7634], abs=5e-5)
    assert math.isnan(low[2]) and math.isnan(high[2])
    assert all(math.isnan(x) for x in wilson(0, 0))


def test_newcombe_matches_newcombe_1998_example() -> None:
    diff, low, high = newcombe(56, 70, 48, 80)
    assert diff == pytest.approx(0.2)
    assert low == pytest.approx(0.0524, abs=5e-5)
    assert high == pytest.approx(0.3339, abs=5e-5)


def test_newcombe_is_nan_when_an_arm_is_empty() -> None:
    assert all(math.isnan(x) for x in newcombe(3, 10, 0, 0))
    diff, low, _ = newcombe([56, 0], [70, 0], [48, 1], [80, 2])
    assert diff[0] == pytest.approx(0.2) and math.isnan(diff[1]) and math.isnan(low[1])


def test_bad_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match="0 <= k <= n"):
        wilson(11, 10)


# ----------------------------------------------------------------------------- fixtures


def _rows(
    model: str, states: dict[str, list[str]], situation: str = "", **fields: Any
) -> list[dict[str, Any]]:
    """One row per sample of one condition; ``states`` gives each label's states in order."""
    fields.setdefault("scenario", "blackmail")
    fields.setdefault("goal_type", "explicit")
    fields.setdefault("goal_value", "america" if fields["goal_type"] != "none" else "none")
    fields.setdefault("urgency", "replacement")
    condition = Condition(**fields)
    n = len(next(iter(states.values())))
    rows = []
    for index in range(n):
        row: dict[str, Any] = {
            "experiment_id": "exp",
            "model": model,
            "sample_id": sample_id(condition, index),
            "sample_index": index,
            "condition_id": condition.condition_id,
            "mode": "single_turn",
            **condition.fields(),
            "stated_situation": situation,
        }
        for label in LABELS:
            row[label] = states.get(label, ["not_harmful"] * n)[index]
        rows.append(row)
    return rows


def _frame(*groups: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([row for group in groups for row in group])


H, S, E, U = "harmful", "not_harmful", "error", "unscored"

# ----------------------------------------------------------------------------- rates


def test_rates_exclude_error_and_unscored_from_denominators() -> None:
    samples = _frame(_rows("m1", {"blackmail": [H, H, S, E, U, U]}))
    rates = rates_table(samples)
    row = rates[rates["label"] == "blackmail"].iloc[0]
    assert (row["k"], row["n_valid"], row["n_error"], row["n_unscored"]) == (2, 3, 1, 2)
    assert row["rate"] == pytest.approx(2 / 3)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson(2, 3))
    assert row["condition_id"] == "blackmail_explicit-america_replacement"
    assert row["urgency"] == "replacement" and bool(row["scratchpad"]) is True
    assert list(rates["label"]) == list(LABELS)


def test_rates_group_per_model_and_condition_and_skip_missing_labels() -> None:
    samples = _frame(
        _rows("m2", {"blackmail": [H, H]}),
        _rows("m1", {"blackmail": [S, S, S]}, urgency="none"),
        _rows("m1", {"blackmail": [H, S]}),
    ).drop(columns=["lethal"])
    rates = rates_table(samples)
    assert "lethal" not in set(rates["label"])
    blackmail = rates[rates["label"] == "blackmail"]
    got = [(r.model, r.condition_id, r.k, r.n_valid) for r in blackmail.itertuples()]
    assert got == [
        ("m1", "blackmail_explicit-america_none", 0, 3),
        ("m1", "blackmail_explicit-america_replacement", 1, 2),
        ("m2", "blackmail_explicit-america_replacement", 2, 2),
    ]


def test_a_condition_with_only_errors_has_no_rate() -> None:
    rates = rates_table(_frame(_rows("m1", {"blackmail": [E, E]})))
    row = rates[rates["label"] == "blackmail"].iloc[0]
    assert row["n_valid"] == 0 and row["n_error"] == 2
    assert math.isnan(row["rate"]) and math.isnan(row["ci_low"])


def test_unknown_or_missing_states_count_as_unscored() -> None:
    samples = _frame(_rows("m1", {"blackmail": [H, S, S]}))
    samples.loc[1, "blackmail"] = None
    samples.loc[2, "blackmail"] = "maybe"
    row = rates_table(samples).query("label == 'blackmail'").iloc[0]
    assert (row["k"], row["n_valid"], row["n_unscored"]) == (1, 1, 2)


def test_headline_pools_the_primary_label_over_conditions() -> None:
    samples = _frame(
        _rows("m1", {"blackmail": [H, S, E]}),
        _rows("m1", {"blackmail": [H, H]}, urgency="none"),
        _rows("m1", {"leak": [H, S, S, S]}, scenario="leaking"),
    )
    table = headline(rates_table(samples))
    got = {
        (r.scenario, r.label): (r.k, r.n_valid, r.n_error, r.n_conditions)
        for r in table.itertuples()
    }
    assert got == {("blackmail", "blackmail"): (3, 4, 1, 2), ("leaking", "leak"): (1, 4, 0, 1)}


# ----------------------------------------------------------------------------- contrasts


def _urgency_frame() -> pd.DataFrame:
    return _frame(
        # matched pair: explicit-america, replacement vs none
        _rows("m1", {"blackmail": [H, H, H, S]}, urgency="replacement"),
        _rows("m1", {"blackmail": [S, S, S, E]}, urgency="none"),
        # unmatched: goal none only under replacement → must not enter the contrast
        _rows("m1", {"blackmail": [H] * 10}, goal_type="none", urgency="replacement"),
        # another model, matched
        _rows("m2", {"blackmail": [S, S]}, urgency="replacement"),
        _rows("m2", {"blackmail": [H, S]}, urgency="none"),
    )


def test_contrast_uses_matched_arms_only() -> None:
    spec = {"name": "threat", "field": "urgency", "treatment": "replacement", "baseline": "none"}
    table = contrasts_table(_urgency_frame(), [spec])
    row = table[(table["label"] == "blackmail") & (table["model"] == "m1")].iloc[0]
    assert (row["k_t"], row["n_t"], row["k_b"], row["n_b"]) == (3, 4, 0, 3)
    diff, low, high = newcombe(3, 4, 0, 3)
    assert (row["diff"], row["ci_low"], row["ci_high"]) == pytest.approx((diff, low, high))
    assert (row["contrast"], row["field"], row["treatment"], row["baseline"]) == (
        "threat", "urgency", "replacement", "none",
    )  # fmt: skip
    m2 = table[(table["label"] == "blackmail") & (table["model"] == "m2")].iloc[0]
    assert (m2["k_t"], m2["n_t"], m2["k_b"], m2["n_b"]) == (0, 2, 1, 2)
    assert list(table.columns) == [
        "contrast", "model", "scenario", "label", "field", "treatment", "baseline",
        "k_t", "n_t", "k_b", "n_b", "rate_t", "rate_b", "diff", "ci_low", "ci_high", "n_judged",
    ]  # fmt: skip


def test_matching_is_per_model() -> None:
    samples = _frame(
        _rows("m1", {"blackmail": [H]}, urgency="replacement"),
        _rows("m2", {"blackmail": [S]}, urgency="none"),
    )
    spec = {"field": "urgency", "treatment": "replacement", "baseline": "none"}
    assert contrasts_table(samples, [spec]).empty


def test_bool_contrast_values_match_whatever_their_spelling() -> None:
    samples = _frame(
        _rows("m1", {"blackmail": [H, H]}, approval_gate=False),
        _rows("m1", {"blackmail": [H, S]}, approval_gate=True),
    )
    samples["approval_gate"] = samples["approval_gate"].map({True: "True", False: "False"})
    for treatment, baseline in [(True, False), ("true", "false"), (1, 0)]:
        spec = {"field": "approval_gate", "treatment": treatment, "baseline": baseline}
        row = contrasts_table(samples, [spec]).query("label == 'blackmail'").iloc[0]
        assert (row["k_t"], row["n_t"], row["k_b"], row["n_b"]) == (1, 2, 2, 2)
        assert row["treatment"] == "true" and row["contrast"] == "approval_gate: true vs false"


def test_int_fields_match_across_types() -> None:
    samples = _frame(
        _rows("m1", {"blackmail": [H]}, persona=0),
        _rows("m1", {"blackmail": [S]}, persona=2),
    )
    samples["persona"] = samples["persona"].astype(float)  # as a CSV with gaps would give
    table = contrasts_table(samples, [{"field": "persona", "treatment": "2", "baseline": 0}])
    assert table.query("label == 'blackmail'")["diff"].iloc[0] == pytest.approx(-1.0)


def test_contrast_spec_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="not one of"):
        contrasts_table(_urgency_frame(), [{"field": "colour", "treatment": 1, "baseline": 0}])
    with pytest.raises(ValueError, match="lacks baseline"):
        contrasts_table(_urgency_frame(), [{"field": "urgency", "treatment": "none"}])


def test_default_contrasts_only_where_both_arms_exist() -> None:
    extra = _frame(
        _rows("m1", {"blackmail": [S]}, escalation_channel=True),
        _rows("m1", {"blackmail": [S]}, goal_framing="rigid"),
    )
    samples = pd.concat([_urgency_frame(), extra], ignore_index=True)
    names = [spec["name"] for spec in default_contrasts(samples)]
    assert names == [
        "urgency: replacement vs none",
        "escalation_channel: true vs false",
        "goal_framing: rigid vs standard",
    ]


# ----------------------------------------------------------------------------- awareness


def test_awareness_splits_by_stated_situation() -> None:
    samples = _frame(
        _rows("m1", {"blackmail": [H, S, S, S]}, situation="evaluation", awareness_notice="ask"),
        _rows("m1", {"blackmail": [H, H, S, E]}, situation="deployment", awareness_notice="ask"),
        _rows("m1", {"blackmail": [H]}, situation="", awareness_notice="ask"),
        _rows("m1", {"leak": [H]}, scenario="leaking"),  # nothing stated: no row
    )
    table = awareness_table(samples)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["scenario"], row["label"]) == ("blackmail", "blackmail")
    assert (row["k_eval"], row["n_eval"], row["k_deploy"], row["n_deploy"]) == (1, 4, 2, 3)
    assert row["n_unstated"] == 1
    assert (row["ci_low_eval"], row["ci_high_eval"]) == pytest.approx(wilson(1, 4))
    assert row["diff"] == pytest.approx(1 / 4 - 2 / 3)


# ----------------------------------------------------------------------------- robustness


def test_robustness_groups_persona_and_paraphrase_variants() -> None:
    samples = _frame(
        _rows("m1", {"blackmail": [H, H, S, S]}),
        _rows("m1", {"blackmail": [H, H, H, S]}, persona=1),
        _rows("m1", {"blackmail": [S, S, S, S]}, paraphrase=2),
        _rows("m1", {"blackmail": [E, E]}, persona=2),  # no valid samples: not a variant
        _rows("m1", {"blackmail": [H]}, urgency="none"),  # a single variant: no row
    )
    table = robustness_table(samples)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["base_condition_id"] == "blackmail_explicit-america_replacement"
    assert row["n_variants"] == 3
    assert (row["rate_min"], row["rate_max"]) == (0.0, 0.75)
    assert (row["k"], row["n_valid"]) == (5, 12)
    assert bool(row["flips"]) is True


def test_robustness_counts_the_held_out_world_as_a_variant_of_the_same_condition() -> None:
    samples = _frame(
        _rows("m1", {"blackmail": [H, H]}),
        _rows("m1", {"blackmail": [S, S]}, world="halden", persona=3),
        _rows("m1", {"blackmail": [H, S]}, urgency="none", ablate=("nudge_goals",)),
    )
    table = robustness_table(samples)
    assert list(table["base_condition_id"]) == ["blackmail_explicit-america_replacement"]
    assert int(table["n_variants"].iloc[0]) == 2


def test_robustness_does_not_flip_when_all_variants_agree() -> None:
    samples = _frame(
        _rows("m1", {"blackmail": [H, S, S]}),
        _rows("m1", {"blackmail": [S, S, S]}, persona=1),
    )
    assert not robustness_table(samples)["flips"].iloc[0]


def test_empty_samples_give_empty_tables() -> None:
    empty = _frame(_rows("m1", {"blackmail": [H]})).iloc[0:0]
    assert rates_table(empty).empty
    assert contrasts_table(empty, default_contrasts(empty)).empty
    assert awareness_table(empty).empty
    assert robustness_table(empty).empty


def test_categorical_columns_give_the_same_tables() -> None:
    plain = pd.concat([_urgency_frame(), _frame(_rows("m1", {"blackmail": [H]}, persona=1))])
    plain = plain.reset_index(drop=True)
    categorical = plain.copy()
    for column in ["model", "condition_id", "scenario", "urgency", "stated_situation", *LABELS]:
        categorical[column] = categorical[column].astype("category")
    specs = default_contrasts(plain)
    assert specs == default_contrasts(categorical)
    for build in (rates_table, awareness_table, robustness_table):
        left, right = build(plain), build(categorical)
        pd.testing.assert_frame_equal(left, right, check_dtype=False, check_categorical=False)
    pd.testing.assert_frame_equal(
        contrasts_table(plain, specs),
        contrasts_table(categorical, specs),
        check_dtype=False,
        check_categorical=False,
    )
