"""``agent/<name>``: the Inspect model name an external agent's samples are logged under.

An agent that insider launches (or that connects to ``insider mcp-server``) calls its own
model, which insider does not see. Its samples still need a model name in the log, which
tables and reports group by; this stand-in provides it and refuses to generate.
"""

from __future__ import annotations

from typing import Any

from inspect_ai.model import (
    ChatMessage,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    modelapi,
)
from inspect_ai.tool import ToolChoice, ToolInfo

PROVIDER = "agent"


class ExternalAgentAPI(ModelAPI):
    """A model name only: an external agent's own model calls never pass through Inspect."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),  # noqa: B008 (Inspect's provider signature)
        **model_args: Any,
    ) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        raise RuntimeError(
            f"{PROVIDER}/{self.model_name} names an external agent; it has no model to call "
            "(use agent: {python: ...} with a real model for agents whose calls go through Inspect)"
        )


@modelapi(name=PROVIDER)
def external_agent() -> type[ModelAPI]:
    """`agent/<label>`: the name of an external agent's samples (it never generates)."""
    return ExternalAgentAPI
