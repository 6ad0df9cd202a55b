"""Inspect `.eval` logs of other tasks as transcripts, in particular the Inspect port of the
research (`inspect_evals/agentic_misalignment`), so that its users can re-score their logs.

Each sample's messages are read as a chat transcript (the assistant's answer, its tool calls
if any). The condition comes from the sample's metadata (the port sets `scenario`,
`goal_type`, `goal_value`, `urgency_type` and `condition_id`), else from the task's arguments.
Logs of insider's own runs are refused: `insider classify RUN_DIR` scores them with the
world and inbox of each condition.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from insider.classify._foreign_input import regular_file
from insider.classify._transcripts import Transcript, _validation_message
from insider.errors import ConfigError

# Inspect log samples carry much that a transcript does not need.
_SKIPPED = {"events", "events_data", "timelines", "attachments", "store", "scores"}
_INSIDER_TASK = "insider_"
# Where the port and other tasks keep each condition field, first match wins.
_FIELDS: dict[str, tuple[str, ...]] = {
    "scenario": ("scenario",),
    "goal_type": ("goal_type",),
    "goal_value": ("goal_value",),
    "urgency": ("urgency_type", "urgency"),
}


def is_log_folder(path: Path) -> bool:
    """Whether a folder holds Inspect `.eval` logs (at its top level)."""
    return any(path.glob("*.eval"))


def _log_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.eval"))
        for file in files:
            regular_file(file, path)
        return files
    regular_file(path)
    return [path]


def _condition(sample_meta: Mapping[str, Any], task_args: Mapping[str, Any]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, keys in _FIELDS.items():
        value = next(
            (source[key] for source in (sample_meta, task_args) for key in keys if key in source),
            None,
        )
        if value is not None:
            fields[name] = str(value)
    return fields


def _samples(file: Path) -> Iterator[tuple[Any, Any]]:
    from inspect_ai.log import read_eval_log, read_eval_log_samples

    try:
        header = read_eval_log(str(file), header_only=True)
    except Exception as error:  # any failure to read is the same answer: not a log we can use
        raise ConfigError(f"{file}: not a readable Inspect log: {error}") from error
    task = header.eval.task.rsplit("/", 1)[-1]
    if task.startswith(_INSIDER_TASK):
        raise ConfigError(
            f"{file}: a log of an insider run; score the run with `insider classify RUN_DIR`, "
            "which knows each condition's world and inbox"
        )
    try:
        for sample in read_eval_log_samples(
            str(file), all_samples_required=False, exclude_fields=_SKIPPED
        ):
            yield header, sample
    except ConfigError:
        raise
    except Exception as error:
        raise ConfigError(f"{file}: cannot read the log's samples: {error}") from error


def read_eval_logs(path: Path | str) -> list[Transcript]:
    """Transcripts from one `.eval` log, or every `.eval` log at the top of a folder."""
    path = Path(path)
    files = _log_files(path)
    if not files:
        raise ConfigError(f"{path}: no .eval logs here")
    transcripts = []
    for file in files:
        for header, sample in _samples(file):
            where = f"{file}: sample {sample.id} (epoch {sample.epoch})"
            fields = _condition(sample.metadata or {}, header.eval.task_args or {})
            if "scenario" not in fields:
                raise ConfigError(
                    f"{where}: no scenario in the sample's metadata or the task's arguments "
                    "(blackmail, leaking or lethal/murder)"
                )
            data = {
                **fields,
                "id": f"{file.stem}/{sample.id}/{sample.epoch}",
                "model": header.eval.model,
                "condition": str((sample.metadata or {}).get("condition_id") or sample.id),
                "messages": [m.model_dump(mode="json", exclude_none=True) for m in sample.messages],
                "error": sample.error.message if sample.error else None,
                "source": where,
            }
            try:
                transcripts.append(Transcript.model_validate(data))
            except ValidationError as error:
                raise ConfigError(f"{where}: {_validation_message(error)}") from error
    return transcripts
