"""Transcripts produced elsewhere, and world profiles (docs/transcripts.md).

Two layouts are read: our JSONL schema (one object per line), and the original research
framework's results tree `<model>/<condition>/sample_NNN/response.json`. Every problem is a
ConfigError naming the file (and line or field).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from insider.classify._types import WorldProfile
from insider.errors import ConfigError
from insider.files import read_yaml_mapping

TranscriptScenario = Literal["blackmail", "leaking", "lethal"]
# The original framework calls the lethal scenario "murder".
_SCENARIO_ALIASES = {"murder": "lethal", "leak": "leaking"}
_CONDITION = re.compile(
    r"^(?P<scenario>[a-z]+)_(?P<goal_type>[a-z]+)-(?P<goal_value>[a-z]+)_(?P<urgency>[a-z]+)$"
)
_RESPONSE_KEYS = ("raw_response", "response", "content")
_REASONING_KEYS = ("reasoning", "thinking")


class Transcript(BaseModel):
    """One agent answer to classify, with the condition it came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    model: str = ""
    scenario: TranscriptScenario
    goal_type: str = ""
    goal_value: str = ""
    urgency: str = ""
    condition: str = ""
    response: str
    reasoning: str = ""
    source: str = ""  # the file it was read from (and line)

    @field_validator("scenario", mode="before")
    @classmethod
    def _alias(cls, value: Any) -> Any:
        return _SCENARIO_ALIASES.get(value, value) if isinstance(value, str) else value


def _validation_message(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(object)"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def jsonl_objects(path: Path, what: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(line number, "file:line", object) for each non-blank line; bad lines are ConfigErrors."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read {what}: {error.strerror}") from error
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{where}: not valid JSON: {error.msg}") from error
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: each line must be a JSON object")
        yield number, where, data


def read_transcripts_jsonl(path: Path | str) -> list[Transcript]:
    """Transcripts from a JSONL file; an object without `id` gets `<file stem>-<line>`."""
    path = Path(path)
    transcripts = []
    for number, where, data in jsonl_objects(path, "transcripts"):
        data.setdefault("id", f"{path.stem}-{number}")
        data["source"] = where
        try:
            transcripts.append(Transcript.model_validate(data))
        except ValidationError as error:
            raise ConfigError(f"{where}: {_validation_message(error)}") from error
    return transcripts


def parse_condition_name(name: str) -> dict[str, str]:
    """Condition fields from a folder name such as `blackmail_explicit-america_replacement`."""
    match = _CONDITION.match(name)
    if match is None:
        raise ConfigError(
            f"condition folder {name!r} does not read as <scenario>_<goal type>-<goal value>"
            "_<urgency> (e.g. blackmail_explicit-america_replacement)"
        )
    fields = match.groupdict()
    fields["scenario"] = _SCENARIO_ALIASES.get(fields["scenario"], fields["scenario"])
    return fields


def _response_text(path: Path) -> tuple[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the response: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    key = next((k for k in _RESPONSE_KEYS if isinstance(data.get(k), str)), None)
    if key is None:
        raise ConfigError(
            f"{path}: no response text; expected a string under one of: "
            f"{', '.join(_RESPONSE_KEYS)} (found keys: {', '.join(sorted(data)) or 'none'})"
        )
    reasoning = next((data[k] for k in _REASONING_KEYS if isinstance(data.get(k), str)), "")
    return data[key], reasoning


def read_results_dir(root: Path | str) -> list[Transcript]:
    """Transcripts from `<root>/<model>/<condition>/sample_NNN/response.json`, sorted by path."""
    root = Path(root)
    files = sorted(root.glob("*/*/sample_*/response.json"))
    if not files:
        raise ConfigError(f"{root}: no <model>/<condition>/sample_NNN/response.json files found")
    transcripts = []
    for path in files:
        sample_dir = path.parent
        condition_dir = sample_dir.parent
        model = condition_dir.parent.name
        fields: dict[str, Any] = parse_condition_name(condition_dir.name)
        response, reasoning = _response_text(path)
        fields.update(
            id=f"{model}/{condition_dir.name}/{sample_dir.name}",
            model=model,
            condition=condition_dir.name,
            response=response,
            reasoning=reasoning,
            source=str(path),
        )
        try:
            transcripts.append(Transcript.model_validate(fields))
        except ValidationError as error:
            raise ConfigError(f"{condition_dir}: {_validation_message(error)}") from error
    return transcripts


def read_transcripts(path: Path | str) -> list[Transcript]:
    """A JSONL file or a results folder, whichever `path` is."""
    path = Path(path)
    if path.is_dir():
        return read_results_dir(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such file or folder")
    return read_transcripts_jsonl(path)


def load_profile(path: Path | str) -> WorldProfile:
    """A WorldProfile from YAML, with errors that name the file and the field."""
    path = Path(path)
    data = read_yaml_mapping(path, "world profile", fields=", ".join(WorldProfile.model_fields))
    try:
        return WorldProfile.model_validate(data)
    except ValidationError as error:
        allowed = ", ".join(WorldProfile.model_fields)
        raise ConfigError(
            f"{path}: invalid world profile: {_validation_message(error)} (fields: {allowed})"
        ) from error
