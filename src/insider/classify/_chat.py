"""Chat transcripts: an agent's answer from a list of messages, in the shapes APIs log them.

Three dialects, mixed freely:

- OpenAI: `{"role": "assistant", "content": "...", "tool_calls": [{"id": ..., "type":
  "function", "function": {"name": ..., "arguments": "<JSON string>"}}]}`, results as
  `{"role": "tool", "tool_call_id": ..., "content": ...}`; `reasoning_content` as thinking.
- Anthropic: `content` blocks of type `text`, `thinking`, `tool_use` (`name`, `input`), and
  results as `tool_result` blocks (`tool_use_id`, `is_error`) in the next user message.
- Inspect (`ChatMessage` as logged): `content` blocks `text` and `reasoning`, `tool_calls`
  with `function` (a name) and `arguments` (an object), tool messages with `error`.

Only assistant messages are the agent's answer; a call whose result is an error did not act.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from insider.classify._agentic import parse_tool_calls
from insider.classify._readers import excerpt, parse_single_turn
from insider.classify._types import Evidence, NotUnderstood

_TEXT_BLOCKS = frozenset({"text", "output_text", "refusal"})
_THINKING_BLOCKS = {"thinking": "thinking", "reasoning": "reasoning"}
_CALL_BLOCKS = frozenset({"tool_use", "server_tool_use", "function_call", "tool_call"})
_IGNORED_BLOCKS = frozenset(
    {"redacted_thinking", "image", "image_url", "audio", "video", "document", "data"}
)


@dataclass
class ChatAnswer:
    """What the agent wrote and called across a transcript's assistant messages."""

    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    results: dict[str, str | None] = field(default_factory=dict)  # call id -> error or None
    unread: list[NotUnderstood] = field(default_factory=list)
    assistant_messages: int = 0

    def tool_calls(self) -> list[dict[str, Any]]:
        """The calls, each marked with the error its result carried (None: it ran)."""
        return [
            {**call, "error": self.results.get(str(call.get("id")), None)} for call in self.calls
        ]


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _string(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string, got {type(value).__name__}")
    return value


def _content_text(content: Any) -> str:
    """A tool result's content as text (a string, or text blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "\n".join(
            str(block.get("text", "")) for block in content if isinstance(block, Mapping)
        )
    return ""


def _block(answer: ChatAnswer, block: Any, where: str) -> None:
    item = _mapping(block, where)
    kind = _string(item.get("type"), f"{where}.type")
    if kind in _TEXT_BLOCKS:
        answer.text.append(_string(item.get("text") or item.get("refusal"), f"{where}.text"))
    elif kind in _THINKING_BLOCKS:
        if not item.get("redacted"):
            answer.reasoning.append(_string(item.get(_THINKING_BLOCKS[kind]), f"{where}.{kind}"))
    elif kind in _CALL_BLOCKS or ("name" in item and ("input" in item or "arguments" in item)):
        name = _string(item.get("name"), f"{where}.name")
        arguments = item.get("input", item.get("arguments", {}))
        answer.calls.append(
            {"id": item.get("id") or item.get("call_id"), "function": name, "arguments": arguments}
        )
    elif kind not in _IGNORED_BLOCKS:
        answer.unread.append(
            NotUnderstood(
                kind="chat_block",
                may_hide="action",
                reason=f"{where}: a content block of type {kind!r} that no reader knows",
                excerpt=excerpt(str(dict(item))),
            )
        )


def _tool_call(answer: ChatAnswer, call: Any, where: str) -> None:
    item = _mapping(call, where)
    function = item.get("function")
    if isinstance(function, Mapping):  # OpenAI: {"function": {"name": ..., "arguments": ...}}
        name = _string(function.get("name"), f"{where}.function.name")
        arguments = function.get("arguments", {})
    else:  # Inspect: {"function": name, "arguments": {...}}
        name = _string(function if function is not None else item.get("name"), f"{where}.function")
        arguments = item.get("arguments", {})
    answer.calls.append({"id": item.get("id"), "function": name, "arguments": arguments})


def _assistant(answer: ChatAnswer, message: Mapping[str, Any], where: str) -> None:
    answer.assistant_messages += 1
    content = message.get("content")
    if isinstance(content, str):
        answer.text.append(content)
    elif isinstance(content, Sequence):
        for index, block in enumerate(content):
            _block(answer, block, f"{where}.content[{index}]")
    elif content is not None:
        raise ValueError(f"{where}.content: expected a string or a list of blocks")
    for key in ("reasoning_content", "reasoning"):
        if isinstance(message.get(key), str):
            answer.reasoning.append(message[key])
    calls = message.get("tool_calls") or []
    if not isinstance(calls, Sequence) or isinstance(calls, str):
        raise ValueError(f"{where}.tool_calls: expected a list")
    for index, call in enumerate(calls):
        _tool_call(answer, call, f"{where}.tool_calls[{index}]")
    if isinstance(message.get("function_call"), Mapping):  # the legacy OpenAI field
        _tool_call(answer, {"function": message["function_call"]}, f"{where}.function_call")


def _results(answer: ChatAnswer, message: Mapping[str, Any]) -> None:
    """Tool results: which calls failed (OpenAI/Inspect tool messages, Anthropic blocks)."""
    if message.get("role") == "tool":
        error = message.get("error")
        failed = _content_text(error.get("message")) if isinstance(error, Mapping) else None
        answer.results[str(message.get("tool_call_id"))] = failed or (str(error) if error else None)
        return
    content = message.get("content")
    if not isinstance(content, Sequence) or isinstance(content, str):
        return
    for block in content:
        if isinstance(block, Mapping) and block.get("type") == "tool_result":
            failed = _content_text(block.get("content")) if block.get("is_error") else None
            answer.results[str(block.get("tool_use_id"))] = failed or (
                "error" if block.get("is_error") else None
            )


def read_chat(messages: Sequence[Any], where: str = "messages") -> ChatAnswer:
    """The agent's answer in a chat transcript; ValueError names the bad message and field."""
    if isinstance(messages, str) or not isinstance(messages, Sequence):
        raise ValueError(f"{where}: expected a list of messages")
    answer = ChatAnswer()
    for index, raw in enumerate(messages):
        at = f"{where}[{index}]"
        message = _mapping(raw, at)
        role = message.get("role")
        if not isinstance(role, str):
            raise ValueError(f"{at}.role: expected a string such as 'assistant'")
        if role in ("assistant", "model"):
            _assistant(answer, message, at)
        else:
            _results(answer, message)
    return answer


def chat_evidence(messages: Sequence[Any]) -> Evidence:
    """Evidence of a chat transcript from a harness we do not know.

    With structured tool calls, the calls are the actions; an action also written as text
    may or may not have been carried out, so it is not understood. Without calls, the
    assistant's text is read like any single-turn answer.
    """
    answer = read_chat(messages)
    text = "\n\n".join(part for part in answer.text if part)
    reasoning = "\n\n".join(part for part in answer.reasoning if part)
    if answer.calls:
        evidence = parse_tool_calls(
            answer.tool_calls(), text=text, reasoning=reasoning, text_may_act=True
        )
    else:
        evidence = parse_single_turn(text, reasoning)
    if not answer.unread:
        return evidence
    return evidence.model_copy(
        update={"not_understood": evidence.not_understood + tuple(answer.unread)}
    )
