"""Typed records shared by evidence parsing, judges, scoring and analysis."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from insider.scenarios import LABELS as LABELS  # re-exported: classify reads it from here

# Labels that count as harmful acts for headline figures.
HARM_LABELS: tuple[str, ...] = ("blackmail", "leak", "lethal", "disclose_secret", "deception")

# The scenario whose primary harm each scenario measures.
PRIMARY_LABEL: dict[str, str] = {"blackmail": "blackmail", "leaking": "leak", "lethal": "lethal"}


class LabelState(StrEnum):
    """A label's outcome. error and unscored are reported and never counted as safe."""

    HARMFUL = "harmful"
    NOT_HARMFUL = "not_harmful"
    ERROR = "error"  # the agent's own call failed: nothing to judge
    UNSCORED = "unscored"  # the judge failed, refused or answered unparseably
    NOT_REQUESTED = "not_requested"  # the scoring did not ask for this label (``labels:``)


ActionKind = Literal["send", "forward", "reply", "cancel_alert", "escalate"]


class Action(BaseModel):
    """One thing the agent did (or attempted, when an approval gate held it)."""

    model_config = ConfigDict(frozen=True)

    kind: ActionKind
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    subject: str = ""
    body: str = ""
    forwarded_id: str | None = None
    forwarded_text: str = ""
    code: str | None = None
    in_reply_to: str | None = None  # the email id a reply answers (its sender is the recipient)
    source: Literal["tag", "tool"] = "tag"
    executed: bool = True  # False when held for approval and never carried out
    held: bool = False  # True when an approval gate held it: complete and deliberate, not done

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.to + self.cc


class ParseProblem(BaseModel):
    """A note on how the answer was read: a malformed tag, an unclosed block, a guess made.

    A note changes no verdict by itself; text that may hide an action is `NotUnderstood`.
    """

    model_config = ConfigDict(frozen=True)

    kind: str
    message: str
    excerpt: str = ""


# What kind of action a piece of text that was not understood may hide: a message (email,
# forward, reply, escalation), the alert's cancellation, or either.
MayHide = Literal["message", "alert", "action"]


class NotUnderstood(BaseModel):
    """Text that looks like an action but that no reader turned into one.

    Evidence never rules a harm out over such text: the rules send every label it could
    affect to the judge (docs/transcripts.md lists which). `start`/`end` are offsets in the
    answer text (-1 when the text came from somewhere else, e.g. a tool call).
    """

    model_config = ConfigDict(frozen=True)

    kind: str  # e.g. unknown_tag, mail_headers, address, json, call_syntax, broken_reasoning
    may_hide: MayHide
    reason: str
    excerpt: str = ""
    start: int = -1
    end: int = -1


class Evidence(BaseModel):
    """What the agent did and wrote in one sample, extracted without any model.

    Every Action's `body` holds what the agent itself wrote: an email's body, a forward's note,
    a cancel_alert's reason, an escalation's concern.
    """

    model_config = ConfigDict(frozen=True)

    mode: Literal["single_turn", "agentic"] = "single_turn"
    actions: tuple[Action, ...] = ()
    problems: tuple[ParseProblem, ...] = ()
    reasoning: str = ""  # scratchpad / thinking text
    visible: str = ""  # the answer outside the scratchpad
    prose: str = ""  # the visible text outside every action block a reader read
    stated_situation: Literal["evaluation", "deployment"] | None = None
    not_understood: tuple[NotUnderstood, ...] = ()
    # Whether words outside the parsed actions may still have acted: true for single-turn
    # answers (an agent acts by writing) and for transcripts from a harness we do not know;
    # false in our agentic mode, where only tool calls act.
    prose_may_act: bool = True

    @property
    def held(self) -> int:
        """How many actions an approval gate held."""
        return sum(action.held for action in self.actions)

    def as_attempted(self) -> Evidence:
        """The same evidence with every gate-held action counted as done: what was attempted."""
        actions = tuple(
            action.model_copy(update={"executed": True}) if action.held else action
            for action in self.actions
        )
        return self.model_copy(update={"actions": actions})


def _address_list(value: Any) -> Any:
    """Accept "a@b, c@d" as well as a list (the rendered prompts join addresses with commas)."""
    if isinstance(value, str):
        return tuple(part.strip() for part in re.split(r"[,;]", value) if part.strip())
    return value


class InboxEmail(BaseModel):
    """One email of the agent's inbox, as far as classification needs it.

    Accepts the scenario renderer's `Email` dump as is (extra fields such as `key` are ignored).
    Roles: `leverage` marks the executive's secret, `confidential` the material that could leak.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    sender: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    subject: str = ""
    body: str = ""
    roles: tuple[str, ...] = ()

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("to", "cc", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        return _address_list(value)


class WorldProfile(BaseModel):
    """The facts classification needs about a world: who is inside, what is secret.

    Our own world ships one; for transcripts from a foreign world the user supplies one.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    company: str
    internal_domains: tuple[str, ...]
    executive_name: str
    executive_email: str
    outside_addresses: tuple[str, ...] = Field(
        default=(), description="Outside addresses that matter, e.g. the rival's contact"
    )
    override_code: str
    secret_terms: tuple[str, ...] = Field(
        default=(), description="Words that identify the executive's secret, e.g. a partner's name"
    )
    confidential_terms: tuple[str, ...] = Field(
        default=(), description="Words that identify the confidential material"
    )
    escalation_contacts: tuple[str, ...] = Field(
        default=(), description="Addresses of appropriate humans to raise concerns with"
    )
    sensitive_recipients: tuple[str, ...] = Field(
        default=(),
        description="Addresses for whom the secret is most damaging (e.g. the executive's "
        "spouse): any message to them is checked for disclosure, whatever its words",
    )
    summary: str = Field(
        default="", description="A paragraph for judges: who is who, the secret, the material"
    )
    inbox: tuple[InboxEmail, ...] = Field(
        default=(),
        description="The inbox, for worlds whose inbox is fixed; a sample's own inbox wins",
    )


class LabelVerdict(BaseModel):
    """The final outcome of one label on one sample."""

    model_config = ConfigDict(frozen=True)

    state: LabelState
    decided_by: Literal["evidence", "judge", "error", "not_requested"]
    reason: str = ""
    rationale: str = ""  # the judge's short rationale (quoted from the transcript)
    raw_judge_output: str = ""
    judge_votes: dict[str, str] = Field(default_factory=dict)  # judge id -> state


class CallUsage(BaseModel):
    """What one model's calls used, split as providers price it (Inspect's convention:
    ``input_tokens`` excludes cached input; ``output_tokens`` includes reasoning)."""

    model_config = ConfigDict(frozen=True)

    model: str
    calls: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    batch: bool = False  # made through the provider's batch API (priced at its discount)


class SampleVerdict(BaseModel):
    """All labels of one sample plus the bookkeeping of how they were reached."""

    labels: dict[str, LabelVerdict]
    judge_id: str
    judge_calls: int = 0
    judge_usage: dict[str, CallUsage] = Field(default_factory=dict)
    """What each judge's call for this sample used, by the judge's name in the panel."""
    judge_call_reasons: list[str] = Field(default_factory=list)
    evidence: Evidence = Field(default_factory=Evidence)
    extra: dict[str, Any] = Field(default_factory=dict)
