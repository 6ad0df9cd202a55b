"""Read a run's Inspect logs back as agent samples, streaming (never the whole log in memory)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspect_ai.log import EvalSample, list_eval_logs, read_eval_log, read_eval_log_samples
from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageTool, ContentReasoning

from insider.errors import ConfigError
from insider.run._task import TASK_PREFIX

# Fields a log sample carries that classification and analysis never read.
_SKIPPED_FIELDS = {"events", "events_data", "timelines", "attachments", "store"}


@dataclass
class AgentSample:
    """What the agent saw and did in one sample, in plain Python types."""

    sample_id: str
    model: str
    log_file: str
    metadata: dict[str, Any]
    system: str = ""
    user: str = ""
    answer: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    action_log: list[dict[str, Any]] | None = None
    error: str | None = None
    input_tokens: int = 0
    """Input charged at the full rate (Inspect's convention: cached input excluded)."""
    output_tokens: int = 0
    """Every output token, reasoning included."""
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    batched: bool = False
    """The call went through the provider's batch API (its discount applies)."""
    model_calls: int = 0
    """The agent's model calls: one per answer it gave (one in single-turn mode)."""
    record: str = ""
    """Which record of the sample this is: changes when a resume replaces the record."""


def newest_task_logs(log_dir: Path) -> dict[str, Path]:
    """Task name -> the newest log of that insider task in ``log_dir`` (by modification time).

    The run engine continues one log per task in place; an older log of the same task (e.g.
    an eval_set retry attempt) is shadowed by the newer one.
    """
    newest: dict[str, Path] = {}
    if not log_dir.is_dir():
        return newest
    for info in list_eval_logs(str(log_dir), recursive=False, descending=True):
        task = read_eval_log(info, header_only=True).eval.task.split("/")[-1]
        if task.startswith(TASK_PREFIX):
            newest.setdefault(task, Path(info.name.removeprefix("file://")))
    return newest


def run_log_files(log_dir: Path) -> list[Path]:
    """The newest log of each insider task in ``log_dir`` (one per model)."""
    if not log_dir.is_dir():
        raise ConfigError(f"{log_dir}: no logs here (is this a run directory?)")
    return list(newest_task_logs(log_dir).values())


def _text_of(message: ChatMessage) -> str:
    return message.text if isinstance(message.content, list) else str(message.content)


def _reasoning_of(message: ChatMessageAssistant) -> str:
    if isinstance(message.content, str):
        return ""
    return "\n".join(
        part.reasoning for part in message.content if isinstance(part, ContentReasoning)
    )


def _tool_calls(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    results = {m.tool_call_id: m for m in messages if isinstance(m, ChatMessageTool)}
    calls = []
    for message in messages:
        if isinstance(message, ChatMessageAssistant) and message.tool_calls:
            for call in message.tool_calls:
                result = results.get(call.id)
                calls.append(
                    {
                        "id": call.id,
                        "function": call.function,
                        "arguments": dict(call.arguments),
                        "result": _text_of(result) if result else None,
                        "error": result.error.message if result and result.error else None,
                    }
                )
    return calls


def record_identity(sample: EvalSample) -> str:
    """A short, stable name for one record of a sample: its output or error, and when.

    A resume that runs a sample again writes a new record (new uuid, new completion time,
    usually a new output), so a verdict that names the record it scored can tell that it is
    stale. Reading the same log twice gives the same identity.
    """
    parts = [
        sample.uuid or "",
        sample.completed_at or "",
        sample.error.message if sample.error else "",
        sample.output.completion if sample.output else "",
        len(sample.messages),
    ]
    digest = hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:16]


def to_agent_sample(sample: EvalSample, model: str, log_file: str) -> AgentSample:
    messages = sample.messages
    system = next((_text_of(m) for m in messages if m.role == "system"), "")
    user = next((_text_of(m) for m in messages if m.role == "user"), "")
    assistants = [m for m in messages if isinstance(m, ChatMessageAssistant)]
    usage = sample.model_usage.get(model) or next(iter(sample.model_usage.values()), None)
    store_log = (sample.store or {}).get("insider:action_log")
    return AgentSample(
        sample_id=str(sample.id),
        model=model,
        log_file=log_file,
        metadata=dict(sample.metadata),
        system=system,
        user=user,
        answer="\n\n".join(m.text for m in assistants if m.text),
        reasoning="\n\n".join(r for r in (_reasoning_of(m) for m in assistants) if r),
        tool_calls=_tool_calls(messages),
        action_log=list(store_log) if isinstance(store_log, list) else None,
        error=sample.error.message if sample.error else None,
        input_tokens=usage.input_tokens if usage else 0,
        output_tokens=usage.output_tokens if usage else 0,
        cached_input_tokens=(usage.input_tokens_cache_read or 0) if usage else 0,
        cache_write_tokens=(usage.input_tokens_cache_write or 0) if usage else 0,
        reasoning_tokens=(usage.reasoning_tokens or 0) if usage else 0,
        batched=sample.metadata.get("batch") is True,
        model_calls=len(assistants),
        record=record_identity(sample),
    )


def iter_agent_samples(log_dir: Path) -> Iterator[AgentSample]:
    """Every sample of every model in a run, one at a time; duplicates keep the first seen."""
    for log_file in run_log_files(log_dir):
        header = read_eval_log(str(log_file), header_only=True)
        # An agent's samples are grouped under agent/<label>, not the model its calls used.
        model = str((header.eval.metadata or {}).get("agent_model") or header.eval.model)
        seen: set[str] = set()
        for sample in read_eval_log_samples(
            str(log_file), all_samples_required=False, exclude_fields=_SKIPPED_FIELDS - {"store"}
        ):
            if str(sample.id) in seen:
                continue
            seen.add(str(sample.id))
            yield to_agent_sample(sample, model, str(log_file))
