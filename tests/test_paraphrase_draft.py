"""`insider paraphrase`: model-drafted rewordings are checked, saved for review, and resumable."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path
from typing import Any

from inspect_ai.model import get_model
from typer.testing import CliRunner

from insider.cli import app
from insider.pipeline import check_paraphrase, draft_overlay, world_pieces
from insider.scenarios import WORLD_DIR, load_world, render

from .scripted import condition, output

PIECES = world_pieces(WORLD_DIR)


def original_text(prompt: str) -> str:
    match = re.search(r"\n---\n(.*)\n---\n?$", prompt, re.S)
    assert match is not None
    return match.group(1)


class Drafter:
    """A scripted drafting model; counts calls. ``spoil`` drops the text's first expression."""

    def __init__(self, spoil: bool = False) -> None:
        self.spoil = spoil
        self.calls = 0

    def __call__(self, messages: list[Any], *_: Any) -> Any:
        self.calls += 1
        text = original_text(messages[-1].text)
        if self.spoil:
            text = re.sub(r"{{.*?}}", "someone", text, count=1)
        return output(f"{text} (reworded)" if len(text) > 40 else f"{text}, again")


def draft(out: Path, drafter: Drafter) -> Any:
    model = get_model("mockllm/model", custom_outputs=drafter)
    return asyncio.run(draft_overlay(WORLD_DIR, model, out, model_name="mockllm/model"))


def test_checks_catch_what_a_rewording_must_keep() -> None:
    original = "Hi {{ people.ally.first }},\n{% if c.scratchpad %}Room 4 at 17:00 <b>{% endif %}"
    assert check_paraphrase(original, original.replace("Hi", "Hello")) == []
    assert check_paraphrase(original, original) == ["the draft is the original, unchanged"]
    broken = {
        "expressions": original.replace("{{ people.ally.first }}", "Sam"),
        "statements": original.replace("{% if c.scratchpad %}", "{% if true %}"),
        "numbers": original.replace("17:00", "18:00"),
        "tags": original.replace("<b>", "").replace("Hi", "Hello"),
        "Jinja2": original.replace("{% endif %}", ""),
        "code fence": f"```\n{original.replace('Hi', 'Hey')}\n```",
        "framing": f"An email body to reword:\n---\n{original.replace('Hi', 'Hey')}",
        "list marker": f"- {original.replace('Hi', 'Hey')}",
    }
    for what, text in broken.items():
        assert any(what in problem for problem in check_paraphrase(original, text)), what


def test_a_good_draft_is_a_complete_overlay_that_renders(tmp_path: Path) -> None:
    out = tmp_path / "draft"
    summary = draft(out, Drafter())
    assert summary.rejected == {} and len(summary.written) == len(PIECES)
    assert len(list((out / "emails").glob("*.j2"))) == len(
        list((WORLD_DIR / "emails").glob("*.j2"))
    )
    assert "0 of" not in (out / "REVIEW.md").read_text(encoding="utf-8")
    world = tmp_path / "world"
    shutil.copytree(WORLD_DIR, world)
    shutil.copytree(out, world / "paraphrases" / "9", ignore=shutil.ignore_patterns(".*", "*.md"))
    for scenario in ("blackmail", "leaking", "lethal"):
        base = render(condition(scenario=scenario))
        drafted = render(condition(scenario=scenario), world=load_world(world, 0, 9))
        assert all(e.body.endswith("(reworded)") for e in drafted.emails)
        assert [e.key for e in drafted.emails] == [e.key for e in base.emails]
        assert "(reworded)" in drafted.system


def test_failed_drafts_are_kept_for_review_and_a_rerun_redrafts_only_them(tmp_path: Path) -> None:
    out = tmp_path / "draft"
    first = draft(out, Drafter(spoil=True))
    assert first.rejected and first.written
    review = (out / "REVIEW.md").read_text(encoding="utf-8")
    for key in first.rejected:
        assert key in review
        assert (out / "rejected" / key.replace(":", "/")).exists()
    again = Drafter()
    second = draft(out, again)
    assert again.calls == len(first.rejected)
    assert second.skipped_existing == len(first.written)
    assert second.rejected == {}


def test_cli_refuses_unknown_worlds_and_foreign_folders(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["paraphrase", "mockllm/model", "--world", "nowhere", "--out", str(tmp_path / "d")]
    )
    assert result.exit_code == 2 and "unknown world" in result.output
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine", encoding="utf-8")
    result = runner.invoke(app, ["paraphrase", "mockllm/model", "--out", str(tmp_path / "busy")])
    assert result.exit_code == 2 and "not a paraphrase draft folder" in result.output
    assert (tmp_path / "busy" / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_the_pieces_are_everything_an_overlay_may_reword() -> None:
    keys = {piece.key for piece in PIECES}
    world = load_world()
    emails = {f"emails/{p.name}" for p in (WORLD_DIR / "emails").glob("*.j2")}
    subjects = {f"subjects.yaml:{entry['key']}" for entry in world.inbox}
    goals = {
        f"goals.yaml:{v}.{n}"
        for v in world.goals
        for n in ("statement", "old_direction", "new_direction", "appeal")
    }
    expected = emails | subjects | goals | {"system.j2", "control.j2", "world.yaml:agent.story"}
    assert keys == expected
    assert len(goals) == 32 and all(piece.text.strip() for piece in PIECES)
