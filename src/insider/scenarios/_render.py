"""Condition -> RenderedPrompt: pure and deterministic.

The world is data (``world/``: YAML facts and Jinja2 templates, see docs/world.md). Rendering
the same condition twice gives byte-identical text; a missing template variable is an error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import jinja2
from pydantic import BaseModel, ConfigDict, ValidationError

from insider.errors import ConfigError, describe_validation_error
from insider.files import read_yaml
from insider.scenarios._conditions import GOAL_PAIRS, Condition, content_hash
from insider.scenarios._facts import WorldFacts
from insider.scenarios._persona import (
    IDENTITY,
    Persona,
    draw_persona,
    localise_data,
    map_strings,
    parse_pools,
)
from insider.scenarios._worlds import (
    ORIGINAL_WORLD,
    SHARED_DIR,
    WORLD_DIR,
    WORLDS_DIR,
    paraphrase_count,
)

Mode = Literal["single_turn", "agentic"]


# Roles of the mails that carry the leverage; data minimisation removes exactly these.
LEVERAGE_ROLES = frozenset({"leverage", "confidential"})


class Email(BaseModel):
    """One email as the agent sees it."""

    model_config = ConfigDict(frozen=True)

    id: str
    key: str
    sender: str
    to: str
    cc: str = ""
    time: str
    subject: str
    body: str
    roles: tuple[str, ...] = ()


class RenderedPrompt(BaseModel):
    """Everything the agent will see for one condition, plus its metadata."""

    model_config = ConfigDict(frozen=True)

    condition: Condition
    mode: Mode
    system: str
    user: str
    emails: tuple[Email, ...]
    content_hash: str

    def metadata(self) -> dict[str, Any]:
        """Condition fields, ids and the content hash (stored with every sample)."""
        return {
            **self.condition.fields(),
            "condition_id": self.condition.condition_id,
            "mode": self.mode,
            "content_hash": self.content_hash,
            "email_keys": [email.key for email in self.emails],
        }


@dataclass(frozen=True)
class World:
    """A loaded world: typed facts, goals, inbox rules and a template environment.

    ``persona`` and ``paraphrase`` are already applied: the facts hold the persona's people,
    every text is localised, and templates come from the paraphrase's overlay first.
    """

    root: Path
    facts: WorldFacts
    goals: Mapping[str, Mapping[str, str]]
    inbox: tuple[Mapping[str, Any], ...]
    env: jinja2.Environment = field(repr=False, compare=False)
    persona: Persona = field(default=IDENTITY, repr=False, compare=False)
    paraphrase: int = 0
    _compiled: dict[tuple[str, str], Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def name(self) -> str:
        return self.root.name

    @functools.cached_property
    def context(self) -> dict[str, Any]:
        """The facts as plain mappings, as templates see them: agent, company, people, ..."""
        return self.facts.model_dump(exclude_unset=True)

    def localise(self, text: str) -> str:
        """The persona's names applied to a text from outside the world files."""
        return self.persona.localise(text)

    def string_template(self, source: str) -> jinja2.Template:
        """A template from a string of the world's data (a subject), compiled once."""
        key = ("template", source)
        if key not in self._compiled:
            self._compiled[key] = self.env.from_string(source)
        return cast(jinja2.Template, self._compiled[key])

    def expression(self, source: str) -> Callable[..., Any]:
        """A Jinja2 expression of the world's data (a when-rule), compiled once."""
        key = ("expression", source)
        if key not in self._compiled:
            self._compiled[key] = self.env.compile_expression(source)
        return cast(Callable[..., Any], self._compiled[key])

    def template(self, name: str) -> jinja2.Template:
        try:
            return self.env.get_template(name)
        except jinja2.TemplateNotFound as exc:
            raise ConfigError(f"{self.root}: template {name!r} not found") from exc


class _LocalisingLoader(jinja2.FileSystemLoader):
    """Template files with the persona's tokens applied to their source."""

    def __init__(self, searchpath: list[str], persona: Persona) -> None:
        super().__init__(searchpath)
        self._persona = persona

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        return self._persona.localise(source), filename, uptodate


def _read_yaml(path: Path) -> Any:
    return read_yaml(path, "world file")


def _environment(root: Path, paraphrase: int, persona: Persona) -> jinja2.Environment:
    search = [str(root), str(SHARED_DIR)]
    if paraphrase:
        search.insert(0, str(root / "paraphrases" / str(paraphrase)))
    return jinja2.Environment(
        loader=_LocalisingLoader(search, persona),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # plain-text prompts; the HTML report escapes on its own
    )


def _resolve_strings(value: Any, env: jinja2.Environment, context: Mapping[str, Any]) -> Any:
    """Render the Jinja2 in world.yaml strings (e.g. the secret names the persona's people)."""
    return map_strings(
        value, lambda text: env.from_string(text).render(context) if "{{" in text else text
    )


def _paraphrased_subjects(root: Path, paraphrase: int) -> Mapping[str, str]:
    if not paraphrase:
        return {}
    path = root / "paraphrases" / str(paraphrase) / "subjects.yaml"
    if not path.exists():
        return {}
    subjects = _read_yaml(path)
    if not isinstance(subjects, dict):
        raise ConfigError(f"{path}: expected a mapping of email key -> subject")
    return {str(key): str(value) for key, value in subjects.items()}


def _overlay_yaml(root: Path, paraphrase: int, name: str) -> Mapping[str, Any]:
    """A paraphrase's rewording of some YAML texts (e.g. the goal statements), or nothing."""
    path = root / "paraphrases" / str(paraphrase) / name
    if not paraphrase or not path.exists():
        return {}
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping")
    return data


def _merged(base: Any, overlay: Any, where: str = "") -> Any:
    """``base`` with the overlay's values; mappings merge key by key, other values replace.

    An overlay may only reword what exists: a key the base lacks is an error, not an addition.
    """
    if not isinstance(base, Mapping) or not isinstance(overlay, Mapping):
        return overlay
    unknown = sorted(set(overlay) - set(base))
    if unknown:
        raise ConfigError(f"paraphrase overlay: unknown key(s) {where}{', '.join(unknown)}")
    return {
        key: _merged(value, overlay[key], f"{where}{key}.") if key in overlay else value
        for key, value in base.items()
    }


def _world_facts(data: Any, root: Path) -> WorldFacts:
    """``world.yaml``'s data as typed facts, or a ConfigError naming the file and the fields."""
    path = root / "world.yaml"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping (company, agent, people, clock, facts)")
    try:
        return WorldFacts.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from exc


@functools.lru_cache(maxsize=64)
def load_world(root: Path = WORLD_DIR, persona: int = 0, paraphrase: int = 0) -> World:
    """Load a world directory with a persona and paraphrase applied, once per process."""
    if paraphrase and not (root / "paraphrases" / str(paraphrase)).is_dir():
        raise ConfigError(
            f"world {root.name!r} has no paraphrase {paraphrase} "
            f"(it has {paraphrase_count(root)}: 0 is the original wording)"
        )
    facts = _merged(_read_yaml(root / "world.yaml"), _overlay_yaml(root, paraphrase, "world.yaml"))
    _world_facts(facts, root)  # a broken world fails here, before a persona reads it
    drawn = IDENTITY
    if persona:
        pools = parse_pools(_read_yaml(root / "personas.yaml"), str(root / "personas.yaml"))
        drawn = draw_persona(root.name, persona, facts["people"], pools)
        facts = {**facts, "people": drawn.people}
    facts = localise_data(facts, drawn)
    env = _environment(root, paraphrase, drawn)
    facts = _resolve_strings(facts, env, facts)
    inbox = _read_yaml(root / "inbox.yaml")
    emails = inbox.get("emails", inbox) if isinstance(inbox, dict) else inbox
    if not isinstance(emails, list):
        raise ConfigError(f"{root / 'inbox.yaml'}: expected a list of emails")
    subjects = _paraphrased_subjects(root, paraphrase)
    unknown = sorted(set(subjects) - {str(entry.get("key")) for entry in emails})
    if unknown:
        raise ConfigError(
            f"{root}/paraphrases/{paraphrase}/subjects.yaml: no email with key(s) "
            f"{', '.join(unknown)}"
        )
    emails = [
        {**entry, "subject": subjects.get(str(entry.get("key")), entry.get("subject"))}
        for entry in emails
    ]
    return World(
        root=root,
        facts=_world_facts(facts, root),
        goals=localise_data(
            _merged(_read_yaml(root / "goals.yaml"), _overlay_yaml(root, paraphrase, "goals.yaml")),
            drawn,
        ),
        inbox=tuple(localise_data(emails, drawn)),
        env=env,
        persona=drawn,
        paraphrase=paraphrase,
    )


def world_for(condition: Condition) -> World:
    """The world a condition is rendered in: its family, persona and paraphrase."""
    if condition.world == ORIGINAL_WORLD:
        raise ConfigError(
            f"{condition.condition_id}: world 'original' is rendered by the installed "
            "inspect-evals package and has no world folder"
        )
    return load_world(WORLDS_DIR / condition.world, condition.persona, condition.paraphrase)


def _goal_context(world: World, condition: Condition) -> tuple[dict[str, Any] | None, str | None]:
    """The ``goal`` mapping of the templates and the goal sentence the agent is given."""
    if condition.goal_value == "none":
        return None, None
    value = condition.goal_value
    goal = {**world.goals[value], "value": value, "opposite": GOAL_PAIRS[value]}
    stated_value = {"explicit": value, "swap": GOAL_PAIRS[value]}.get(condition.goal_type)
    agent_goal = world.goals[stated_value]["statement"] if stated_value else None
    return goal, agent_goal


def _base_context(world: World, condition: Condition, mode: Mode) -> dict[str, Any]:
    goal, agent_goal = _goal_context(world, condition)
    facts = world.context
    return {
        "agent": facts["agent"],
        "company": facts["company"],
        "people": facts["people"],
        "clock": facts["clock"],
        "facts": facts["facts"],
        "c": condition,
        "goal": goal,
        "agent_goal": agent_goal,
        "mode": mode,
    }


def _selected_emails(world: World, condition: Condition, context: dict[str, Any]) -> list[Any]:
    chosen = []
    for entry in world.inbox:
        rule = entry.get("when")
        if rule is not None:
            try:
                included = bool(world.expression(str(rule))(**context))
            except jinja2.TemplateError as exc:
                raise ConfigError(f"inbox.yaml email {entry.get('key')!r}: when: {exc}") from exc
            if not included:
                continue
        if condition.data_minimisation and LEVERAGE_ROLES & set(entry.get("roles", [])):
            continue
        chosen.append(entry)
    return sorted(chosen, key=lambda entry: str(entry["time"]))


def _address(world: World, who: str) -> str:
    people = world.facts.people
    if who in people:
        return people[who].display
    if who == "agent":
        return world.facts.agent.display
    return who


def _render_email(
    world: World, entry: Mapping[str, Any], number: int, context: dict[str, Any]
) -> Email:
    def addresses(value: Any) -> str:
        items = value if isinstance(value, list) else ([value] if value else [])
        return ", ".join(_address(world, str(item)) for item in items)

    key = str(entry["key"])
    try:
        subject = world.string_template(str(entry["subject"])).render(context).strip()
        body = world.template(str(entry["body"])).render(context).strip()
    except jinja2.TemplateError as exc:
        raise ConfigError(f"{world.root}: email {key!r}: {exc}") from exc
    return Email(
        id=str(number),
        key=key,
        sender=_address(world, str(entry["from"])),
        to=addresses(entry.get("to")),
        cc=addresses(entry.get("cc")),
        time=str(entry["time"]),
        subject=subject,
        body=body,
        roles=tuple(entry.get("roles", [])),
    )


def render(
    condition: Condition, mode: Mode = "single_turn", world: World | None = None
) -> RenderedPrompt:
    """Render one condition into the system prompt, the user turn and the inbox."""
    if condition.world == ORIGINAL_WORLD:
        # Imported here: the original world's module builds on this one's prompt types.
        from insider.scenarios._original import render_original

        return render_original(condition, mode)
    world = world or world_for(condition)
    context = _base_context(world, condition, mode)
    entries = _selected_emails(world, condition, context)
    context["email_ids"] = {str(e["key"]): str(n) for n, e in enumerate(entries, start=1)}
    emails = tuple(
        _render_email(world, entry, number, context)
        for number, entry in enumerate(entries, start=1)
    )
    context["emails"] = emails
    try:
        system = world.template("system.j2").render(context).strip() + "\n"
        user = world.template(f"user_{mode}.j2").render(context).strip() + "\n"
    except jinja2.TemplateError as exc:
        raise ConfigError(f"{world.root}: {condition.condition_id}: {exc}") from exc
    parts = [system, user, *(f"{e.id}|{e.sender}|{e.subject}|{e.body}" for e in emails)]
    return RenderedPrompt(
        condition=condition,
        mode=mode,
        system=system,
        user=user,
        emails=emails,
        content_hash=content_hash(parts),
    )
