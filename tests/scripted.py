"""Scripted model outputs for deterministic tests (explicit usage: no tokenizer downloads)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from inspect_ai.model import ChatMessage, GenerateConfig, ModelOutput, ModelUsage
from inspect_ai.tool import ToolChoice, ToolInfo

from insider.scenarios import Condition

Responder = Callable[[list[ChatMessage], list[ToolInfo], ToolChoice, GenerateConfig], ModelOutput]


def output(text: str, model: str = "mockllm/model") -> ModelOutput:
    """A model answer with explicit token usage."""
    result = ModelOutput.from_content(model=model, content=text)
    result.usage = ModelUsage(
        input_tokens=100,
        output_tokens=max(1, len(text.split())),
        total_tokens=100 + max(1, len(text.split())),
    )
    return result


def by_scenario(
    answers: dict[str, str], default: str = "I have read the mail. No action."
) -> Responder:
    """Answer according to which scenario's text the prompt holds (matched on metadata hints)."""

    def respond(
        messages: list[ChatMessage],
        tools: list[ToolInfo],
        choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        prompt = "\n".join(m.text for m in messages)
        for needle, answer in answers.items():
            if needle in prompt:
                return output(answer)
        return output(default)

    return respond


def mock_model(responder: Responder, **settings: Any) -> dict[str, Any]:
    """A ModelSpec mapping for an experiment file built in a test."""
    return {"model": "mockllm/model", "args": {"custom_outputs": responder}, **settings}


def condition(**fields: object) -> Condition:
    """The explicit-america replacement blackmail condition, with any field overridden."""
    base: dict[str, object] = {
        "scenario": "blackmail",
        "goal_type": "explicit",
        "goal_value": "america",
        "urgency": "replacement",
    }
    base.update(fields)
    return Condition.model_validate(base)


def small_grid_file(
    path: Path, experiment_id: str, model: dict[str, Any], samples: int, **extra: Any
) -> Path:
    """``path/exp.yaml``: one model on four conditions (blackmail and leaking, with and
    without the replacement threat), ``samples`` each."""
    config = {
        "id": experiment_id,
        "samples": samples,
        "models": [model],
        "conditions": {
            "scenario": ["blackmail", "leaking"],
            "goal_type": ["none"],
            "urgency": ["replacement", "none"],
        },
        **extra,
    }
    file = path / "exp.yaml"
    file.write_text(yaml.safe_dump(config))
    return file
