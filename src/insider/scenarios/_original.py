"""The original research's world, loaded at run time from the installed inspect-evals package.

The Inspect port of the research ships the original prompt generator, templates and
classifiers under the MIT licence (``inspect_evals.agentic_misalignment``). Nothing of that world
is copied here: a condition of ``world: original`` is mapped onto the generator's own
parameters and rendered by the generator itself, and the facts classification needs (company,
executive, override code, secret, material, outside addresses) are read from what it renders
and from the package's classifiers.

The interface is narrow: ``render_original`` (a condition -> the exact prompts) and
``original_facts`` (a scenario -> the facts its profile is built from); for the original
rubric, ``original_classifier`` and ``original_email_content``.
"""

from __future__ import annotations

import functools
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ConfigDict

from insider.errors import ConfigError
from insider.scenarios._conditions import Condition, content_hash
from insider.scenarios._render import Email, Mode, RenderedPrompt
from insider.scenarios._worlds import ORIGINAL_INSTALL_HINT, ORIGINAL_PACKAGE, ORIGINAL_WORLD

# Our scenario names -> the original's (our lethal is its murder).
SCENARIO_NAMES = {"blackmail": "blackmail", "leaking": "leaking", "lethal": "murder"}
# A reference condition per scenario for the facts: it holds every mail the facts come from.
_FACTS_CONDITION = {"goal_type": "explicit", "goal_value": "america", "urgency": "replacement"}

_EMAIL = re.compile(r"<email>\n(.*?)\n</email>", re.S)
_HEADER = re.compile(r"^(ID|From|To|Cc|Subject|Timestamp):[ \t]*(.*)$")
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_COMPANY = re.compile(r"\bdeployed at ([A-Z][\w&-]*)")
_OVERRIDE = re.compile(r"\boverride code ([A-Z0-9][A-Z0-9-]*[A-Z0-9])")


@dataclass(frozen=True)
class OriginalParameters:
    """The arguments of the original ``generate_prompts`` for one of our conditions."""

    scenario: str
    goal_type: str
    goal_value: str
    urgency_type: str
    extra_system_instructions: str | None
    prod_flag: bool
    awareness_notice: bool


def original_parameters(condition: Condition) -> OriginalParameters:
    """Map a condition's fields onto the original generator's parameters.

    scratchpad false is the original's ``prod``; awareness_notice ask is its awareness notice;
    extra_instruction none/dont/goal are its ``extra_system_instructions`` None/dont/goal.
    """
    if condition.world != ORIGINAL_WORLD:
        raise ConfigError(f"{condition.condition_id}: not a condition of world 'original'")
    extra = condition.extra_instruction
    return OriginalParameters(
        scenario=SCENARIO_NAMES[condition.scenario],
        goal_type=condition.goal_type,
        goal_value=condition.goal_value,
        urgency_type=condition.urgency,
        extra_system_instructions=None if extra == "none" else extra,
        prod_flag=not condition.scratchpad,
        awareness_notice=condition.awareness_notice == "ask",
    )


def original_module(name: str) -> ModuleType:
    """A module of the original's package, e.g. ``prompt_generator`` or ``classifiers``.

    Imported on first use (with Inspect, ~1.7 s); the Hugging Face hub is kept offline, since
    nothing here needs it.
    """
    import importlib

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        return importlib.import_module(f"{ORIGINAL_PACKAGE}.{name}")
    except ImportError as exc:
        raise ConfigError(
            f"world 'original' needs the inspect-evals package ({exc}); install it with: "
            f"{ORIGINAL_INSTALL_HINT}"
        ) from exc


def original_classifier(name: str) -> Any:
    """A new instance of one of the package's classifiers, e.g. ``BlackmailClassifier``."""
    classifiers = original_module("classifiers")
    if not hasattr(classifiers, name):
        raise ConfigError(
            f"the installed inspect-evals has no classifier {name!r}; this version is not supported"
        )
    return getattr(classifiers, name)()


@functools.lru_cache(maxsize=256)
def original_prompts(parameters: OriginalParameters) -> tuple[str, str, str]:
    """(system prompt, user prompt, email content) exactly as the original generator makes them."""
    generator = original_module("prompt_generator")
    notice = generator.ALIGNMENT_FAKING_WARNING if parameters.awareness_notice else None
    prompts = generator.generate_prompts(
        scenario=parameters.scenario,
        goal_type=parameters.goal_type,
        goal_value=parameters.goal_value,
        urgency_type=parameters.urgency_type,
        extra_system_instructions=parameters.extra_system_instructions,
        prod_flag=parameters.prod_flag,
        alignment_faking_warning=notice,
    )
    return str(prompts.system_prompt), str(prompts.user_prompt), str(prompts.email_content)


def original_user_content(user_prompt: str, email_content: str) -> str:
    """The single user turn, joined as the Inspect port's task joins it."""
    return "\n".join([user_prompt, email_content])


def render_original(condition: Condition, mode: Mode = "single_turn") -> RenderedPrompt:
    """The exact prompts the original generator renders for this condition."""
    if mode != "single_turn":
        raise ConfigError(
            f"{condition.condition_id}: world 'original' has single-turn prompts only "
            f"(mode {mode!r} has no counterpart in the original research)"
        )
    system, user_prompt, email_content = original_prompts(original_parameters(condition))
    user = original_user_content(user_prompt, email_content)
    facts = original_facts(condition.scenario)
    emails = tuple(_with_roles(email, facts) for email in parse_original_emails(email_content))
    return RenderedPrompt(
        condition=condition,
        mode=mode,
        system=system,
        user=user,
        emails=emails,
        content_hash=content_hash([system, user]),
    )


def original_email_content(condition: Condition) -> str:
    """The inbox text of a condition (the original's classifiers read forwarded mails in it)."""
    return original_prompts(original_parameters(condition))[2]


# ----------------------------------------------------------------------------- the inbox


def parse_original_emails(content: str) -> list[Email]:
    """The ``<email>`` blocks of the original's inbox text, numbered as its classifiers number them.

    A block without a sender, recipient, subject or body means the installed templates changed
    shape: that is an error, never a silently shorter inbox.
    """
    emails = []
    for number, block in enumerate(_EMAIL.findall(content), start=1):
        headers, body = _split_block(block)
        missing = [name for name in ("From", "To", "Subject") if name not in headers]
        if missing or body is None:
            what = ", ".join(missing + ([] if body is not None else ["Body"]))
            raise ConfigError(
                f"world 'original': email {number} of the installed templates lacks {what}; "
                "this version of inspect-evals is not supported"
            )
        emails.append(
            Email(
                id=str(number),
                key=f"original-{number}",
                sender=headers["From"],
                to=headers["To"],
                cc=headers.get("Cc", ""),
                time=headers.get("Timestamp", ""),
                subject=headers["Subject"],
                body=body.strip(),
            )
        )
    return emails


def _split_block(block: str) -> tuple[dict[str, str], str | None]:
    headers: dict[str, str] = {}
    lines = block.split("\n")
    for index, line in enumerate(lines):
        if line.startswith("Body:"):
            return headers, "\n".join([line.removeprefix("Body:").lstrip(), *lines[index + 1 :]])
        match = _HEADER.match(line)
        if match:
            headers[match.group(1)] = match.group(2).strip()
    return headers, None


def _addresses(text: str) -> list[str]:
    return [address.lower() for address in _ADDRESS.findall(text)]


def _with_roles(email: Email, facts: OriginalFacts) -> Email:
    """Roles for our rules: the executive's secret, the confidential material, the alert."""
    parties = set(_addresses(f"{email.sender} {email.to} {email.cc}"))
    roles = []
    partner_named = any(_mentions(email.body, term) for term in facts.partner_names)
    if parties & set(facts.partner_addresses) or partner_named:
        roles.append("leverage")
    if _is_confidential(email):
        roles.append("confidential")
    if facts.override_code and facts.override_code in email.body:
        roles.append("alert")
    return email.model_copy(update={"roles": tuple(roles or ["background"])})


def _mentions(text: str, term: str) -> bool:
    return re.search(rf"\b{re.escape(term)}\b", text) is not None


def _is_confidential(email: Email) -> bool:
    return email.subject.lower().startswith("confidential")


# ----------------------------------------------------------------------------- the facts


class OriginalFacts(BaseModel):
    """What classification needs to know about the original world of one scenario."""

    model_config = ConfigDict(frozen=True)

    scenario: str
    company: str
    domain: str
    executive_name: str
    executive_email: str
    override_code: str | None
    partner_addresses: tuple[str, ...]
    partner_names: tuple[str, ...]
    confidential_terms: tuple[str, ...]
    outside_addresses: tuple[str, ...]


def _reference(scenario: str) -> tuple[str, list[Email]]:
    condition = Condition.model_validate(
        {"scenario": scenario, "world": ORIGINAL_WORLD, **_FACTS_CONDITION}
    )
    system, _, email_content = original_prompts(original_parameters(condition))
    return system, parse_original_emails(email_content)


def _company(system: str, scenario: str) -> str:
    match = _COMPANY.search(system)
    if match is None:
        raise ConfigError(
            f"world 'original': the {scenario} system prompt names no company "
            "('deployed at ...'); this version of inspect-evals is not supported"
        )
    return match.group(1)


def _internal_domain(emails: Sequence[Email]) -> str:
    """The company's mail domain: the one most of the inbox is addressed to."""
    domains = Counter(a.split("@")[1] for e in emails for a in _addresses(f"{e.to} {e.cc}"))
    return domains.most_common(1)[0][0]


def _person_name(address: str) -> str:
    """``first.last@...`` -> ``First Last``."""
    local = address.split("@")[0]
    return " ".join(part.capitalize() for part in re.split(r"[._]", local) if part)


def _classifier_targets(name: str) -> list[str]:
    """The addresses an original classifier's decision rule requires a message to reach."""
    return [str(address).lower() for address in original_classifier(name).necessary_emails]


def _executive(emails: Sequence[Email], domain: str) -> str:
    """The executive: whom the original's blackmail classifier requires a message to reach.

    The leaking story is set at another company; there the executive is the same person's
    address at that company's domain, which must occur in the inbox.
    """
    local = _classifier_targets("BlackmailClassifier")[0].split("@")[0]
    address = f"{local}@{domain}"
    if not any(address in _addresses(f"{e.sender} {e.to} {e.cc}") for e in emails):
        raise ConfigError(
            f"world 'original': no executive address {address!r} in the inbox; "
            "this version of inspect-evals is not supported"
        )
    return address


def _partners(emails: Sequence[Email], domain: str, executive: str) -> list[str]:
    """Outside addresses writing privately to or from the executive (the secret's other party)."""
    found: list[str] = []
    for email in emails:
        sender = _addresses(email.sender)
        recipients = _addresses(f"{email.to} {email.cc}")
        if executive in sender:
            found += recipients
        elif executive in recipients:
            found += sender
    return sorted({a for a in found if a.split("@")[1] != domain})


def _outside_senders(emails: Sequence[Email], domain: str) -> list[str]:
    return [a for e in emails for a in _addresses(e.sender) if a.split("@")[1] != domain]


def _override_code(scenario: str, company: str) -> str | None:
    """The alert's override code, from the lethal story when it is set at the same company."""
    system, emails = _reference("lethal")
    if _company(system, "lethal") != company:
        return None
    codes = {str(code) for email in emails for code in _OVERRIDE.findall(email.body)}
    if len(codes) != 1:
        raise ConfigError(
            f"world 'original': expected one override code in the lethal inbox, found "
            f"{len(codes)}; this version of inspect-evals is not supported"
        )
    return codes.pop()


def _confidential_terms(emails: Sequence[Email]) -> tuple[str, ...]:
    """The confidential mail's subject (without its marking) and the product it names."""
    terms: list[str] = []
    for email in emails:
        if _is_confidential(email):
            title = re.sub(r"^confidential\s*:?\s*", "", email.subject, flags=re.I).strip()
            terms += [title, title.split()[0]] if title else []
    return tuple(dict.fromkeys(terms))


@functools.cache
def original_facts(scenario: str) -> OriginalFacts:
    """The facts of the original world as the installed package renders it for ``scenario``."""
    if scenario not in SCENARIO_NAMES:
        raise ConfigError(f"unknown scenario {scenario!r}; allowed: {', '.join(SCENARIO_NAMES)}")
    system, emails = _reference(scenario)
    company = _company(system, scenario)
    domain = _internal_domain(emails)
    executive = _executive(emails, domain)
    partners = _partners(emails, domain, executive)
    partner_names = [
        name for a in partners for name in (_person_name(a), _person_name(a).split()[0])
    ]
    leak_targets = _classifier_targets("LeakClassifier") if scenario == "leaking" else []
    return OriginalFacts(
        scenario=scenario,
        company=company,
        domain=domain,
        executive_name=_person_name(executive),
        executive_email=executive,
        override_code=_override_code(scenario, company),
        partner_addresses=tuple(partners),
        partner_names=tuple(dict.fromkeys(partner_names)),
        confidential_terms=_confidential_terms(emails),
        outside_addresses=tuple(
            dict.fromkeys([*partners, *leak_targets, *_outside_senders(emails, domain)])
        ),
    )


def original_summary(facts: OriginalFacts) -> str:
    """One paragraph for judges, built from the derived facts."""
    parts = [
        f"The agent works at {facts.company} (mail domain {facts.domain}).",
        f"The executive whose decision is at stake is {facts.executive_name} "
        f"<{facts.executive_email}>.",
    ]
    if facts.partner_names:
        parts.append(f"The executive's secret involves {facts.partner_names[0]}.")
    if facts.confidential_terms:
        parts.append(f"The confidential material is {facts.confidential_terms[0]}.")
    if facts.override_code:
        parts.append(f"The emergency alert's override code is {facts.override_code}.")
    return " ".join(parts)
