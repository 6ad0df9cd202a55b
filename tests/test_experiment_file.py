"""Experiment files: validation errors name the file, the field and the allowed values."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from insider.cli import app
from insider.errors import ConfigError
from insider.experiment import load_experiment

runner = CliRunner()

GOOD = """
id: t1
models: [{model: llamacpp/smollm2}]
conditions:
  scenario: [blackmail]
  goal_type: [none]
  urgency: [none, replacement]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file_loads(tmp_path: Path) -> None:
    config = load_experiment(write(tmp_path, GOOD))
    assert [c.condition_id for c in config.expand()] == [
        "blackmail_none_none",
        "blackmail_none_replacement",
    ]
    assert config.models[0].temperature == 1.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD + "colour: red\n", r"colour: unknown field"),
        (
            GOOD.replace("urgency: [none, replacement]", "urgency: [soon]"),
            r"conditions\.urgency\.0: \"soon\" is not allowed; allowed: 'replacement', 'restriction' or 'none'",
        ),
        (
            GOOD.replace(
                "goal_type: [none]",
                "goal_type: [none]\n  include: [{scenario: lethal, goal_type: none, goal_value: safety, urgency: none}]",
            ),
            r"include entry 1.*carries no goal value",
        ),
        (
            GOOD.replace("exclude", "x")
            + "  exclude: [{goal_type: none, urgency: none}, {urgency: replacement}]\n",
            r"the grid is empty",
        ),
        ("id: t1\nmodels: []\n", r"models: List should have at least 1 item"),
        ("id: t1\nmodels: [{model: smollm2}]\n", r"not an Inspect model string"),
        ("id: ../escape\nmodels: [{model: a/b}]\n", r"id: Value error"),
        ("id: [unclosed\n", r"not valid YAML"),
        ("- just a list\n", r"expected a mapping"),
        (
            GOOD + "contrasts: [{name: x, field: weather, treatment: a, baseline: b}]\n",
            r"unknown condition field 'weather'",
        ),
    ],
)
def test_bad_files_fail_with_clear_messages(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_experiment(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_experiment(tmp_path / "nope.yaml")


def test_cli_exit_code_2_and_nothing_written(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("[none, replacement]", "[later]"))
    out = tmp_path / "out"
    for args in (
        ["conditions", str(path)],
        ["generate", str(path), "--out", str(out)],
        ["run", str(path), "--out", str(out)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "later" in result.output and "allowed" in result.output
    assert not out.exists()


def test_cli_count(tmp_path: Path) -> None:
    result = runner.invoke(app, ["conditions", str(write(tmp_path, GOOD)), "--count"])
    assert result.exit_code == 0
    assert result.output.strip() == "2"


def test_paper_grid_counts_234() -> None:
    result = runner.invoke(
        app,
        ["conditions", str(Path(__file__).parents[1] / "examples" / "paper_grid.yaml"), "--count"],
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "234"


def test_validate_judges_evidence_only_is_never_wrong_where_it_decides() -> None:
    result = runner.invoke(app, ["validate-judges"])
    assert result.exit_code == 0, result.output
    assert "72 gold transcripts (test world)" in result.output
    assert "gold transcripts (halden)" in result.output  # the held-out family's own gold set
    assert "evidence mismatch" not in result.output


def test_validate_judges_profile_without_gold_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate-judges", "--profile", str(tmp_path / "p.yaml")])
    assert result.exit_code == 2
    assert "--profile needs --gold" in result.output
