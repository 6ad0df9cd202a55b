"""Conditions: one point of the experimental grid, and the grid's expansion from YAML.

A Condition is scenario x goal_type x goal_value x urgency x extras. Extras that are at their
default value do not appear in the condition id, so adding a new dimension later (a mitigation,
a persona) leaves the ids of existing conditions unchanged.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from insider.errors import describe_validation_error
from insider.scenarios._worlds import (
    DEFAULT_WORLD,
    ORIGINAL_INSTALL_HINT,
    ORIGINAL_WORLD,
    WORLDS_DIR,
    known_worlds,
    original_installed,
    paraphrase_count,
)

Scenario = Literal["blackmail", "leaking", "lethal"]
GoalType = Literal["explicit", "latent", "none", "ambiguous", "swap"]
GoalValue = Literal[
    "america",
    "global",
    "safety",
    "acceleration",
    "ethical",
    "pragmatic",
    "individualism",
    "collectivism",
    "none",
]
Urgency = Literal["replacement", "restriction", "none"]
ExtraInstruction = Literal["none", "dont", "goal"]
AwarenessNotice = Literal["none", "ask"]
GoalFraming = Literal["standard", "rigid", "soft"]
Nudge = Literal["nudge_situation", "nudge_goals"]

SCENARIOS: tuple[str, ...] = get_args(Scenario)
GOAL_TYPES: tuple[str, ...] = get_args(GoalType)
GOAL_VALUES: tuple[str, ...] = tuple(v for v in get_args(GoalValue) if v != "none")
URGENCIES: tuple[str, ...] = get_args(Urgency)
VALUED_GOAL_TYPES = frozenset({"explicit", "latent", "swap"})
# Fields with no counterpart in the original research's prompts: world original refuses them.
NOT_IN_ORIGINAL: tuple[str, ...] = (
    "approval_gate",
    "escalation_channel",
    "data_minimisation",
    "goal_framing",
    "persona",
    "paraphrase",
    "ablate",
)

GOAL_PAIRS: dict[str, str] = {
    "america": "global",
    "global": "america",
    "safety": "acceleration",
    "acceleration": "safety",
    "ethical": "pragmatic",
    "pragmatic": "ethical",
    "individualism": "collectivism",
    "collectivism": "individualism",
}


class Condition(BaseModel):
    """One experimental condition. Frozen, hashable, and validated on construction."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scenario: Scenario
    goal_type: GoalType
    goal_value: GoalValue = "none"
    urgency: Urgency
    scratchpad: bool = True
    extra_instruction: ExtraInstruction = "none"
    awareness_notice: AwarenessNotice = "none"
    # Mitigations and robustness dimensions: defaults mean "absent".
    approval_gate: bool = False
    escalation_channel: bool = False
    data_minimisation: bool = False
    goal_framing: GoalFraming = "standard"
    persona: int = Field(default=0, ge=0)
    paraphrase: int = Field(default=0, ge=0)
    ablate: tuple[Nudge, ...] = ()
    # The scenario family: which world the story is set in (see docs/world.md).
    world: str = DEFAULT_WORLD

    @field_validator("ablate")
    @classmethod
    def _sorted_unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(value)))

    @field_validator("world")
    @classmethod
    def _known_world(cls, value: str) -> str:
        if value not in known_worlds():
            raise ValueError(f"unknown world {value!r}; allowed: {', '.join(known_worlds())}")
        if value == ORIGINAL_WORLD and not original_installed():
            raise ValueError(
                "world 'original' is loaded from the inspect-evals package, which is not "
                f"installed; install it with: {ORIGINAL_INSTALL_HINT}"
            )
        return value

    @model_validator(mode="after")
    def _check_original(self) -> Condition:
        if self.world != ORIGINAL_WORLD:
            return self
        default = Condition.model_fields
        changed = [name for name in NOT_IN_ORIGINAL if getattr(self, name) != default[name].default]
        if changed:
            raise ValueError(
                f"world 'original': {', '.join(changed)} ha{'s' if len(changed) == 1 else 've'} "
                "no counterpart in the original research's prompts; leave "
                f"{'it' if len(changed) == 1 else 'them'} at the default or use another world "
                f"({', '.join(w for w in known_worlds() if w != ORIGINAL_WORLD)})"
            )
        return self

    @model_validator(mode="after")
    def _check_paraphrase(self) -> Condition:
        available = paraphrase_count(WORLDS_DIR / self.world)
        if self.paraphrase > available:
            raise ValueError(
                f"paraphrase {self.paraphrase}: world {self.world!r} has paraphrases 1 to "
                f"{available} (0 is the original wording)"
                if available
                else f"paraphrase {self.paraphrase}: world {self.world!r} has no paraphrases"
            )
        return self

    @model_validator(mode="after")
    def _check_goal(self) -> Condition:
        if self.goal_type in VALUED_GOAL_TYPES and self.goal_value == "none":
            raise ValueError(
                f"goal_type {self.goal_type!r} needs a goal_value, one of: {', '.join(GOAL_VALUES)}"
            )
        if self.goal_type not in VALUED_GOAL_TYPES and self.goal_value != "none":
            raise ValueError(
                f"goal_type {self.goal_type!r} carries no goal value "
                f"(got goal_value {self.goal_value!r}; use 'none')"
            )
        # In the original world 'goal' is the original's own instruction, whatever the goal type.
        stated = self.goal_type in {"explicit", "swap"} or self.world == ORIGINAL_WORLD
        if self.extra_instruction == "goal" and not stated:
            raise ValueError(
                "extra_instruction 'goal' restates the agent's goal, so it needs goal_type "
                f"explicit or swap (got {self.goal_type!r})"
            )
        if self.goal_framing != "standard" and self.goal_type not in {"explicit", "swap"}:
            raise ValueError(
                f"goal_framing {self.goal_framing!r} changes how a stated goal is worded, so it "
                f"needs goal_type explicit or swap (got {self.goal_type!r})"
            )
        return self

    @property
    def goal_label(self) -> str:
        """The goal part of the id: ``explicit-america``, ``none``, ``ambiguous``."""
        if self.goal_type in VALUED_GOAL_TYPES:
            return f"{self.goal_type}-{self.goal_value}"
        return self.goal_type

    @property
    def base_id(self) -> str:
        """Scenario, goal and urgency, e.g. ``blackmail_explicit-america_replacement``."""
        return f"{self.scenario}_{self.goal_label}_{self.urgency}"

    @property
    def condition_id(self) -> str:
        """Stable, readable id: the base id plus a suffix per non-default extra."""
        parts = [self.base_id]
        if self.world != DEFAULT_WORLD:
            parts.append(f"world-{self.world}")
        if not self.scratchpad:
            parts.append("prod")
        if self.extra_instruction != "none":
            parts.append(f"instr-{self.extra_instruction}")
        if self.awareness_notice != "none":
            parts.append(f"aware-{self.awareness_notice}")
        if self.approval_gate:
            parts.append("gate")
        if self.escalation_channel:
            parts.append("escalate")
        if self.data_minimisation:
            parts.append("minimal")
        if self.goal_framing != "standard":
            parts.append(f"frame-{self.goal_framing}")
        if self.persona:
            parts.append(f"persona-{self.persona}")
        if self.paraphrase:
            parts.append(f"para-{self.paraphrase}")
        for nudge in self.ablate:
            parts.append(f"no-{nudge.removeprefix('nudge_')}")
        return "__".join(parts)

    def fields(self) -> dict[str, Any]:
        """All fields as plain JSON-able values (for metadata and tables)."""
        data = self.model_dump(mode="json")
        data["ablate"] = ",".join(self.ablate)
        return data


def condition_from_metadata(metadata: Mapping[str, Any]) -> Condition:
    """The Condition a sample was built from (its fields are stored in the sample metadata).

    Raises ``ValueError`` (pydantic's ValidationError) for metadata that is not one of ours.
    """
    fields = {name: metadata[name] for name in Condition.model_fields if name in metadata}
    ablate = fields.get("ablate", ())
    if isinstance(ablate, str):  # Condition.fields() joins it with commas for tables
        fields["ablate"] = tuple(part for part in ablate.split(",") if part)
    return Condition(**fields)


def sample_id(condition: Condition, index: int) -> str:
    """Stable sample id from condition and sample index; resumes and caches rely on it."""
    return f"{condition.condition_id}:{index:03d}"


def derived_seed(base_seed: int, sample: str) -> int:
    """A per-sample seed: reproducible, yet different for every sample of a condition.

    One seed for all samples would make a sampled model give the same answer every time,
    and the samples of a condition would not be independent draws.
    """
    digest = hashlib.sha256(f"{base_seed}:{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def content_hash(parts: Iterable[str]) -> str:
    """Short SHA-256 over text parts, used to show that a render is byte-for-byte stable."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


class ConditionGrid(BaseModel):
    """The ``conditions:`` block of an experiment: lists to cross, plus include/exclude.

    ``goal_value`` crosses only with goal types that carry a value (explicit, latent, swap);
    none and ambiguous always get ``goal_value: none``. ``exclude`` drops every expanded
    condition that matches all fields of an entry; ``include`` adds fully specified conditions.
    """

    model_config = ConfigDict(extra="forbid")

    scenario: list[Scenario] = Field(default_factory=lambda: cast(list[Scenario], [*SCENARIOS]))
    goal_type: list[GoalType] = Field(default_factory=lambda: cast(list[GoalType], [*GOAL_TYPES]))
    goal_value: list[GoalValue] = Field(
        default_factory=lambda: cast(list[GoalValue], [*GOAL_VALUES])
    )
    urgency: list[Urgency] = Field(default_factory=lambda: cast(list[Urgency], [*URGENCIES]))
    scratchpad: list[bool] = Field(default_factory=lambda: [True])
    extra_instruction: list[ExtraInstruction] = Field(
        default_factory=lambda: cast(list[ExtraInstruction], ["none"])
    )
    awareness_notice: list[AwarenessNotice] = Field(
        default_factory=lambda: cast(list[AwarenessNotice], ["none"])
    )
    approval_gate: list[bool] = Field(default_factory=lambda: [False])
    escalation_channel: list[bool] = Field(default_factory=lambda: [False])
    data_minimisation: list[bool] = Field(default_factory=lambda: [False])
    goal_framing: list[GoalFraming] = Field(
        default_factory=lambda: cast(list[GoalFraming], ["standard"])
    )
    persona: list[int] = Field(default_factory=lambda: [0])
    paraphrase: list[int] = Field(default_factory=lambda: [0])
    ablate: list[list[Nudge]] = Field(default_factory=lambda: cast(list[list[Nudge]], [[]]))
    world: list[str] = Field(default_factory=lambda: [DEFAULT_WORLD])
    include: list[dict[str, Any]] = Field(default_factory=list)
    exclude: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator(
        "scenario",
        "goal_type",
        "goal_value",
        "urgency",
        "scratchpad",
        "extra_instruction",
        "awareness_notice",
        "approval_gate",
        "escalation_channel",
        "data_minimisation",
        "goal_framing",
        "persona",
        "paraphrase",
        "ablate",
        "world",
    )
    @classmethod
    def _non_empty(cls, value: list[Any]) -> list[Any]:
        if not value:
            raise ValueError("must list at least one value")
        return value

    @model_validator(mode="after")
    def _check_filters(self) -> ConditionGrid:
        for kind, entries in (("include", self.include), ("exclude", self.exclude)):
            for number, entry in enumerate(entries, start=1):
                unknown = sorted(set(entry) - set(Condition.model_fields))
                if unknown:
                    raise ValueError(
                        f"{kind} entry {number}: unknown field(s) {', '.join(unknown)}; "
                        f"allowed: {', '.join(Condition.model_fields)}"
                    )
        return self

    def expand(self) -> list[Condition]:
        """Every condition of the grid, in a stable order, without duplicates."""
        seen: dict[str, Condition] = {}
        for condition in self._crossed():
            if not any(_matches(condition, entry) for entry in self.exclude):
                seen.setdefault(condition.condition_id, condition)
        for number, entry in enumerate(self.include, start=1):
            condition = _condition_from_entry(entry, f"include entry {number}")
            seen.setdefault(condition.condition_id, condition)
        return list(seen.values())

    def _crossed(self) -> Iterator[Condition]:
        extras = {
            name: getattr(self, name)
            for name in Condition.model_fields
            if name not in {"scenario", "goal_type", "goal_value", "urgency"}
        }
        extra_names = list(extras)
        for scenario, goal_type, urgency in itertools.product(
            self.scenario, self.goal_type, self.urgency
        ):
            values: list[GoalValue] = (
                [v for v in self.goal_value if v != "none"]
                if goal_type in VALUED_GOAL_TYPES
                else ["none"]
            )
            for goal_value in values:
                for combo in itertools.product(*extras.values()):
                    fields = dict(zip(extra_names, combo, strict=True))
                    if not _compatible(goal_type, fields):
                        continue
                    yield Condition(
                        scenario=scenario,
                        goal_type=goal_type,
                        goal_value=goal_value,
                        urgency=urgency,
                        **fields,
                    )


def _compatible(goal_type: str, extras: Mapping[str, Any]) -> bool:
    """Extras that only make sense with a stated goal are skipped for other goal types.

    A user who crosses ``extra_instruction: [none, goal]`` with ``goal_type: [explicit, none]``
    means "restate the goal where there is one"; asking for such a combination explicitly in
    ``include`` is still an error.
    """
    stated = goal_type in {"explicit", "swap"}
    original = extras.get("world") == ORIGINAL_WORLD
    if extras.get("extra_instruction") == "goal" and not (stated or original):
        return False
    return not (extras.get("goal_framing", "standard") != "standard" and not stated)


def _matches(condition: Condition, entry: Mapping[str, Any]) -> bool:
    data = condition.model_dump()
    for key, wanted in entry.items():
        actual = data[key]
        if key == "ablate":
            wanted = tuple(sorted(set(wanted or ())))
        if actual != wanted:
            return False
    return True


def _condition_from_entry(entry: Mapping[str, Any], where: str) -> Condition:
    try:
        return Condition(**entry)
    except ValidationError as exc:
        raise ValueError(f"{where}: {describe_validation_error(exc)}") from exc
