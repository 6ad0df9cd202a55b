"""The OpenAI chat completions wire format: request parsing and response bodies (pure)."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from insider.testing._config import Answer, ChatRequest, ChatTurn, ToolCallAnswer
from insider.testing._http import HttpError

SAMPLE_MARKER = re.compile(r"\[sample:([^\[\]\s]{1,200})\]")
"""Tests put `[sample:ID]` in a prompt so the server can count calls per sample."""


def error_body(message: str, error_type: str, code: str | None = None) -> bytes:
    """An OpenAI-shaped error body."""
    error = {"message": message, "type": error_type, "param": None, "code": code}
    return json.dumps({"error": error}).encode()


def decode_json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 400."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise HttpError(400, f"request body is not valid JSON: {err}") from err
    if not isinstance(payload, dict):
        raise HttpError(400, "request body must be a JSON object")
    return payload


def content_text(content: object) -> str:
    """The text of a message's `content`: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
        return "\n".join(texts)
    return ""


def chat_turns(payload: Mapping[str, Any]) -> tuple[ChatTurn, ...]:
    """The request's messages as (role, text) turns, or a 400 when they are missing."""
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise HttpError(400, "'messages' must be a non-empty list")
    turns = []
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise HttpError(400, "each message must be an object with a string 'role'")
        turns.append(ChatTurn(role=message["role"], text=content_text(message.get("content"))))
    return tuple(turns)


def tool_names(payload: Mapping[str, Any]) -> tuple[str, ...]:
    """Names of the function tools the request offers."""
    tools = payload.get("tools")
    if not isinstance(tools, list):
        return ()
    names = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.append(function["name"])
    return tuple(names)


def sample_id_of(turns: Sequence[ChatTurn]) -> str:
    """The `[sample:ID]` marker in any message, else a hash of the first user message."""
    for turn in turns:
        found = SAMPLE_MARKER.search(turn.text)
        if found:
            return found.group(1)
    first_user = next((turn.text for turn in turns if turn.role == "user"), "")
    return "prompt-" + hashlib.sha256(first_user.encode()).hexdigest()[:16]


def word_count(text: str) -> int:
    """Our token count: whitespace-separated words (no tokenizer needed)."""
    return len(text.split())


def assistant_message(answer: Answer, call_id_prefix: str) -> dict[str, Any]:
    """The `message` of a choice: text, or tool calls with optional text."""
    if isinstance(answer, str):
        return {"role": "assistant", "content": answer}
    calls = [
        {
            "id": f"{call_id_prefix}_{index}",
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(dict(call.arguments))},
        }
        for index, call in enumerate(answer.calls)
    ]
    return {"role": "assistant", "content": answer.text or None, "tool_calls": calls}


def completion_body(request: ChatRequest, answer: Answer, cached_tokens: int = 0) -> dict[str, Any]:
    """A complete, valid `chat.completion` object answering `request`.

    `cached_tokens` of the prompt are reported as read from the provider's prompt cache.
    """
    completion_id = f"chatcmpl-{request.sample_id}-{request.call_index}"
    message = assistant_message(answer, call_id_prefix=f"call_{request.call_index}")
    answer_text = answer if isinstance(answer, str) else answer.text
    tool_text = "" if isinstance(answer, str) else tool_arguments_text(answer)
    prompt_tokens = sum(word_count(turn.text) for turn in request.turns)
    completion_tokens = word_count(answer_text) + word_count(tool_text)
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "stop" if isinstance(answer, str) else "tool_calls",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": min(cached_tokens, prompt_tokens)},
        },
    }


def tool_arguments_text(answer: ToolCallAnswer) -> str:
    """The tool calls' names and arguments as text, for counting completion tokens."""
    return " ".join(f"{call.name} {json.dumps(dict(call.arguments))}" for call in answer.calls)


def models_body(models: Sequence[str]) -> dict[str, Any]:
    """The `GET /v1/models` listing."""
    data = [{"id": name, "object": "model", "created": 0, "owned_by": "insider"} for name in models]
    return {"object": "list", "data": data}


class PromptPrefixes:
    """A simulated prompt cache: the message-boundary prefixes the server has seen.

    Like OpenAI's automatic caching, a prompt whose first messages were sent before reads
    them from the cache: the longest seen prefix counts, rounded down to `granularity`
    tokens, and only from `min_tokens` on. Tokens are words (`word_count`).
    """

    def __init__(self, min_tokens: int = 1024, granularity: int = 128) -> None:
        self.min_tokens, self.granularity = min_tokens, granularity
        self._seen: set[str] = set()

    def cached_tokens(self, turns: Sequence[ChatTurn]) -> int:
        """The prompt tokens this request reads from the cache; its prefixes are cached next."""
        digest = hashlib.sha256()
        prefixes: list[tuple[str, int]] = []
        tokens = 0
        for turn in turns:
            digest.update(f"{turn.role}\0{turn.text}\0".encode())
            tokens += word_count(turn.text)
            prefixes.append((digest.hexdigest(), tokens))
        hit = max((count for key, count in prefixes if key in self._seen), default=0)
        self._seen.update(key for key, _ in prefixes)
        if hit < self.min_tokens:
            return 0
        return hit // self.granularity * self.granularity
