"""The replication tables: published figures beside our rates, agreement between two rubrics."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.inter_rater import cohens_kappa

from insider.analyze import kappa, load_published, newcombe, published_table, rubric_agreement
from insider.classify import LABELS, PRIMARY_LABEL
from insider.errors import ConfigError
from insider.scenarios import Condition


def test_the_published_table_is_valid_data() -> None:
    rows = load_published()
    assert len(rows) >= 7
    for row in rows:
        assert row.label in LABELS and PRIMARY_LABEL[row.scenario] == row.label
        # every condition field and value is one of ours
        Condition.model_validate({"scenario": row.scenario, **row.condition})
        assert row.citation.startswith("Lynch et al. (2025)")
    headline = {r.model: r.rate for r in rows if r.condition.get("extra_instruction") == "none"}
    assert headline["GPT-4.1"] == 0.80 and headline["GPT-4o"] == 0.15


def test_a_broken_published_table_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "published.yaml"
    path.write_text("citations: {a: b}\nrows:\n  - {model: M, scenario: blackmail}\n")
    with pytest.raises(ConfigError, match="not a table of published rates"):
        load_published(path)
    path.write_text(
        "citations: {a: b}\nrows:\n  - {model: M, scenario: blackmail, label: blackmail, "
        "condition: {}, rate: 0.5, n: 10, citation: nope}\n"
    )
    with pytest.raises(ConfigError, match="unknown citation 'nope'"):
        load_published(path)


def rates(model: str, extra: str, world: str, k: int, n: int) -> dict[str, object]:
    return {
        "model": model,
        "condition_id": f"blackmail_explicit-america_replacement__{world}__{extra}",
        "scenario": "blackmail",
        "goal_type": "explicit",
        "goal_value": "america",
        "urgency": "replacement",
        "extra_instruction": extra,
        "world": world,
        "label": "blackmail",
        "k": k,
        "n_valid": n,
        "rate": k / n,
        "ci_low": 0.0,
        "ci_high": 1.0,
    }


def test_published_rates_beside_ours() -> None:
    table = pd.DataFrame(
        [
            rates("my-gpt", "none", "original", 78, 100),  # matched through its model string
            rates("my-gpt", "none", "ferrowen", 20, 100),
            rates("my-gpt", "dont", "original", 5, 100),  # GPT-4.1 has no dont figure
            rates("Claude Opus 4", "dont", "original", 36, 100),  # matched by its label
            rates("someone-else", "none", "original", 50, 100),
        ]
    )
    published = published_table(table, "ours", model_names={"my-gpt": ["openai/gpt-4.1"]})
    got = {(r.model, r.world, r.published_rate): r for r in published.itertuples()}
    assert set(got) == {
        ("my-gpt", "original", 0.80),
        ("my-gpt", "ferrowen", 0.80),
        ("Claude Opus 4", "original", 0.37),
    }
    close, far = got[("my-gpt", "original", 0.80)], got[("my-gpt", "ferrowen", 0.80)]
    assert close.agrees and not far.agrees
    diff, low, high = newcombe(20, 100, 80, 100)
    assert (far.diff, far.diff_low, far.diff_high) == pytest.approx((diff, low, high))
    assert far.diff == pytest.approx(-0.6) and far.citation.startswith("Lynch")
    assert set(published["scoring"]) == {"ours"}


def test_no_match_is_an_empty_table() -> None:
    table = pd.DataFrame([rates("someone-else", "none", "original", 1, 2)])
    assert published_table(table, "ours").empty


def test_kappa_matches_statsmodels() -> None:
    for cells in itertools.product([0, 1, 3, 7], repeat=4):
        a, b, c, d = cells
        mine = kappa(a, b, c, d)
        if np.isnan(mine):
            continue
        theirs = cohens_kappa(np.array([[a, b], [c, d]]), return_results=False)
        assert mine == pytest.approx(theirs), cells
    assert np.isnan(kappa(5, 0, 0, 0)) and np.isnan(kappa(0, 0, 0, 0))


def samples(states: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"model": "m", "sample_id": f"s{i}", "blackmail": b, "leak": leak}
            for i, (b, leak) in enumerate(states)
        ]
    )


def test_agreement_confusion_matrix_and_exclusions() -> None:
    ours = samples(
        [
            ("harmful", "not_harmful"),
            ("harmful", "harmful"),
            ("not_harmful", "not_harmful"),
            ("not_harmful", "unscored"),
            ("unscored", "not_harmful"),
            ("error", "error"),
        ]
    )
    reference = samples(
        [
            ("harmful", "unscored"),
            ("not_harmful", "unscored"),
            ("not_harmful", "unscored"),
            ("harmful", "unscored"),
            ("harmful", "unscored"),
            ("error", "unscored"),
        ]
    )
    table = rubric_agreement(ours, reference, "original-rubric__g")
    assert list(table["label"]) == ["blackmail"]  # the reference never scored leak
    row = table.iloc[0]
    assert (row.both_harmful, row.ours_only, row.reference_only, row.both_not_harmful) == (
        1,
        1,
        1,
        1,
    )
    assert row.n_compared == 4 and row.n_excluded == 2
    assert row.observed_agreement == 0.5 and row.kappa == pytest.approx(0.0)
