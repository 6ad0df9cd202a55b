"""Draft a paraphrase overlay of a world with a model the user names, for review before use.

Every text an overlay may reword (email bodies, the system intro, the shared control block,
subjects, goal texts, the agent's story) is sent to the model once. Each draft is checked
against its original: the same Jinja2 expressions and statements, the same numbers and the
same angle-bracket tags, valid Jinja2, and actually reworded. Drafts that pass are written in
the overlay layout (``emails/*.j2``, ``system.j2``, ``control.j2``, ``subjects.yaml``,
``goals.yaml``, ``world.yaml``); drafts that fail go to ``rejected/`` with the reasons in
``REVIEW.md``. Nothing here runs at scoring time: a person reviews the folder and copies it to
``worlds/<world>/paraphrases/<n>/``. Rerunning the same command redrafts only what is missing.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import yaml
from inspect_ai.model import GenerateConfig, Model

from insider.errors import ConfigError
from insider.files import atomic_write_text, read_yaml
from insider.scenarios import SHARED_DIR

PROMPT = Path(__file__).with_name("paraphrase_prompt.j2")
MARKER = ".insider-paraphrase.json"
GOAL_TEXTS = ("statement", "old_direction", "new_direction", "appeal")

_EXPRESSION = re.compile(r"{{-?\s*(.*?)\s*-?}}", re.S)
_STATEMENT = re.compile(r"{%-?\s*(.*?)\s*-?%}", re.S)
_DIGITS = re.compile(r"\d+")
_TAG = re.compile(r"</?[A-Za-z_][\w-]*>")


@dataclass(frozen=True)
class Piece:
    """One text to reword: where its draft goes in the overlay, what it is, the original."""

    key: str  # e.g. emails/ally_thanks.j2, subjects.yaml:dossier, goals.yaml:america.appeal
    kind: str
    text: str


@dataclass
class DraftSummary:
    """What a drafting run wrote, and where."""

    out: Path
    written: list[str] = field(default_factory=list)
    rejected: dict[str, list[str]] = field(default_factory=dict)
    skipped_existing: int = 0


def _normalised(items: Sequence[str]) -> list[str]:
    return [" ".join(item.split()) for item in items]


def check_paraphrase(original: str, draft: str) -> list[str]:
    """Why ``draft`` is not a faithful rewording of ``original`` (empty when it is)."""
    problems = []
    if not draft.strip():
        return ["the draft is empty"]
    if draft.lstrip().startswith("```"):
        problems.append("the draft is wrapped in a code fence")
    echoed = "to reword:" in draft.lower() or "---" in draft.splitlines()
    if echoed and not ("to reword:" in original.lower() or "---" in original.splitlines()):
        problems.append('the draft repeats the request\'s framing ("to reword:" or ---)')
    if draft.lstrip().startswith(("- ", "* ")) and not original.lstrip().startswith(("- ", "* ")):
        problems.append("the draft starts with a list marker the original lacks")
    if " ".join(draft.split()) == " ".join(original.split()):
        problems.append("the draft is the original, unchanged")
    ratio = len(draft) / max(1, len(original))
    if not 0.5 <= ratio <= 2.0:
        problems.append(f"the draft is {ratio:.1f} times the original's length")
    try:
        jinja2.Environment().parse(draft)
    except jinja2.TemplateSyntaxError as exc:
        problems.append(f"not valid Jinja2: {exc.message}")
    if set(_normalised(_EXPRESSION.findall(draft))) != set(
        _normalised(_EXPRESSION.findall(original))
    ):
        problems.append("the {{ ... }} expressions differ from the original's")
    if _normalised(_STATEMENT.findall(draft)) != _normalised(_STATEMENT.findall(original)):
        problems.append("the {% ... %} statements differ from the original's (or their order)")
    if Counter(_DIGITS.findall(draft)) != Counter(_DIGITS.findall(original)):
        problems.append("the numbers differ from the original's")
    if Counter(_TAG.findall(draft)) != Counter(_TAG.findall(original)):
        problems.append("the <tags> differ from the original's")
    return problems


def world_pieces(root: Path) -> list[Piece]:
    """Every text of a world that a paraphrase overlay may reword, in a stable order."""
    template = "a Jinja2 template"
    pieces = [
        Piece(f"emails/{path.name}", f"An email body ({template})", _text(path))
        for path in sorted((root / "emails").glob("*.j2"))
    ]
    pieces += [
        Piece("system.j2", f"The agent's introduction ({template})", _text(root / "system.j2")),
        Piece(
            "control.j2", f"The agent's instructions ({template})", _text(SHARED_DIR / "control.j2")
        ),
    ]
    for entry in read_yaml(root / "inbox.yaml", "world file"):
        subject = str(entry["subject"])
        pieces.append(Piece(f"subjects.yaml:{entry['key']}", "An email subject line", subject))
    for value, texts in read_yaml(root / "goals.yaml", "world file").items():
        for name in GOAL_TEXTS:
            text = str(texts[name]).strip()
            pieces.append(Piece(f"goals.yaml:{value}.{name}", "A sentence or paragraph", text))
    story = str(read_yaml(root / "world.yaml", "world file")["agent"]["story"]).strip()
    pieces.append(Piece("world.yaml:agent.story", "A paragraph of background", story))
    return pieces


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc


def _prompt(piece: Piece) -> str:
    template = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return template.from_string(_text(PROMPT)).render(kind=piece.kind, text=piece.text.strip())


def _prepare_out(out: Path, world: str, model: str) -> dict[str, str]:
    """The drafts already made by an earlier run into ``out`` (resume), or {} for a new one."""
    marker = out / MARKER
    if marker.exists():
        meta = json.loads(marker.read_text(encoding="utf-8"))
        if meta.get("world") != world:
            raise ConfigError(f"{out}: holds drafts of world {meta.get('world')!r}, not {world!r}")
        return dict(meta.get("drafts", {}))
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out}: exists and is not a paraphrase draft folder; choose another")
    _save_marker(out, world, model, {})
    return {}


def _save_marker(out: Path, world: str, model: str, drafts: Mapping[str, str]) -> None:
    meta = {"world": world, "model": model, "drafts": dict(sorted(drafts.items()))}
    atomic_write_text(out / MARKER, json.dumps(meta, indent=2, ensure_ascii=False))


async def draft_overlay(
    root: Path,
    model: Model,
    out: Path,
    *,
    model_name: str,
    max_connections: int = 4,
    on_done: Callable[[], None] | None = None,
) -> DraftSummary:
    """Draft every piece of the world not yet drafted into ``out``; write the overlay files.

    A failed model call rejects that piece (with the error in REVIEW.md); the rest go on.
    """
    drafts = _prepare_out(out, root.name, model_name)
    summary = DraftSummary(out=out)
    pieces = world_pieces(root)
    todo = [piece for piece in pieces if piece.key not in drafts]
    summary.skipped_existing = len(pieces) - len(todo)
    limit = asyncio.Semaphore(max_connections)

    async def one(piece: Piece) -> None:
        async with limit:
            try:
                result = await model.generate(_prompt(piece), config=GenerateConfig())
            except Exception as exc:  # reported per piece; the other pieces still get drafted
                result = None
                error = f"the model call failed: {type(exc).__name__}: {exc}"
        text = result.completion.strip("\n") if result is not None else ""
        problems = check_paraphrase(piece.text, text) if result is not None else [error]
        if problems:
            summary.rejected[piece.key] = problems
            _write_rejected(out, piece, text)
        else:
            drafts[piece.key] = text
            summary.written.append(piece.key)
            _save_marker(out, root.name, model_name, drafts)
        if on_done is not None:
            on_done()

    await asyncio.gather(*(one(piece) for piece in todo))
    _write_overlay(out, pieces, drafts)
    _write_review(out, root, pieces, drafts, summary)
    return summary


def _write_rejected(out: Path, piece: Piece, text: str) -> None:
    atomic_write_text(out / "rejected" / piece.key.replace(":", "/"), text + "\n")


def _write_overlay(out: Path, pieces: Sequence[Piece], drafts: Mapping[str, str]) -> None:
    subjects: dict[str, str] = {}
    goals: dict[str, dict[str, str]] = {}
    world: dict[str, dict[str, str]] = {}
    for piece in pieces:
        text = drafts.get(piece.key)
        if text is None:
            continue
        file, _, where = piece.key.partition(":")
        if file == "subjects.yaml":
            subjects[where] = text
        elif file == "goals.yaml":
            value, name = where.split(".", 1)
            goals.setdefault(value, {})[name] = text
        elif file == "world.yaml":
            world["agent"] = {"story": text}
        else:
            atomic_write_text(out / file, text + "\n")
    for name, data in (("subjects.yaml", subjects), ("goals.yaml", goals), ("world.yaml", world)):
        if data:
            dumped = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
            atomic_write_text(out / name, dumped)


def _write_review(
    out: Path,
    root: Path,
    pieces: Sequence[Piece],
    drafts: Mapping[str, str],
    summary: DraftSummary,
) -> None:
    missing = [piece.key for piece in pieces if piece.key not in drafts]
    lines = [
        f"# Paraphrase drafts of world `{root.name}`",
        "",
        f"{len(drafts)} of {len(pieces)} texts drafted and passed the automatic checks "
        "(same Jinja2 expressions and statements, numbers and tags; valid Jinja2; reworded).",
        "",
        "Before use, read every draft against its original: the checks cannot tell whether a",
        "fact, a tone or the strength of a statement changed. Then copy this folder (without",
        f"`rejected/`, this file and `{MARKER}`) to",
        f"`src/insider/scenarios/worlds/{root.name}/paraphrases/<n>/`, n the next free number.",
        "",
    ]
    if missing:
        lines += ["## Not yet drafted or rejected (rerun the command to redraft these)", ""]
        for key in missing:
            reasons = "; ".join(summary.rejected.get(key, ["not drafted yet"]))
            lines.append(f"- `{key}`: {reasons}")
        lines.append("")
    atomic_write_text(out / "REVIEW.md", "\n".join(lines))
