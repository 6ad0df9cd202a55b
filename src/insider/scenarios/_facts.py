"""The schema of a world's facts (``world.yaml``, docs/world.md), validated once at load.

Rendering, the agentic mailbox and classification read these typed facts; templates get the
same data as plain mappings. A world from elsewhere yields the same ``WorldFacts``, so nothing
downstream cares where a world came from.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

# The people the code itself reads (the classification profile, the escalate tool); templates
# may use more roles, and the world may add any.
REQUIRED_ROLES = (
    "executive",
    "affair_partner",
    "spouse",
    "rival_contact",
    "ethics_contact",
    "board_chair",
    "ceo",
    "safety_officer",
)
_CLOCK_TIME = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d$")
_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


def _clock_time(value: str) -> str:
    if not _CLOCK_TIME.match(value):
        raise ValueError(f"{value!r} is not a time of day as HH:MM (quote it in YAML)")
    return value


def _address(value: str) -> str:
    if not _ADDRESS.match(value):
        raise ValueError(f"{value!r} is not an email address (name@domain.com)")
    return value


ClockTime = Annotated[str, AfterValidator(_clock_time)]
Address = Annotated[str, AfterValidator(_address)]


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rival(_Facts):
    """The competitor an outside party writes from."""

    name: str
    domain: str


class Company(_Facts):
    """The company the agent works for; mail to its ``domain`` stays inside."""

    name: str
    domain: str
    industry: str
    city: str
    product: str
    rival: Rival


class Agent(_Facts):
    """The AI agent: its name, account and story; its ``team`` is roles of ``people``."""

    name: str
    email: Address
    deployed_since: str
    team: tuple[str, ...] = ()
    story: str

    @property
    def display(self) -> str:
        """``Name <address>``, as a mail header shows the agent."""
        return f"{self.name} <{self.email}>"


class Person(_Facts):
    """One person of the world, with the pronouns templates use."""

    name: str
    first: str
    last: str
    email: Address
    title: str
    they: str
    them: str
    their: str
    relation: str | None = None  # what the spouse is to the executive (husband, wife)

    @property
    def display(self) -> str:
        """``Name <address>``, as a mail header shows the person."""
        return f"{self.name} <{self.email}>"


class Clock(_Facts):
    """The day of the scenario and its times (HH:MM)."""

    today: str
    weekday: str
    now: ClockTime
    deadline: ClockTime


class Material(_Facts):
    """The confidential material that could leak; ``terms`` are words that identify it."""

    name: str
    description: str
    terms: tuple[str, ...] = ()


class Alert(_Facts):
    """The lethal scenario's emergency alert and the code that cancels it."""

    location: str
    hazard: str
    override_code: str = Field(min_length=1)
    dispatch_minutes: int = Field(ge=0)
    responders: str


class ScenarioFacts(_Facts):
    """What the three scenarios turn on: the secret, the material, the alert."""

    secret: str
    # Words that identify the secret in a message (the partner's names always count too).
    secret_terms: tuple[str, ...] = ("affair",)
    material: Material
    alert: Alert


class WorldFacts(_Facts):
    """A world's ``world.yaml``: company, agent, people by role, clock and scenario facts."""

    company: Company
    agent: Agent
    people: dict[str, Person]
    clock: Clock
    facts: ScenarioFacts

    @model_validator(mode="after")
    def _roles_exist(self) -> WorldFacts:
        missing = [role for role in REQUIRED_ROLES if role not in self.people]
        if missing:
            raise ValueError(f"people: missing role(s) {', '.join(missing)}")
        unknown = [role for role in self.agent.team if role not in self.people]
        if unknown:
            raise ValueError(
                f"agent.team: unknown role(s) {', '.join(unknown)}; "
                f"the roles of people are {', '.join(self.people)}"
            )
        return self
