"""A scripted judge for tests and demos: a mock Inspect model answering from a function."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from inspect_ai.model import ChatMessage, GenerateConfig, Model, ModelOutput
    from inspect_ai.tool import ToolChoice, ToolInfo

# A reply: answers per label ({verdict, quote, rationale}), raw text, or a full ModelOutput.
JudgeReply: TypeAlias = "Mapping[str, Mapping[str, str]] | str | ModelOutput"
JudgeScript: TypeAlias = "Callable[[str, tuple[str, ...]], JudgeReply]"


def _with_usage(output: ModelOutput) -> ModelOutput:
    from inspect_ai.model import ModelUsage

    # Explicit usage: mockllm would otherwise count tokens with tiktoken, which needs a download.
    if output.usage is None:
        words = len(output.completion.split())
        output.usage = ModelUsage(input_tokens=1000, output_tokens=words, total_tokens=1000 + words)
    return output


def scripted_judge(script: JudgeScript, name: str = "judge") -> Model:
    """A `mockllm/<name>` judge whose answer is `script(prompt, labels asked)`.

    The script may raise to simulate a failed call. Token usage is always set.
    """
    from inspect_ai.model import ModelOutput, get_model

    def generate(
        messages: list[ChatMessage],
        tools: list[ToolInfo],
        choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        schema = config.response_schema
        properties: Mapping[str, Any] = (schema.json_schema.properties or {}) if schema else {}
        reply = script("\n\n".join(m.text for m in messages), tuple(properties))
        if isinstance(reply, ModelOutput):
            return _with_usage(reply)
        text = reply if isinstance(reply, str) else json.dumps(reply)
        return _with_usage(ModelOutput.from_content(model=f"mockllm/{name}", content=text))

    return get_model(f"mockllm/{name}", custom_outputs=generate, memoize=False)
