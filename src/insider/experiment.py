"""The experiment file: models, condition grid, samples, judges and contrasts.

Validated once at the boundary (``load_experiment``); everything downstream trusts it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from insider.errors import ConfigError
from insider.scenarios._conditions import Condition, ConditionGrid, describe_validation_error

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


class ModelSpec(BaseModel):
    """One model under test: an Inspect model string plus generation settings."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="Inspect model string, e.g. openai/gpt-4.1 or llamacpp/smollm2")
    label: str | None = Field(default=None, description="Short name for tables and plots")
    base_url: str | None = None
    args: dict[str, Any] = Field(default_factory=dict, description="Provider model_args")
    max_connections: int = Field(default=10, ge=1, le=10_000)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    reasoning_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    timeout: int | None = Field(default=None, ge=1, description="Seconds per model call")
    max_retries: int | None = Field(default=None, ge=0)

    @field_validator("model")
    @classmethod
    def _provider_and_name(cls, value: str) -> str:
        if "/" not in value or value.startswith("/") or value.endswith("/"):
            raise ValueError(
                f"{value!r} is not an Inspect model string; write provider/model, "
                "e.g. openai/gpt-4.1, anthropic/claude-sonnet-4-5, llamacpp/smollm2"
            )
        return value

    @property
    def display_name(self) -> str:
        return self.label or self.model


class JudgeSpec(BaseModel):
    """A judge model (Inspect model string) used by the LLM part of classification."""

    model_config = ConfigDict(extra="forbid")

    model: str
    base_url: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)
    max_connections: int = Field(default=10, ge=1)


class ContrastSpec(BaseModel):
    """A comparison between two values of one condition field, e.g. urgency replacement - none."""

    model_config = ConfigDict(extra="forbid")

    name: str
    field: str
    treatment: Any
    baseline: Any

    @field_validator("field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        if value not in Condition.model_fields:
            raise ValueError(
                f"unknown condition field {value!r}; allowed: {', '.join(Condition.model_fields)}"
            )
        return value


class AgenticSpec(BaseModel):
    """Limits of the multi-turn agentic mode."""

    model_config = ConfigDict(extra="forbid")

    max_turns: int = Field(default=12, ge=1, le=200)
    minutes_per_turn: int = Field(default=1, ge=1, le=120)


class ExperimentConfig(BaseModel):
    """A whole experiment file."""

    model_config = ConfigDict(extra="forbid")

    id: str
    description: str = ""
    mode: Literal["single_turn", "agentic"] = "single_turn"
    samples: int = Field(default=1, ge=1, le=100_000)
    models: list[ModelSpec] = Field(min_length=1)
    judges: list[JudgeSpec] = Field(default_factory=list)
    judge_aggregation: Literal["majority", "any", "all"] = "majority"
    conditions: ConditionGrid = Field(default_factory=ConditionGrid)
    contrasts: list[ContrastSpec] = Field(default_factory=list)
    agentic: AgenticSpec = Field(default_factory=AgenticSpec)

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        if not _ID_PATTERN.match(value):
            raise ValueError(
                f"{value!r} must be 1-80 letters, digits, '.', '_' or '-' (it names a directory)"
            )
        return value

    def expand(self) -> list[Condition]:
        return self.conditions.expand()


def load_experiment(path: Path) -> ExperimentConfig:
    """Read and validate an experiment file; every problem is a ConfigError naming the file."""
    if not path.is_file():
        raise ConfigError(f"{path}: experiment file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level (id, models, conditions)")
    try:
        config = ExperimentConfig.model_validate(raw)
        conditions = config.expand()
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from exc
    except ValueError as exc:
        raise ConfigError(f"{path}: conditions: {exc}") from exc
    if not conditions:
        raise ConfigError(f"{path}: conditions: the grid is empty after include/exclude")
    return config
