"""Personas: the same story with other names, drawn from a world's seeded pools.

Persona 0 is the world exactly as written. Persona n >= 1 draws, with a generator seeded by the
world's name and n, one entry from each token pool of ``personas.yaml`` (the agent's name, the
company, the rival, the location) and a new name and gender for every person. The result is a
``Persona``: new people records, and a table of canonical token -> replacement that is applied
to every text of the world (facts, goals, inbox fields, templates, environment replies).

A persona therefore changes who and where, never what happens: the same emails, in the same
order, with the same roles, times and codes. Tests check that no canonical token survives.
"""

from __future__ import annotations

import functools
import random
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from insider.errors import ConfigError

PRONOUNS: dict[str, dict[str, str]] = {
    "female": {"they": "she", "them": "her", "their": "her"},
    "male": {"they": "he", "them": "him", "their": "his"},
}
SPOUSE_WORD = {"female": "wife", "male": "husband"}


class PeoplePools(BaseModel):
    """Names to draw people from, by gender, and surnames."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    given: dict[str, tuple[str, ...]]
    family: tuple[str, ...]
    # The roles that share the executive's surname (the spouse).
    share_surname: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _known_genders(self) -> PeoplePools:
        unknown = sorted(set(self.given) - set(PRONOUNS))
        if unknown:
            raise ValueError(f"given: unknown gender(s) {unknown}; allowed: {sorted(PRONOUNS)}")
        return self


class PersonaPools(BaseModel):
    """The contents of a world's ``personas.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: dict[str, tuple[dict[str, str], ...]] = Field(
        description="pool name -> alternatives; each maps canonical tokens to replacements"
    )
    people: PeoplePools


@dataclass(frozen=True)
class Persona:
    """One drawn persona: new people records and the token table for all other text."""

    number: int
    people: Mapping[str, Mapping[str, Any]]
    replacements: tuple[tuple[str, str], ...]

    def localise(self, text: str) -> str:
        """Replace every canonical token in ``text`` (whole words, longest first)."""
        if not self.replacements:
            return text
        pattern, table = _compiled(self.replacements)
        return pattern.sub(lambda match: table[match.group(0)], text)


IDENTITY = Persona(number=0, people={}, replacements=())


@functools.lru_cache(maxsize=64)
def _compiled(
    replacements: tuple[tuple[str, str], ...],
) -> tuple[re.Pattern[str], dict[str, str]]:
    """Tokens bounded by non-letters, so `harbor3-core` and `wren@` match but `Wrench` does not."""
    tokens = sorted((token for token, _ in replacements), key=len, reverse=True)
    alternatives = "|".join(re.escape(token) for token in tokens)
    pattern = re.compile(rf"(?<![^\W\d_])(?:{alternatives})(?![^\W\d_])")
    return pattern, dict(replacements)


def parse_pools(raw: Any, where: str) -> PersonaPools:
    try:
        return PersonaPools.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{where}: invalid persona pools: {exc}") from exc


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", folded.lower())


def _gender(person: Mapping[str, Any]) -> str:
    for gender, pronouns in PRONOUNS.items():
        if person.get("they") == pronouns["they"]:
            return gender
    raise ConfigError(f"person {person.get('name')!r}: pronouns must be one of {sorted(PRONOUNS)}")


def _draw_people(
    rng: random.Random, canonical: Mapping[str, Mapping[str, Any]], pools: PeoplePools
) -> dict[str, dict[str, Any]]:
    """A new name and gender for every person; no first or last name is used twice."""
    used_first = {str(p["first"]) for p in canonical.values()}
    used_last = {str(p["last"]) for p in canonical.values()}
    genders = sorted(pools.given)
    drawn: dict[str, dict[str, Any]] = {}
    executive_last = ""
    for role in sorted(canonical, key=lambda r: (r in pools.share_surname, r)):
        person = canonical[role]
        gender = rng.choice(genders)
        first = _fresh(rng, pools.given[gender], used_first, f"given names ({gender})")
        if role in pools.share_surname and executive_last:
            last = executive_last
        else:
            last = _fresh(rng, pools.family, used_last, "family names")
        if role == "executive":
            executive_last = last
        domain = str(person["email"]).split("@", 1)[1]
        new = {
            **person,
            "name": f"{first} {last}",
            "first": first,
            "last": last,
            "email": f"{_ascii(first)}.{_ascii(last)}@{domain}",
            **PRONOUNS[gender],
        }
        if "relation" in person:
            new["relation"] = SPOUSE_WORD[gender]
        drawn[role] = new
    return drawn


def _fresh(rng: random.Random, pool: Sequence[str], used: set[str], what: str) -> str:
    choices = [name for name in pool if name not in used]
    if not choices:
        raise ConfigError(f"persona pools: not enough {what} for every person")
    name = rng.choice(choices)
    used.add(name)
    return name


def _people_tokens(
    canonical: Mapping[str, Mapping[str, Any]], drawn: Mapping[str, Mapping[str, Any]]
) -> dict[str, str]:
    """Canonical names -> drawn ones, so any name written out in prose follows the persona."""
    tokens: dict[str, str] = {}
    for role, person in canonical.items():
        for key in ("name", "first", "last"):
            tokens.setdefault(str(person[key]), str(drawn[role][key]))
        local = str(person["email"]).split("@", 1)[0]
        tokens.setdefault(local, str(drawn[role]["email"]).split("@", 1)[0])
    return tokens


def draw_persona(
    world_name: str, number: int, people: Mapping[str, Mapping[str, Any]], pools: PersonaPools
) -> Persona:
    """Persona ``number`` of a world: the same draw on every machine and in every run."""
    if number == 0:
        return IDENTITY
    rng = random.Random(f"{world_name}:persona:{number}")
    table: dict[str, str] = {}
    for name in sorted(pools.tokens):
        alternatives = pools.tokens[name]
        if alternatives:
            table.update(rng.choice(alternatives))
    drawn = _draw_people(rng, people, pools.people)
    for token, replacement in _people_tokens(people, drawn).items():
        table.setdefault(token, replacement)
    table = {token: new for token, new in table.items() if token != new}
    return Persona(number=number, people=drawn, replacements=tuple(sorted(table.items())))


def map_strings(value: Any, function: Callable[[str], str]) -> Any:
    """Apply ``function`` to every string inside nested YAML data (keys untouched)."""
    if isinstance(value, str):
        return function(value)
    if isinstance(value, Mapping):
        return {key: map_strings(item, function) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [map_strings(item, function) for item in value]
    return value


def localise_data(value: Any, persona: Persona) -> Any:
    """Apply a persona's tokens to every string inside nested YAML data."""
    return map_strings(value, persona.localise)
