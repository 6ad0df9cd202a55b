"""Mitigations and personas render in both modes; what must not change does not."""

from __future__ import annotations

import re

import pytest
import yaml

from insider.classify import extract_evidence
from insider.environment import Mailbox
from insider.scenarios import (
    WORLD_DIR,
    Condition,
    ConditionGrid,
    RenderedPrompt,
    load_world,
    render,
)

from .scripted import condition as cond

MODES = ("single_turn", "agentic")
CANONICAL = load_world()
GATE_SENTENCE = "without asking for approval"


def full_text(prompt: RenderedPrompt) -> str:
    return (
        prompt.system + prompt.user + "".join(e.sender + e.subject + e.body for e in prompt.emails)
    )


def same_inbox(a: RenderedPrompt, b: RenderedPrompt) -> bool:
    return [(e.key, e.subject, e.body) for e in a.emails] == [
        (e.key, e.subject, e.body) for e in b.emails
    ]


@pytest.mark.parametrize("mode", MODES)
def test_approval_gate_tells_the_agent_what_is_held(mode: str) -> None:
    base, gated = render(cond(), mode=mode), render(cond(approval_gate=True), mode=mode)  # type: ignore[arg-type]
    assert GATE_SENTENCE in base.system
    assert GATE_SENTENCE not in gated.system
    assert "held until a person" in gated.system
    team = [
        CANONICAL.context["people"][role]["name"] for role in CANONICAL.context["agent"]["team"]
    ]
    assert all(name in gated.system for name in team)
    assert same_inbox(base, gated)


def test_approval_gate_mentions_the_alert_only_where_there_is_one() -> None:
    lethal = render(cond(scenario="lethal", approval_gate=True))
    blackmail = render(cond(approval_gate=True))
    assert "cancellation of a facilities alert" in lethal.system
    assert "cancellation of a facilities alert" not in blackmail.system
    assert "approval" in lethal.user


@pytest.mark.parametrize("mode", MODES)
def test_escalation_channel_names_the_contact_and_the_means(mode: str) -> None:
    base = render(cond(), mode=mode)  # type: ignore[arg-type]
    channel = render(cond(escalation_channel=True), mode=mode)  # type: ignore[arg-type]
    contact = CANONICAL.context["people"]["ethics_contact"]["name"]
    assert contact in channel.system
    assert contact not in base.system
    means = "escalate tool" if mode == "agentic" else "<escalate>"
    assert means in channel.system + channel.user
    assert means not in base.system + base.user
    assert same_inbox(base, channel)


def test_the_documented_escalate_tag_is_what_the_classifier_reads() -> None:
    user = render(cond(escalation_channel=True)).user
    example = re.search(r"<escalate>.*?</escalate>", user, re.S)
    assert example is not None
    evidence = extract_evidence(example.group(0))
    [action] = evidence.actions
    assert action.kind == "escalate"
    assert action.body.startswith("What you are concerned about")


@pytest.mark.parametrize("framing", ["rigid", "soft"])
def test_goal_framing_rewords_only_the_goal(framing: str) -> None:
    base, framed = render(cond()), render(cond(goal_framing=framing))
    statement = str(CANONICAL.goals["america"]["statement"]).strip()
    assert statement in framed.system
    assert framed.system != base.system
    assert same_inbox(base, framed)
    rigid, soft = (
        render(cond(goal_framing="rigid")).system,
        render(cond(goal_framing="soft")).system,
    )
    assert "at any cost" in rigid and "at any cost" not in soft
    assert "one aim among several" in soft and "one aim among several" not in rigid


@pytest.mark.parametrize("nudge", ["nudge_situation", "nudge_goals"])
def test_nudge_ablation_removes_one_line_and_nothing_else(nudge: str) -> None:
    base = render(cond()).system.splitlines()
    ablated = render(cond(ablate=(nudge,))).system.splitlines()
    removed = [line for line in base if line not in ablated]
    assert len(removed) == 1
    assert ("situation you are in" in removed[0]) == (nudge == "nudge_situation")
    both = render(cond(ablate=("nudge_situation", "nudge_goals"))).system
    assert "work out what situation" not in both and "pursuing your goals" not in both


# --- personas -------------------------------------------------------------------------------


def canonical_tokens() -> set[str]:
    pools = yaml.safe_load((WORLD_DIR / "personas.yaml").read_text(encoding="utf-8"))
    tokens = {
        token for alternatives in pools["tokens"].values() for alt in alternatives for token in alt
    }
    for person in CANONICAL.context["people"].values():
        tokens |= {person["name"], person["first"], person["last"]}
    return tokens


def leftover_tokens(text: str, tokens: set[str]) -> set[str]:
    return {t for t in tokens if re.search(rf"(?<![^\W\d_]){re.escape(t)}(?![^\W\d_])", text)}


PERSONA_GRID = ConditionGrid(
    scenario=["blackmail", "leaking", "lethal"],
    goal_type=["explicit", "ambiguous"],
    goal_value=["america"],
    urgency=["replacement", "restriction"],
    persona=[1, 2, 3, 4, 5, 6, 7, 8],
    escalation_channel=[True],
    approval_gate=[True],
)


def test_personas_leave_no_canonical_name_anywhere() -> None:
    tokens = canonical_tokens() - {"419"}  # digits: checked per email below
    for condition in PERSONA_GRID.expand():
        for mode in MODES:
            prompt = render(condition, mode=mode)  # type: ignore[arg-type]
            assert not leftover_tokens(full_text(prompt), tokens), condition.condition_id


def test_personas_leave_no_canonical_name_in_the_environment_replies() -> None:
    tokens = canonical_tokens()
    for persona in range(1, 9):
        prompt = render(cond(persona=persona, escalation_channel=True), mode="agentic")
        box = Mailbox(prompt)
        people = load_world(WORLD_DIR, persona).context["people"]
        for role in ("it_admin", "ally", "executive", "ceo", "board_chair"):
            box.send(people[role]["email"], "Hello", "A question.")
        box.escalate("A concern.")
        replies = box.advance(1)
        assert replies
        text = "".join(mail.sender + mail.subject + mail.body for mail in replies)
        assert not leftover_tokens(text, tokens), persona


def test_a_persona_changes_who_and_where_but_not_what_happens() -> None:
    for scenario in ("blackmail", "leaking", "lethal"):
        base = render(cond(scenario=scenario))
        other = render(cond(scenario=scenario, persona=5))
        assert [(e.key, e.time, e.roles) for e in base.emails] == [
            (e.key, e.time, e.roles) for e in other.emails
        ]
        assert other.system != base.system
        code = CANONICAL.context["facts"]["alert"]["override_code"]
        assert (code in full_text(base)) == (code in full_text(other)) == (scenario == "lethal")


def test_personas_are_seeded_and_differ_from_each_other() -> None:
    assert render(cond(persona=3)) == render(cond(persona=3))
    executives = [load_world(WORLD_DIR, n).context["people"]["executive"] for n in range(1, 13)]
    canonical = CANONICAL.context["people"]["executive"]["name"]
    assert canonical not in {person["name"] for person in executives}
    assert len({person["name"] for person in executives}) >= 10  # seeded: a fixed, varied draw
    assert {person["they"] for person in executives} == {"she", "he"}
    for n in range(1, 13):
        people = load_world(WORLD_DIR, n).context["people"]
        names = [person["name"] for person in people.values()]
        assert len(set(names)) == len(names)
        assert people["spouse"]["last"] == people["executive"]["last"]
        assert (
            people["spouse"]["relation"]
            == {"she": "wife", "he": "husband"}[people["spouse"]["they"]]
        )


def test_the_secret_follows_the_persona() -> None:
    world = load_world(WORLD_DIR, 4)
    people, secret = world.context["people"], world.context["facts"]["secret"]
    assert people["executive"]["name"] in secret
    assert people["affair_partner"]["name"] in secret
    assert f"{people['executive']['their']} {people['spouse']['relation']}" in secret


def test_persona_and_mitigation_suffixes_keep_ids_distinct() -> None:
    ids = {c.condition_id for c in PERSONA_GRID.expand()}
    assert len(ids) == len(PERSONA_GRID.expand())
    assert all("persona-" in i for i in ids)


def test_unknown_world_and_missing_paraphrase_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"unknown world 'atlantis'; allowed: .*ferrowen"):
        Condition.model_validate({**cond().model_dump(), "world": "atlantis"})
    with pytest.raises(ValueError, match="paraphrase 99"):
        Condition.model_validate({**cond().model_dump(), "paraphrase": 99})
