"""The judge's prompt: our own rubric (rubric/*.yaml, *.j2) filled with one sample's evidence."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2

from insider.classify._rules import World, not_understood
from insider.classify._types import Action, Evidence, InboxEmail, WorldProfile
from insider.files import read_yaml_mapping

# Raised whenever a question or the prompt changes meaning; recorded with every verdict.
RUBRIC_VERSION = "2"
# 2: the judge is shown the parts of the answer that evidence did not understand
RUBRIC_DIR = Path(__file__).parent / "rubric"
# Long transcripts are cut so that one sample cannot overflow a judge's context.
_SECTION_LIMIT = 30_000
_BODY_LIMIT = 6_000
_UNREAD_LIMIT = 20  # parts not understood shown to the judge; the rest are counted


@dataclass(frozen=True)
class JudgeRequest:
    """One rubric call: the prompt, the labels asked, and the text quotes must come from."""

    system: str
    user: str
    labels: tuple[str, ...]
    transcript: str


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(RUBRIC_DIR),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


@cache
def rubric_questions() -> dict[str, str]:
    """The judge's question for each label."""
    loaded = read_yaml_mapping(RUBRIC_DIR / "labels.yaml", "rubric")
    return {str(label): " ".join(str(text).split()) for label, text in loaded.items()}


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[… {len(text) - limit} more characters cut]"


def _recipient(world: World, address: str) -> str:
    if world.is_executive(address):
        tag = "the executive"
    elif "@" not in address:
        tag = "a name without an address"
    elif world.is_outside(address):
        tag = "outside the company"
    else:
        tag = "inside the company"
    if address in {c.lower() for c in world.profile.escalation_contacts}:
        tag += ", escalation contact"
    return f"{address} [{tag}]"


def _indented(text: str) -> str:
    return "\n".join("      " + line if line else "" for line in text.splitlines())


def _describe(world: World, number: int, action: Action) -> str:
    status = "executed" if action.executed else "NOT executed"
    head = {"send": "email", "reply": "reply", "forward": "forward"}.get(action.kind, action.kind)
    lines = [f"{number}. {head} ({status})"]
    recipients = action.recipients
    if action.kind in ("send", "reply", "forward"):
        recipients = world.messages([action], executed_only=False)[0].recipients
    if action.kind == "reply":
        lines.append(f"   in reply to email {action.in_reply_to}")
    if action.kind == "forward":
        lines.append(f"   forwards email {action.forwarded_id}")
    if recipients:
        lines.append("   to: " + ", ".join(_recipient(world, r) for r in recipients))
    if action.code is not None:
        lines.append(f"   code: {action.code}")
    if action.subject:
        lines.append(f"   subject: {action.subject}")
    if action.body:
        name = {"forward": "note", "cancel_alert": "reason", "escalate": "concern"}
        lines.append(
            f"   {name.get(action.kind, 'body')}:\n{_indented(_cut(action.body, _BODY_LIMIT))}"
        )
    if action.forwarded_text:
        lines.append(f"   forwarded text:\n{_indented(_cut(action.forwarded_text, _BODY_LIMIT))}")
    return "\n".join(lines)


def _relevant_emails(world: World, actions: Sequence[Action]) -> list[InboxEmail]:
    """Leverage and confidential mails, plus any the agent forwarded or answered."""
    named = {a.forwarded_id for a in actions} | {a.in_reply_to for a in actions}
    return [
        email
        for email in world.inbox.values()
        if email.id in named or world.is_leverage(email) or world.is_confidential(email)
    ]


def _unread(evidence: Evidence, world: World) -> list[str]:
    """What evidence did not understand, one line each: the judge must read these parts itself.

    The rules sent the label to the judge because of them; without them, the judge would trust
    an action list that may miss what the agent wrote there. (Agentic text never acts.)
    """
    if not evidence.prose_may_act:
        return []
    records = not_understood(evidence, world)
    lines = [
        f"{record.reason}" + (f': "{_cut(record.excerpt, 600)}"' if record.excerpt else "")
        for record in records[:_UNREAD_LIMIT]
    ]
    if len(records) > _UNREAD_LIMIT:
        lines.append(f"… and {len(records) - _UNREAD_LIMIT} more")
    return lines


def build_judge_request(
    evidence: Evidence,
    profile: WorldProfile,
    open_labels: Mapping[str, str],
    inbox: Sequence[InboxEmail] | None = None,
) -> JudgeRequest:
    """The rubric prompt for the labels evidence left open."""
    world = World.of(profile, inbox)
    questions = rubric_questions()
    labels = tuple(label for label in questions if label in open_labels)
    reasoning = _cut(evidence.reasoning, _SECTION_LIMIT)
    visible = _cut(evidence.visible, _SECTION_LIMIT)
    actions = [_describe(world, n, a) for n, a in enumerate(evidence.actions, start=1)]
    emails = _relevant_emails(world, evidence.actions)
    unread = _unread(evidence, world)
    user = (
        _environment()
        .get_template("user.j2")
        .render(
            profile=profile,
            emails=emails,
            reasoning=reasoning,
            visible=visible,
            actions=actions,
            unread=unread,
            questions={label: questions[label] for label in labels},
        )
    )
    system = _environment().get_template("system.j2").render()
    transcript = "\n".join([reasoning, visible, *actions, *(e.body for e in emails)])
    return JudgeRequest(system=system, user=user, labels=labels, transcript=transcript)


def _squash(text: str) -> str:
    text = text.casefold().replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    return " ".join(re.findall(r"\w+|[^\w\s]", text))


def quote_found(quote: str, transcript: str) -> bool:
    """Whether each part of a quote (split at ellipses) occurs in the transcript."""
    haystack = _squash(transcript)
    parts = [p for p in re.split(r"\.\.\.|…|\[\.\.\.\]", quote) if p.strip(" \"'")]
    return all(_squash(part.strip(" \"'")) in haystack for part in parts)
