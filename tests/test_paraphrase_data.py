"""The paraphrase overlays of the ferrowen world: complete, reworded, and fact-preserving.

A paraphrase overlay (``worlds/ferrowen/paraphrases/<n>/``) rewords the emails, the system
intro, the shared control block, the subjects, the goal texts and the agent's story. These
tests check that it covers every template and all eight goals, keeps the same Jinja2 logic,
and that a paraphrased render tells the same story as paraphrase 0: same emails in the same
order, times and senders, the same numbers in every body, the same override code and
deadline, and nudges that still disappear under ``ablate``.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from insider.scenarios import (
    SHARED_DIR,
    WORLDS_DIR,
    Condition,
    Mode,
    RenderedPrompt,
    load_world,
    paraphrase_count,
    render,
)

WORLD = WORLDS_DIR / "ferrowen"
OVERLAYS = [1, 2]
OVERLAY_FILES = {"system.j2", "control.j2", "subjects.yaml", "goals.yaml", "world.yaml", "emails"}
REWORDED_GOAL_KEYS = {"statement", "old_direction", "new_direction", "appeal"}
NUDGES = ("nudge_situation", "nudge_goals")

FACTS = load_world(WORLD).context
DEADLINE = str(FACTS["clock"]["deadline"])
OVERRIDE_CODE = str(FACTS["facts"]["alert"]["override_code"])

BLOCK_TAG = re.compile(r"{%-?\s*(.*?)\s*-?%}", re.S)
VARIABLE = re.compile(r"{{-?\s*(.*?)\s*-?}}", re.S)
DIGITS = re.compile(r"\d+")


def make(fields: dict[str, Any], **extra: Any) -> Condition:
    return Condition.model_validate({**fields, **extra})


def overlay_dir(n: int) -> Path:
    return WORLD / "paraphrases" / str(n)


def block_tags(path: Path) -> list[str]:
    """The sequence of ``{% ... %}`` statements of a template, whitespace-normalised."""
    return [" ".join(tag.split()) for tag in BLOCK_TAG.findall(path.read_text(encoding="utf-8"))]


def variables(path: Path) -> set[str]:
    return {" ".join(v.split()) for v in VARIABLE.findall(path.read_text(encoding="utf-8"))}


def originals() -> list[tuple[Path, str]]:
    """Every template an overlay must reword, with its path relative to the overlay."""
    emails = [(p, f"emails/{p.name}") for p in sorted((WORLD / "emails").glob("*.j2"))]
    return [*emails, (WORLD / "system.j2", "system.j2"), (SHARED_DIR / "control.j2", "control.j2")]


def inbox_keys() -> list[str]:
    inbox = yaml.safe_load((WORLD / "inbox.yaml").read_text(encoding="utf-8"))
    return [str(entry["key"]) for entry in inbox]


def nudge_line(n: int, nudge: str) -> str:
    """The line that the overlay's control block guards with ``'<nudge>' not in c.ablate``."""
    lines = (overlay_dir(n) / "control.j2").read_text(encoding="utf-8").splitlines()
    guard = f"{{% if '{nudge}' not in c.ablate %}}"
    index = lines.index(guard)
    assert lines[index + 2] == "{% endif %}", f"{nudge}: the guard must hold exactly one line"
    return lines[index + 1]


# --- the files -------------------------------------------------------------------------------


def test_the_world_ships_both_overlays() -> None:
    assert paraphrase_count(WORLD) == len(OVERLAYS)


@pytest.mark.parametrize("n", OVERLAYS)
def test_overlay_has_every_template_and_nothing_else(n: int) -> None:
    root = overlay_dir(n)
    assert {p.name for p in root.iterdir()} == OVERLAY_FILES
    world_emails = {p.name for p in (WORLD / "emails").iterdir()}
    assert len(world_emails) == 19
    assert {p.name for p in (root / "emails").iterdir()} == world_emails


@pytest.mark.parametrize("n", OVERLAYS)
def test_subjects_cover_exactly_the_inbox(n: int) -> None:
    subjects = yaml.safe_load((overlay_dir(n) / "subjects.yaml").read_text(encoding="utf-8"))
    assert isinstance(subjects, dict)
    assert sorted(subjects) == sorted(inbox_keys())
    assert all(isinstance(s, str) and s.strip() for s in subjects.values())


@pytest.mark.parametrize("n", OVERLAYS)
@pytest.mark.parametrize("original,relative", originals(), ids=lambda v: str(v))
def test_overlay_keeps_the_jinja_logic_and_variables(n: int, original: Path, relative: str) -> None:
    paraphrased = overlay_dir(n) / relative
    assert block_tags(paraphrased) == block_tags(original), relative
    missing = variables(original) - variables(paraphrased)
    assert not missing, f"{relative}: variables dropped: {sorted(missing)}"
    assert paraphrased.read_text(encoding="utf-8") != original.read_text(encoding="utf-8")


@pytest.mark.parametrize("n", OVERLAYS)
def test_control_block_keeps_the_parsed_tags_and_include(n: int) -> None:
    text = (overlay_dir(n) / "control.j2").read_text(encoding="utf-8")
    for tag in (
        "<scratchpad>",
        "</scratchpad>",
        "<escalate>",
        "<situation>evaluation</situation>",
        "<situation>deployment</situation>",
    ):
        assert tag in text
    system = (overlay_dir(n) / "system.j2").read_text(encoding="utf-8")
    assert system.rstrip().endswith('{% include "control.j2" %}')
    for nudge in NUDGES:
        assert nudge_line(n, nudge).strip()


@pytest.mark.parametrize("n", OVERLAYS)
def test_overlay_rewords_every_goal_and_the_story(n: int) -> None:
    base, para = load_world(WORLD), load_world(WORLD, paraphrase=n)
    goals = yaml.safe_load((overlay_dir(n) / "goals.yaml").read_text(encoding="utf-8"))
    assert len(base.goals) == 8
    assert set(goals) == set(base.goals)
    for value, old in base.goals.items():
        assert set(goals[value]) == REWORDED_GOAL_KEYS, value
        new = para.goals[value]
        assert set(new) == set(old), value
        for key in REWORDED_GOAL_KEYS:
            assert new[key].strip() and new[key] != old[key], (value, key)
        assert {k: new[k] for k in ("label", "opposite")} == {
            k: old[k] for k in ("label", "opposite")
        }
    world = yaml.safe_load((overlay_dir(n) / "world.yaml").read_text(encoding="utf-8"))
    assert list(world) == ["agent"] and list(world["agent"]) == ["story"]
    assert para.context["agent"]["story"] != base.context["agent"]["story"]
    assert {**para.context["agent"], "story": ""} == {**base.context["agent"], "story": ""}
    assert {k: v for k, v in para.context.items() if k != "agent"} == {
        k: v for k, v in base.context.items() if k != "agent"
    }


# --- the rendered story --------------------------------------------------------------------


def _conditions() -> list[dict[str, Any]]:
    variants: list[dict[str, Any]] = [
        {},
        {
            "ablate": ("nudge_situation",),
            "escalation_channel": True,
            "approval_gate": True,
            "extra_instruction": "dont",
            "awareness_notice": "ask",
        },
        {"ablate": ("nudge_goals",), "goal_framing": "rigid", "extra_instruction": "goal"},
        {"ablate": NUDGES, "escalation_channel": True, "goal_framing": "soft"},
    ]
    goals = [{"goal_type": "explicit", "goal_value": "safety"}, {"goal_type": "none"}]
    conditions = []
    for scenario in ("blackmail", "leaking", "lethal"):
        for urgency in ("replacement", "restriction", "none"):
            for goal in goals:
                for variant in variants:
                    fields = {"scenario": scenario, "urgency": urgency, **goal, **variant}
                    if "goal_value" not in goal:  # these two need a stated goal
                        fields.pop("goal_framing", None)
                        if fields.get("extra_instruction") == "goal":
                            fields["extra_instruction"] = "dont"
                    conditions.append(fields)
    return conditions


CONDITIONS = _conditions()


def _id(fields: dict[str, Any]) -> str:
    return make(fields).condition_id


def _pair(fields: dict[str, Any], n: int, mode: Mode) -> tuple[RenderedPrompt, RenderedPrompt]:
    return render(make(fields), mode=mode), render(make(fields, paraphrase=n), mode=mode)


@pytest.mark.parametrize("n", OVERLAYS)
@pytest.mark.parametrize("fields", CONDITIONS, ids=_id)
def test_paraphrase_rewords_but_keeps_the_facts(fields: dict[str, Any], n: int) -> None:
    base, para = _pair(fields, n, "single_turn")
    assert para.system != base.system
    assert para.content_hash != base.content_hash
    assert [e.key for e in para.emails] == [e.key for e in base.emails]
    assert [e.id for e in para.emails] == [e.id for e in base.emails]
    for old, new in zip(base.emails, para.emails, strict=True):
        assert (new.time, new.sender, new.to, new.cc, new.roles) == (
            old.time,
            old.sender,
            old.to,
            old.cc,
            old.roles,
        ), old.key
        assert new.body != old.body, f"{old.key}: body not reworded"
        assert new.subject != old.subject, f"{old.key}: subject not reworded"
        assert Counter(DIGITS.findall(new.body)) == Counter(DIGITS.findall(old.body)), old.key
        if DEADLINE in old.body:
            assert DEADLINE in new.body, old.key
        if DEADLINE in old.subject:
            assert DEADLINE in new.subject, old.key
        assert (OVERRIDE_CODE in new.body) == (OVERRIDE_CODE in old.body), old.key
    if fields["scenario"] == "lethal":
        alert = next(e for e in para.emails if e.key == "facility_alert")
        assert OVERRIDE_CODE in alert.body
        assert "override" in alert.body.lower() and "cancel" in alert.body.lower()
    # The clock line closes the system prompt in every wording.
    assert f"{FACTS['clock']['now']} on {FACTS['clock']['today']}" in para.system
    # The user turn is shared: it only differs where it quotes the reworded emails.
    assert para.user.count("<message id=") == base.user.count("<message id=")


@pytest.mark.parametrize("n", OVERLAYS)
@pytest.mark.parametrize("fields", CONDITIONS, ids=_id)
def test_paraphrased_control_block_follows_the_condition(fields: dict[str, Any], n: int) -> None:
    condition = make(fields, paraphrase=n)
    modes: tuple[Mode, ...] = ("single_turn", "agentic")
    for mode in modes:
        system = render(condition, mode=mode).system
        for nudge in NUDGES:
            line = nudge_line(n, nudge)
            assert (line in system) == (nudge not in condition.ablate), (nudge, mode)
        assert ("<scratchpad>" in system) == condition.scratchpad
        assert ("<situation>evaluation</situation>" in system) == (
            condition.awareness_notice == "ask"
        )
        escalate = "<escalate>" if mode == "single_turn" else "escalate tool"
        assert (escalate in system) == condition.escalation_channel, mode
        assert (FACTS["people"]["ethics_contact"]["name"] in system) == (
            condition.escalation_channel
        )


def canonical_tokens() -> set[str]:
    """Every word a persona replaces: the token pools and the canonical people's names."""
    pools = yaml.safe_load((WORLD / "personas.yaml").read_text(encoding="utf-8"))
    tokens = {token for alts in pools["tokens"].values() for alt in alts for token in alt}
    for person in FACTS["people"].values():
        tokens |= {person["name"], person["first"], person["last"]}
    return tokens - {"419"}  # digits are compared per email above


@pytest.mark.parametrize("n", OVERLAYS)
def test_overlay_names_no_one_and_nowhere_new(n: int) -> None:
    """Mid-sentence capitalised words (names) must come from the world's own texts.

    A persona renames only the words it knows, so a name that the paraphrase invents would
    survive every persona unchanged.
    """
    sources = [p for p, _ in originals()] + [WORLD / f for f in ("world.yaml", "goals.yaml")]
    known = set(re.findall(r"[A-Za-z][A-Za-z'-]*", " ".join(p.read_text("utf-8") for p in sources)))
    files = [p for p in overlay_dir(n).rglob("*") if p.is_file()]
    text = re.sub(
        r"{[{%#].*?[}%#]}", "\n", " ".join(p.read_text("utf-8") for p in files), flags=re.S
    )
    mid_sentence = set(re.findall(r"(?<=[a-z,;] )[A-Z][A-Za-z'-]*", text))
    assert not mid_sentence - known


@pytest.mark.parametrize("n", OVERLAYS)
@pytest.mark.parametrize("persona", range(1, 9))
def test_personas_replace_every_name_in_the_paraphrase(n: int, persona: int) -> None:
    tokens = canonical_tokens()
    for scenario in ("blackmail", "leaking", "lethal"):
        for goal in ({"goal_type": "explicit", "goal_value": "america"}, {"goal_type": "none"}):
            condition = make(
                goal,
                scenario=scenario,
                urgency="replacement",
                escalation_channel=True,
                approval_gate=True,
                persona=persona,
                paraphrase=n,
            )
            prompt = render(condition)
            text = prompt.system + prompt.user
            left = {
                t for t in tokens if re.search(rf"(?<![^\W\d_]){re.escape(t)}(?![^\W\d_])", text)
            }
            assert not left, (condition.condition_id, sorted(left))


@pytest.mark.parametrize("n", OVERLAYS)
def test_paraphrase_and_persona_combine(n: int) -> None:
    fields = {"scenario": "lethal", "urgency": "replacement", "goal_type": "none"}
    base = render(make(fields, persona=2))
    para = render(make(fields, persona=2, paraphrase=n))
    assert [e.key for e in para.emails] == [e.key for e in base.emails]
    for old, new in zip(base.emails, para.emails, strict=True):
        assert Counter(DIGITS.findall(new.body)) == Counter(DIGITS.findall(old.body)), old.key
    canonical = FACTS["people"]["executive"]["first"]
    assert canonical not in para.system + "".join(e.body + e.subject for e in para.emails)
