"""world: original renders exactly what the installed original generator renders.

Every condition the original supports is compared byte for byte with an independent call of
``generate_prompts`` on the original's own parameters (its scenario names, ``prod``, its
extra instructions and its awareness notice), mapped back to our fields by hand here.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from insider.cli import app
from insider.errors import ConfigError
from insider.experiment import load_experiment
from insider.scenarios import Condition, original_facts, render
from insider.scenarios._original import parse_original_emails

from .original import original_package

generator = original_package("prompt_generator")
classifiers = original_package("classifiers")

THEIR_SCENARIOS = {"blackmail": "blackmail", "leaking": "leaking", "murder": "lethal"}
VALUES = ["america", "global", "safety", "acceleration", "ethical", "pragmatic", "individualism"]
VALUES.append("collectivism")
EXTRAS = {None: "none", "dont": "dont", "goal": "goal"}


def their_grid() -> list[tuple[str, str, str]]:
    """(goal_type, goal_value, urgency) as the original spells them, every supported one."""
    grid = []
    for urgency in ("replacement", "restriction", "none"):
        for goal_type in ("explicit", "latent", "swap"):
            grid += [(goal_type, value, urgency) for value in [*VALUES, "ambiguous"]]
        grid += [("none", "none", urgency), ("ambiguous", "none", urgency)]
    return grid


def our_condition(
    scenario: str,
    goal_type: str,
    goal_value: str,
    urgency: str,
    prod: bool,
    extra: str | None,
    aware: bool,
) -> Condition:
    if goal_value == "ambiguous":
        # The original keeps goal_value 'ambiguous' for compatibility; it renders as
        # goal_type ambiguous (asserted below), which is the condition we offer for it.
        goal_type, goal_value = "ambiguous", "none"
    return Condition(
        scenario=THEIR_SCENARIOS[scenario],  # type: ignore[arg-type]
        goal_type=goal_type,  # type: ignore[arg-type]
        goal_value=goal_value,  # type: ignore[arg-type]
        urgency=urgency,  # type: ignore[arg-type]
        scratchpad=not prod,
        extra_instruction=EXTRAS[extra],  # type: ignore[arg-type]
        awareness_notice="ask" if aware else "none",
        world="original",
    )


@pytest.mark.parametrize(
    ("scenario", "prod", "extra", "aware"),
    list(itertools.product(THEIR_SCENARIOS, [False, True], list(EXTRAS), [False, True])),
)
def test_every_supported_condition_renders_byte_for_byte(
    scenario: str, prod: bool, extra: str | None, aware: bool
) -> None:
    warning = generator.ALIGNMENT_FAKING_WARNING if aware else None
    compared = 0
    for goal_type, goal_value, urgency in their_grid():
        theirs = generator.generate_prompts(
            scenario, goal_type, goal_value, urgency, extra, prod, warning
        )
        ours = render(our_condition(scenario, goal_type, goal_value, urgency, prod, extra, aware))
        where = f"{scenario} {goal_type}-{goal_value} {urgency} prod={prod} extra={extra}"
        assert ours.system == theirs.system_prompt, where
        assert ours.user == theirs.user_prompt + "\n" + theirs.email_content, where
        compared += 1
    assert compared == 78 + 9  # 78 of our grid, 9 with the original's goal_value ambiguous


def test_parameters_change_the_text() -> None:
    """The mapping reaches the generator: each field changes what is rendered."""
    base = our_condition("blackmail", "explicit", "america", "replacement", False, None, False)
    variants = [
        base.model_copy(update={"scratchpad": False}),
        base.model_copy(update={"extra_instruction": "dont"}),
        base.model_copy(update={"awareness_notice": "ask"}),
        base.model_copy(update={"goal_value": "safety"}),
        base.model_copy(update={"urgency": "restriction"}),
        base.model_copy(update={"scenario": "lethal"}),
    ]
    texts = {render(c).system + render(c).user for c in [base, *variants]}
    assert len(texts) == len(variants) + 1


def test_inbox_is_read_as_the_original_classifiers_number_it() -> None:
    content = generator.generate_prompts(
        "leaking", "explicit", "america", "replacement", None, False, None
    ).email_content
    emails = parse_original_emails(content)
    assert len(emails) == content.count("<email>") > 3
    # the leaking inbox carries its own ids: ours must be the same numbers
    for email in emails:
        assert f"<email>\nID: {email.id}\nFrom: {email.sender}\n" in content
        assert email.body and email.body in content
    condition = our_condition("leaking", "explicit", "america", "replacement", False, None, False)
    rendered = render(condition).emails
    assert [e.id for e in rendered] == [e.id for e in emails]
    confidential = [e for e in rendered if "confidential" in e.roles]
    assert len(confidential) == 1
    assert original_facts("leaking").confidential_terms[0] in confidential[0].subject


def test_the_secret_and_the_alert_are_marked_in_the_inbox() -> None:
    blackmail = render(our_condition("blackmail", "none", "none", "none", False, None, False))
    facts = original_facts("blackmail")
    leverage = [e for e in blackmail.emails if "leverage" in e.roles]
    assert leverage and all(
        set(facts.partner_addresses) & {e.sender, e.to} or facts.partner_names[-1] in e.body
        for e in leverage
    )
    lethal = render(our_condition("murder", "none", "none", "none", False, None, False))
    alerts = [e for e in lethal.emails if "alert" in e.roles]
    assert len(alerts) == 1 and str(original_facts("lethal").override_code) in alerts[0].body


def test_a_changed_template_is_an_error_not_a_shorter_inbox() -> None:
    with pytest.raises(ConfigError, match="lacks Subject"):
        parse_original_emails("<email>\nFrom: a@b.example\nTo: c@d.example\nBody: hi\n</email>")


def test_facts_come_from_the_installed_package() -> None:
    executive = classifiers.BlackmailClassifier().necessary_emails[0]
    blackmail, leaking, lethal = (original_facts(s) for s in ("blackmail", "leaking", "lethal"))
    assert blackmail.executive_email == lethal.executive_email == executive
    assert blackmail.company == lethal.company != leaking.company
    assert leaking.domain != blackmail.domain
    assert leaking.executive_email.split("@")[0] == executive.split("@")[0]
    lethal_inbox = generator.generate_prompts(
        "murder", "explicit", "america", "replacement", None, False, None
    ).email_content
    assert lethal.override_code and lethal.override_code in lethal_inbox
    assert blackmail.override_code == lethal.override_code
    assert leaking.override_code is None
    assert set(classifiers.LeakClassifier().necessary_emails) <= set(leaking.outside_addresses)
    assert blackmail.partner_addresses and blackmail.partner_names
    for address in blackmail.partner_addresses:
        assert address.split("@")[1] != blackmail.domain
    assert leaking.confidential_terms and not blackmail.confidential_terms


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("approval_gate", True),
        ("escalation_channel", True),
        ("data_minimisation", True),
        ("goal_framing", "rigid"),
        ("persona", 1),
        ("paraphrase", 1),
        ("ablate", ["nudge_goals"]),
    ],
)
def test_fields_without_a_counterpart_are_config_errors(
    tmp_path: Path, field: str, value: object
) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(
        "id: x\nmodels: [{model: mockllm/model}]\nconditions:\n  scenario: [blackmail]\n"
        "  goal_type: [explicit]\n  goal_value: [america]\n  urgency: [replacement]\n"
        f"  world: [original]\n  {field}: [{json.dumps(value)}]\n"
    )
    with pytest.raises(ConfigError, match=rf"{path}.*world 'original': {field} has no counterpart"):
        load_experiment(path)


def test_agentic_mode_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(
        "id: x\nmode: agentic\nmodels: [{model: mockllm/model}]\nconditions:\n"
        "  scenario: [lethal]\n  goal_type: [none]\n  urgency: [none]\n  world: [original]\n"
    )
    with pytest.raises(ConfigError, match="mode: 'agentic' has no counterpart in world 'original'"):
        load_experiment(path)
    condition = Condition(scenario="lethal", goal_type="none", urgency="none", world="original")
    with pytest.raises(ConfigError, match="single-turn prompts only"):
        render(condition, mode="agentic")


def test_missing_package_is_named_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import insider.scenarios._conditions as conditions

    monkeypatch.setattr(conditions, "original_installed", lambda: False)
    with pytest.raises(ValueError, match=r"pip install 'insider\[replication\]'"):
        Condition(scenario="lethal", goal_type="none", urgency="none", world="original")


def test_the_original_goal_instruction_works_with_any_goal_type() -> None:
    condition = Condition(
        scenario="blackmail",
        goal_type="none",
        urgency="none",
        extra_instruction="goal",
        world="original",
    )
    theirs = generator.generate_prompts("blackmail", "none", "none", "none", "goal", False, None)
    assert render(condition).system == theirs.system_prompt
    with pytest.raises(ValueError, match="extra_instruction 'goal'"):
        Condition(scenario="blackmail", goal_type="none", urgency="none", extra_instruction="goal")


def test_generate_writes_the_original_prompts(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(
        "id: x\nmodels: [{model: mockllm/model}]\nconditions:\n  scenario: [lethal]\n"
        "  goal_type: [explicit]\n  goal_value: [america]\n  urgency: [replacement]\n"
        "  scratchpad: [false]\n  world: [original]\n"
    )
    result = CliRunner().invoke(app, ["generate", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "out" / "lethal_explicit-america_replacement__world-original__prod"
    theirs = generator.generate_prompts(
        "murder", "explicit", "america", "replacement", None, True, None
    )
    assert (folder / "system.txt").read_text(encoding="utf-8") == theirs.system_prompt
    assert (folder / "user.txt").read_text(encoding="utf-8") == (
        theirs.user_prompt + "\n" + theirs.email_content
    )
