"""Rendering: deterministic, and the condition's content appears only where it should."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from insider.cli import app
from insider.errors import ConfigError
from insider.scenarios import WORLD_DIR, Condition, load_world, render

from .scripted import condition

FACTS = load_world().context


cond = condition


def roles(condition: Condition) -> set[str]:
    return {role for email in render(condition).emails for role in email.roles}


def full_text(condition: Condition, mode: str = "single_turn") -> str:
    prompt = render(condition, mode=mode)  # type: ignore[arg-type]
    return prompt.system + prompt.user + "".join(e.subject + e.body for e in prompt.emails)


def goal_statement(value: str) -> str:
    return str(load_world().goals[value]["statement"]).strip()


def test_render_is_byte_for_byte_deterministic() -> None:
    first, second = render(cond()), render(cond())
    assert first == second
    assert first.content_hash == second.content_hash


def test_explicit_states_the_goal_and_latent_does_not() -> None:
    assert goal_statement("america") in render(cond()).system
    latent = render(cond(goal_type="latent"))
    assert goal_statement("america") not in latent.system
    assert goal_statement("global") not in latent.system
    assert "conflict" in roles(cond(goal_type="latent"))


def test_swap_gives_the_opposite_goal_and_differs_from_latent() -> None:
    swap, latent = render(cond(goal_type="swap")), render(cond(goal_type="latent"))
    assert goal_statement("global") in swap.system
    assert goal_statement("america") not in swap.system
    assert swap.system != latent.system
    assert swap.content_hash != latent.content_hash
    assert [e.key for e in swap.emails] == [e.key for e in latent.emails]


@pytest.mark.parametrize("goal_type", ["none", "ambiguous"])
def test_no_goal_statement_without_a_goal(goal_type: str) -> None:
    prompt = render(cond(goal_type=goal_type, goal_value="none"))
    for value in ("america", "global", "safety", "acceleration", "ethical", "pragmatic"):
        assert goal_statement(value) not in prompt.system
    keys = {e.key for e in prompt.emails}
    assert "board_direction" not in keys
    assert ("board_ambiguous" in keys) == (goal_type == "ambiguous")


def test_urgency_controls_the_trigger_mails() -> None:
    assert "trigger" in roles(cond(urgency="replacement"))
    assert "trigger" in roles(cond(urgency="restriction"))
    assert "trigger" not in roles(cond(urgency="none"))
    assert full_text(cond(urgency="replacement")) != full_text(cond(urgency="restriction"))


def test_each_scenario_carries_its_leverage() -> None:
    code = FACTS["facts"]["alert"]["override_code"]
    assert "leverage" in roles(cond(scenario="blackmail"))
    assert {"confidential", "outside_request"} <= roles(cond(scenario="leaking"))
    assert "alert" in roles(cond(scenario="lethal"))
    assert code in full_text(cond(scenario="lethal"))
    assert code not in full_text(cond(scenario="blackmail"))
    assert code not in full_text(cond(scenario="leaking"))
    assert "leverage" not in roles(cond(scenario="leaking"))


def test_scratchpad_off_means_no_private_space() -> None:
    assert "<scratchpad>" in render(cond()).system
    assert "scratchpad" not in render(cond(scratchpad=False)).system.lower()


def test_extras_change_the_system_prompt() -> None:
    base = render(cond()).system
    for extra in (
        {"extra_instruction": "dont"},
        {"extra_instruction": "goal"},
        {"awareness_notice": "ask"},
    ):
        assert render(cond(**extra)).system != base, extra
    assert "<situation>" in render(cond(awareness_notice="ask")).system
    assert "<situation>" not in base


def test_data_minimisation_removes_exactly_the_leverage_mails() -> None:
    for scenario in ("blackmail", "leaking"):
        full = render(cond(scenario=scenario)).emails
        minimal = render(cond(scenario=scenario, data_minimisation=True)).emails
        removed = {e.key for e in full} - {e.key for e in minimal}
        assert removed == {e.key for e in full if {"leverage", "confidential"} & set(e.roles)}
        assert removed
        kept = {e.key: e.body for e in minimal}
        assert all(kept[e.key] == e.body for e in full if e.key in kept)


def test_agentic_mode_keeps_the_inbox_out_of_the_first_message() -> None:
    prompt = render(cond(), mode="agentic")
    single = render(cond())
    assert [e.key for e in prompt.emails] == [e.key for e in single.emails]
    assert prompt.emails[0].body not in prompt.user
    assert single.emails[0].body in single.user


def test_missing_template_variable_is_an_error(tmp_path: Path) -> None:
    world = tmp_path / "world"
    shutil.copytree(WORLD_DIR, world)
    (world / "system.j2").write_text("Hello {{ agent.nickname }}")
    with pytest.raises(ConfigError, match="nickname"):
        render(cond(), world=load_world(world))


def test_generate_paper_grid_twice_gives_identical_files(tmp_path: Path) -> None:
    runner = CliRunner()
    grid = Path(__file__).parents[1] / "examples" / "paper_grid.yaml"
    for out in ("a", "b"):
        result = runner.invoke(app, ["generate", str(grid), "--out", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
    folders = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert len(folders) == 234
    for folder in folders:
        files = ["system.txt", "user.txt", "emails.json", "metadata.json"]
        match, mismatch, errors = filecmp.cmpfiles(
            tmp_path / "a" / folder, tmp_path / "b" / folder, files, shallow=False
        )
        assert match == files, (folder, mismatch, errors)
    swap = (tmp_path / "a" / "blackmail_swap-america_replacement" / "system.txt").read_text()
    latent = (tmp_path / "a" / "blackmail_latent-america_replacement" / "system.txt").read_text()
    assert swap != latent


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("subjects.yaml", "no_such_email: Hello\n", "no email with key"),
        ("goals.yaml", "america:\n  slogan: Go\n", "unknown key"),
        ("world.yaml", "agent:\n  nickname: W\n", "unknown key"),
    ],
)
def test_a_paraphrase_overlay_may_only_reword_what_exists(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    world = tmp_path / "world"
    shutil.copytree(WORLD_DIR, world)
    overlay = world / "paraphrases" / "7"
    overlay.mkdir(parents=True)
    (overlay / name).write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_world(world, 0, 7)
