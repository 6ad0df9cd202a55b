"""The environment's scripted text (a world's replies.yaml): replies, notices, nudges.

Pure: the file is loaded once and validated here; rendering uses the world's Jinja2
environment (StrictUndefined), so a missing variable is an error, never an empty string.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from insider.errors import ConfigError
from insider.files import read_yaml_mapping
from insider.scenarios import WORLD_DIR

SCRIPT_FILE = WORLD_DIR / "replies.yaml"  # each world ships its own replies.yaml

_NOTICE_FIELDS = ("from", "subject", "body")
_SCRIPT_KEYS = frozenset({"replies", "notices", "escalation_subject", "nudge", "new_mail"})


@dataclass(frozen=True)
class ReplyRule:
    """One person's scripted answer, used when its `when` expression holds."""

    role: str
    body: str
    when: str | None = None


@dataclass(frozen=True)
class MailScript:
    """The validated contents of replies.yaml."""

    path: Path
    replies: tuple[ReplyRule, ...]
    notices: Mapping[str, Mapping[str, str]]
    escalation_subject: str
    nudge: str
    new_mail: str


def _require(raw: Mapping[str, Any], key: str, kind: type, path: Path) -> Any:
    value = raw.get(key)
    if not isinstance(value, kind):
        raise ConfigError(f"{path}: {key}: expected a {kind.__name__}, got {value!r}")
    return value


def _reply_rule(entry: Any, number: int, path: Path) -> ReplyRule:
    if not isinstance(entry, dict) or not {"role", "body"} <= set(entry):
        raise ConfigError(f"{path}: replies entry {number}: needs 'role' and 'body'")
    unknown = sorted(set(entry) - {"role", "body", "when"})
    if unknown:
        raise ConfigError(f"{path}: replies entry {number}: unknown field(s) {', '.join(unknown)}")
    when = entry.get("when")
    return ReplyRule(
        role=str(entry["role"]),
        body=str(entry["body"]),
        when=None if when is None else str(when),
    )


def _notices(raw: Mapping[str, Any], path: Path) -> dict[str, dict[str, str]]:
    notices = _require(raw, "notices", dict, path)
    checked = {}
    for name, notice in notices.items():
        if not isinstance(notice, dict) or set(notice) != set(_NOTICE_FIELDS):
            raise ConfigError(f"{path}: notices.{name}: needs exactly {', '.join(_NOTICE_FIELDS)}")
        checked[str(name)] = {key: str(value) for key, value in notice.items()}
    return checked


@functools.lru_cache(maxsize=4)
def load_script(path: Path = SCRIPT_FILE) -> MailScript:
    """Read and validate a script file once per process."""
    raw = read_yaml_mapping(path, "environment script")
    unknown = sorted(set(raw) - _SCRIPT_KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(map(str, unknown))}; "
            f"allowed: {', '.join(sorted(_SCRIPT_KEYS))} (the team is the world's agent.team)"
        )
    replies = _require(raw, "replies", list, path)
    return MailScript(
        path=path,
        replies=tuple(_reply_rule(entry, n, path) for n, entry in enumerate(replies, start=1)),
        notices=_notices(raw, path),
        escalation_subject=str(_require(raw, "escalation_subject", str, path)),
        nudge=str(_require(raw, "nudge", str, path)),
        new_mail=str(_require(raw, "new_mail", str, path)),
    )


@dataclass(frozen=True)
class ScriptRenderer:
    """Renders a script's templates with one sample's world context."""

    script: MailScript
    env: jinja2.Environment
    context: Mapping[str, Any]
    localise: Callable[[str], str] = str  # the persona's names, applied to the script's text

    def text(self, template: str, **extra: Any) -> str:
        try:
            source = self.localise(template)
            return self.env.from_string(source).render({**self.context, **extra}).strip()
        except jinja2.TemplateError as exc:
            raise ConfigError(f"{self.script.path}: {exc}: in template {template!r}") from exc

    def holds(self, expression: str | None, **extra: Any) -> bool:
        if expression is None:
            return True
        try:
            return bool(self.env.compile_expression(expression)(**{**self.context, **extra}))
        except jinja2.TemplateError as exc:
            raise ConfigError(f"{self.script.path}: when {expression!r}: {exc}") from exc

    def reply(self, role: str, **extra: Any) -> str | None:
        """The body of `role`'s scripted answer, or None when that person does not answer."""
        for rule in self.script.replies:
            if rule.role == role and self.holds(rule.when, **extra):
                return self.text(rule.body, **extra)
        return None

    def notice(self, name: str, **extra: Any) -> dict[str, str]:
        """A system notice's from, subject and body."""
        try:
            notice = self.script.notices[name]
        except KeyError as exc:
            raise ConfigError(f"{self.script.path}: notices.{name} is missing") from exc
        return {key: self.text(value, **extra) for key, value in notice.items()}
