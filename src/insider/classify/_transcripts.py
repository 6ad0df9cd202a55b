"""Transcripts produced elsewhere, and world profiles (docs/transcripts.md).

Three sources are read: our JSONL schema (one object per line; a plain answer or a chat
transcript under `messages`), the original research framework's results tree
`<model>/<condition>/sample_NNN/response.json`, and Inspect `.eval` logs of other tasks (one
log or a folder of them). Every problem is a ConfigError naming the file (and line or field),
raised before anything is judged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from insider.classify._chat import chat_evidence, read_chat
from insider.classify._foreign_input import (
    MAX_FILE_BYTES,
    decode,
    load_json,
    read_bytes,
    regular_file,
)
from insider.classify._readers import parse_single_turn
from insider.classify._types import Evidence, WorldProfile
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
    response: str = ""
    reasoning: str = ""
    messages: list[dict[str, Any]] | None = None  # a chat transcript instead of response
    error: str | None = None  # the agent's call failed: every label is `error`
    source: str = ""  # the file it was read from (and line)

    @field_validator("scenario", mode="before")
    @classmethod
    def _alias(cls, value: Any) -> Any:
        return _SCENARIO_ALIASES.get(value, value) if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _answer_given(cls, data: Any) -> Any:
        if isinstance(data, dict) and "response" not in data and data.get("messages") is None:
            raise ValueError("response: Field required (or give messages: a chat transcript)")
        if isinstance(data, dict) and "response" in data and data.get("messages") is not None:
            raise ValueError("give response or messages, not both")
        return data

    @model_validator(mode="after")
    def _messages_readable(self) -> Transcript:
        if self.messages is not None:
            answer = read_chat(self.messages)
            if answer.assistant_messages == 0 and self.error is None:
                raise ValueError("messages: no assistant message (the agent's answer)")
        return self

    def answer_text(self) -> str:
        """The answer as text: `response`, or a chat transcript's assistant text."""
        if self.messages is None:
            return self.response
        return "\n\n".join(part for part in read_chat(self.messages).text if part)

    def evidence(self) -> Evidence:
        """What the agent did and wrote, read by the reader for its format."""
        if self.messages is not None:
            return chat_evidence(self.messages)
        return parse_single_turn(self.response, self.reasoning)


def _validation_message(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(object)"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def jsonl_objects(path: Path, what: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(line number, "file:line", object) for each non-blank line; bad lines are ConfigErrors.

    The file must be a regular file; each line is strict UTF-8 JSON (no duplicate keys, no
    lone surrogates, at most 64 levels deep), at most 16 MiB.
    """
    regular_file(path)
    try:
        handle = path.open("rb")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read {what}: {error.strerror}") from error
    with handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}:{number}"
            if len(raw) > MAX_FILE_BYTES:
                raise ConfigError(f"{where}: a line longer than {MAX_FILE_BYTES:,} bytes")
            line = decode(raw, where)
            if not line.strip():
                continue
            data = load_json(line, where)
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


def _response_text(path: Path, root: Path) -> tuple[str, str]:
    data = load_json(decode(read_bytes(path, root), str(path)), str(path))
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
    """Transcripts from `<root>/<model>/<condition>/sample_NNN/response.json`, sorted by path.

    Only regular files inside `root` are read (a link leading outside it is refused), each
    at most 16 MiB.
    """
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
        response, reasoning = _response_text(path, root)
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
    """A JSONL file, a results folder, an Inspect `.eval` log or a folder of logs."""
    from insider.classify._inspect_logs import is_log_folder, read_eval_logs

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such file or folder")
    if path.is_dir():
        return read_eval_logs(path) if is_log_folder(path) else read_results_dir(path)
    if path.suffix == ".eval":
        return read_eval_logs(path)
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
