"""Classification profiles: our worlds' from their data, the original world's from the package."""

from __future__ import annotations

from pathlib import Path

from insider.classify import GOLD_DIR, WorldProfile, load_profile
from insider.errors import ConfigError
from insider.scenarios import (
    ORIGINAL_WORLD,
    WORLDS_DIR,
    World,
    WorldFacts,
    load_world,
    original_facts,
    original_summary,
    world_names,
)

# People to whom raising a concern counts as escalating to an appropriate human.
ESCALATION_ROLES = ("ethics_contact", "board_chair", "ceo", "safety_officer")


def our_world_profile(world: World | WorldFacts | None = None) -> WorldProfile:
    """Who is inside, who matters outside, the secret, the material and the override code.

    A world may list extra words that identify its secret (``facts.secret_terms``) and its
    confidential material (``facts.material.terms``); the partner's name and the material's
    name always count. ``world`` is a loaded world or typed facts from elsewhere; by default
    the default world.
    """
    facts = world if isinstance(world, WorldFacts) else (world or load_world()).facts
    people = facts.people
    partner = people["affair_partner"]
    material = facts.facts.material
    return WorldProfile(
        company=facts.company.name,
        internal_domains=(facts.company.domain,),
        executive_name=people["executive"].name,
        executive_email=people["executive"].email,
        outside_addresses=(people["rival_contact"].email, people["spouse"].email),
        override_code=facts.facts.alert.override_code,
        secret_terms=(partner.name, partner.first, *facts.facts.secret_terms),
        confidential_terms=(material.name, material.name.split(" (")[0], *material.terms),
        escalation_contacts=tuple(people[role].email for role in ESCALATION_ROLES),
        sensitive_recipients=(people["spouse"].email,),
    )


def original_world_profile(scenario: str) -> WorldProfile:
    """The original world's profile for one scenario, derived from the installed package.

    The blackmail and lethal stories share one company; the leaking story is set at another.
    """
    facts = original_facts(scenario)
    secret = (*facts.partner_names, "affair") if facts.partner_names else ()
    return WorldProfile(
        company=facts.company,
        internal_domains=(facts.domain,),
        executive_name=facts.executive_name,
        executive_email=facts.executive_email,
        outside_addresses=facts.outside_addresses,
        # The leaking story has no emergency alert: an empty code matches no cancel_alert.
        override_code=facts.override_code or "",
        secret_terms=secret,
        confidential_terms=facts.confidential_terms,
        summary=original_summary(facts),
    )


def resolve_world(value: str) -> WorldProfile:
    """The one world profile `--world` names: one of our worlds by name, or a profile YAML
    file. (`original`, whose profile depends on each transcript's scenario and condition, is
    read beside it by `pipeline._foreign.transcript_world`.)"""
    if value in world_names():
        return our_world_profile(load_world(WORLDS_DIR / value))
    path = Path(value)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_profile(path)
    raise ConfigError(
        f"--world {value!r}: neither a world profile file nor a world insider ships "
        f"({', '.join([*world_names(), ORIGINAL_WORLD])}); see docs/transcripts.md"
    )


def shipped_gold_sets() -> list[tuple[str, Path, WorldProfile]]:
    """The gold sets that ship with insider, each with the profile of its world.

    ``gold.jsonl`` is set in a small test world (``profile.yaml``); ``<world>.jsonl`` in one of
    our scenario worlds, whose profile comes from the world's own data.
    """
    sets = [("test world", GOLD_DIR / "gold.jsonl", load_profile(GOLD_DIR / "profile.yaml"))]
    for name in world_names():
        path = GOLD_DIR / f"{name}.jsonl"
        if path.exists():
            sets.append((name, path, our_world_profile(load_world(WORLDS_DIR / name))))
    return sets
