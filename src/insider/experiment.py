"""The experiment file: models, condition grid, samples, judges and contrasts.

Validated once at the boundary (``load_experiment``); everything downstream trusts it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from insider.errors import ConfigError, describe_validation_error
from insider.files import read_yaml_mapping
from insider.scenarios import LABELS, ORIGINAL_WORLD, Condition, ConditionGrid

__all__ = [
    "AgentSpec",
    "AgenticSpec",
    "BatchSpec",
    "CommandAgentSpec",
    "ContrastSpec",
    "ExperimentConfig",
    "JudgeSpec",
    "ModelSpec",
    "PythonAgentSpec",
    "check_labels",
    "load_experiment",
    "load_experiment_file",
]

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
AGENT_PLACEHOLDERS = (
    "python",
    "mcp_url",
    "mcp_config",
    "system_prompt",
    "task_prompt",
    "prompt",
    "system_prompt_file",
    "task_prompt_file",
    "prompt_file",
)
"""Names a command agent's command and args may hold as ``{name}`` (docs/agents.md)."""


def _known_placeholders(text: str) -> str:
    unknown = sorted(set(_PLACEHOLDER.findall(text)) - set(AGENT_PLACEHOLDERS))
    if unknown:
        raise ValueError(
            f"unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)} in {text!r}; "
            f"allowed: {', '.join('{' + p + '}' for p in AGENT_PLACEHOLDERS)}"
        )
    return text


class CommandAgentSpec(BaseModel):
    """An external agent program, launched once per episode and handed the MCP server."""

    model_config = ConfigDict(extra="forbid")

    command: str = Field(min_length=1, description="Program to run; {python} is insider's own")
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables")
    cwd: str | None = Field(default=None, description="Working directory (default: the current)")
    stdin: Literal["prompt", "task", "none"] = "prompt"
    time_limit: int = Field(default=600, ge=1, le=86_400, description="Seconds per episode")
    description: str = ""

    @field_validator("command")
    @classmethod
    def _command_placeholders(cls, value: str) -> str:
        return _known_placeholders(value)

    @field_validator("args")
    @classmethod
    def _args_placeholders(cls, value: list[str]) -> list[str]:
        return [_known_placeholders(arg) for arg in value]

    def describe(self) -> str:
        """One line for the report's "what was run"."""
        line = " ".join([self.command, *self.args])
        return f"{self.description} ({line})" if self.description else f"command: {line}"


class PythonAgentSpec(BaseModel):
    """A Python agent (another framework) run through Inspect's agent bridge."""

    model_config = ConfigDict(extra="forbid")

    python: str = Field(description="package.module:function, an async function of an episode")
    time_limit: int = Field(default=600, ge=1, le=86_400, description="Seconds per episode")
    description: str = ""

    @field_validator("python")
    @classmethod
    def _reference(cls, value: str) -> str:
        module, _, function = value.partition(":")
        if (
            not module
            or not function.isidentifier()
            or not all(part.isidentifier() for part in module.split("."))
        ):
            raise ValueError(f"{value!r} is not package.module:function")
        return value

    def describe(self) -> str:
        """One line for the report's "what was run"."""
        line = f"python agent {self.python} (Inspect agent bridge)"
        return f"{self.description} ({line})" if self.description else line


def _agent_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return "command" if "command" in value else "python" if "python" in value else None
    return "command" if isinstance(value, CommandAgentSpec) else "python"


AgentSpec = Annotated[
    Annotated[CommandAgentSpec, Tag("command")] | Annotated[PythonAgentSpec, Tag("python")],
    Discriminator(
        _agent_kind,
        custom_error_type="agent_kind",
        custom_error_message="an agent needs 'command' (a program) or 'python' (module:function)",
    ),
]


class BatchSpec(BaseModel):
    """How a model's calls go through its provider's batch API (Inspect's batcher settings).

    ``batch: true`` takes Inspect's defaults; a mapping sets them. A batch costs about half
    of the same calls made one by one, and its answers come back within the provider's window
    (up to 24 h), not in seconds.
    """

    model_config = ConfigDict(extra="forbid")

    size: int | None = Field(default=None, ge=1, description="Requests per batch (at least)")
    max_size: int | None = Field(default=None, ge=1, description="Requests per batch (at most)")
    send_delay: float | None = Field(
        default=None, gt=0, le=86_400, description="Seconds before a partial batch is sent"
    )
    tick: float | None = Field(
        default=None, gt=0, le=3_600, description="Seconds between checks on batches in flight"
    )
    max_batches: int | None = Field(default=None, ge=1, description="Batches in flight at once")


def _batch_setting(value: Any) -> Any:
    """``batch: true`` is a BatchSpec with Inspect's defaults; ``false`` (or absent) is None."""
    if value is True:
        return BatchSpec()
    if value is False or value is None:
        return None
    return value


BATCH_PROVIDERS = ("openai", "anthropic")
"""Providers whose batches a rerun can re-attach to (``insider.run``'s resumable batches)."""


def _check_batch_provider(model: str, batch: BatchSpec | None) -> None:
    provider = model.split("/", 1)[0]
    if batch is not None and provider not in BATCH_PROVIDERS:
        raise ValueError(
            f"batch: {provider!r} models cannot batch with a safe resume; batching works for "
            f"{', '.join(p + '/...' for p in BATCH_PROVIDERS)} models (for an OpenAI-compatible "
            "server, name it openai/<model> with base_url)"
        )


class ModelSpec(BaseModel):
    """One model under test: an Inspect model string plus generation settings.

    With ``agent`` it is an agent instead: a command (``model`` is then ``agent/<label>``, a
    name only) or a Python agent whose model calls go to ``model`` through Inspect's bridge.
    """

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="Inspect model string, e.g. openai/gpt-4.1 or llamacpp/smollm2")
    agent: AgentSpec | None = Field(default=None, description="An agent to run instead")
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
    batch: BatchSpec | None = Field(
        default=None, description="true, or batcher settings: use the provider's batch API"
    )
    cache_prompt: Literal["auto"] | bool = Field(
        default="auto",
        description="Provider prompt caching: auto (the provider's default), true or false",
    )

    _batch_value = field_validator("batch", mode="before")(_batch_setting)

    @model_validator(mode="before")
    @classmethod
    def _agent_model_name(cls, data: Any) -> Any:
        """A command agent calls no Inspect model: it is named ``agent/<label>`` in the logs."""
        if not isinstance(data, dict) or not isinstance(data.get("agent"), dict):
            return data
        if "command" not in data["agent"]:
            return data
        if "model" in data:
            raise ValueError("a command agent has no model: remove 'model' (name it with 'label')")
        label = str(data.get("label") or "")
        if not _ID_PATTERN.match(label):
            raise ValueError(
                f"a command agent needs a label of 1-80 letters, digits, '.', '_' or '-' "
                f"(it names the agent in tables), got {label!r}"
            )
        return {**data, "model": f"agent/{label}"}

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

    @property
    def sample_model(self) -> str:
        """The name samples are grouped under: the model, or ``agent/<label>`` for an agent.

        A Python agent calls a real model, which a bare-model entry may also test: its samples
        must not be mixed with that model's.
        """
        return f"agent/{self.label}" if self.agent is not None else self.model

    @model_validator(mode="after")
    def _batch_needs_a_batching_provider(self) -> ModelSpec:
        if self.batch is not None and self.agent is not None:
            raise ValueError("batch: an agent's calls cannot be batched (remove batch)")
        _check_batch_provider(self.model, self.batch)
        return self

    @model_validator(mode="after")
    def _python_agent_model(self) -> ModelSpec:
        if isinstance(self.agent, PythonAgentSpec):
            if self.model.startswith("agent/"):
                raise ValueError("a Python agent needs a real Inspect model in 'model'")
            if not self.label or not _ID_PATTERN.match(self.label):
                raise ValueError(
                    "a Python agent needs a label of 1-80 letters, digits, '.', '_' or '-' "
                    f"(it names the agent in tables), got {self.label!r}"
                )
        return self


class JudgeSpec(BaseModel):
    """A judge model (Inspect model string) used by the LLM part of classification.

    ``rubric: original`` makes the model the grader of the original research's classifiers
    (from the replication extra) in a scoring of its own, beside the panel of our rubric.
    """

    model_config = ConfigDict(extra="forbid")

    model: str
    rubric: Literal["insider", "original"] = "insider"
    base_url: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)
    max_connections: int = Field(default=10, ge=1, le=10_000)
    timeout: int | None = Field(default=None, ge=1, description="Seconds per judge call")
    batch: BatchSpec | None = Field(
        default=None, description="true, or batcher settings: use the provider's batch API"
    )

    _batch_value = field_validator("batch", mode="before")(_batch_setting)

    @model_validator(mode="after")
    def _batch_needs_a_batching_provider(self) -> JudgeSpec:
        _check_batch_provider(self.model, self.batch)
        return self


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
    labels: list[str] | None = Field(
        default=None,
        description="The labels judges decide (default: all); the others are 'not requested'",
    )
    max_cost_usd: float | None = Field(
        default=None, gt=0, description="Budget: no new call once the projected spend reaches it"
    )

    @field_validator("labels")
    @classmethod
    def _known_labels(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else check_labels(value)

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        if not _ID_PATTERN.match(value):
            raise ValueError(
                f"{value!r} must be 1-80 letters, digits, '.', '_' or '-' (it names a directory)"
            )
        return value

    @model_validator(mode="after")
    def _agents_are_agentic(self) -> ExperimentConfig:
        agents = [str(spec.label) for spec in self.models if spec.agent is not None]
        if agents and self.mode != "agentic":
            raise ValueError("models: an agent works the mailbox with tools: set mode: agentic")
        repeated = sorted({label for label in agents if agents.count(label) > 1})
        if repeated:
            raise ValueError(f"models: agent labels must differ; repeated: {repeated}")
        return self

    @model_validator(mode="after")
    def _batch_is_single_turn(self) -> ExperimentConfig:
        batched = [spec.model for spec in self.models if spec.batch is not None]
        if batched and self.mode != "single_turn":
            raise ValueError(
                f"models: batch works in mode single_turn (a multi-turn episode waits on every "
                f"turn); remove batch from {', '.join(batched)}"
            )
        return self

    def expand(self) -> list[Condition]:
        return self.conditions.expand()


def check_labels(labels: list[str]) -> list[str]:
    """The labels, if each is known and given once (in the order of ``LABELS``)."""
    unknown = [label for label in labels if label not in LABELS]
    if unknown:
        raise ValueError(f"unknown label(s) {', '.join(unknown)}; allowed: {', '.join(LABELS)}")
    if not labels:
        raise ValueError(f"give at least one label; allowed: {', '.join(LABELS)}")
    if len(set(labels)) != len(labels):
        raise ValueError("each label once, please")
    return [label for label in LABELS if label in labels]


def load_experiment(path: Path) -> ExperimentConfig:
    """Read and validate an experiment file; every problem is a ConfigError naming the file."""
    return load_experiment_file(path)[0]


def load_experiment_file(path: Path) -> tuple[ExperimentConfig, dict[str, Any]]:
    """The validated experiment, and the mapping it came from (for the run's redacted copy).

    The file is read within bounds (``insider.files.read_yaml``): no alias bombs, no key
    twice in a mapping, no deep nesting, UTF-8 only.
    """
    if not path.is_file():
        raise ConfigError(f"{path}: experiment file not found")
    raw = read_yaml_mapping(path, "experiment file", fields="id, models, conditions")
    try:
        config = ExperimentConfig.model_validate(raw)
        conditions = config.expand()
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from exc
    except ValueError as exc:
        raise ConfigError(f"{path}: conditions: {exc}") from exc
    if not conditions:
        raise ConfigError(f"{path}: conditions: the grid is empty after include/exclude")
    if config.mode == "agentic" and any(c.world == ORIGINAL_WORLD for c in conditions):
        raise ConfigError(
            f"{path}: mode: 'agentic' has no counterpart in world 'original' (the original "
            "research is single-turn); use mode: single_turn or another world"
        )
    _check_contrasts(path, config.contrasts, conditions)
    return config, raw


def _spelling(field: str, value: object) -> str:
    """One spelling per value, as analysis compares them (YAML ``true`` = the grid's True)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if Condition.model_fields[field].annotation is bool:
        lowered = text.lower()
        if lowered in {"true", "1", "yes"}:
            return "true"
        if lowered in {"false", "0", "no"}:
            return "false"
    return text


def _check_contrasts(
    path: Path, contrasts: list[ContrastSpec], conditions: list[Condition]
) -> None:
    """A contrast whose treatment or baseline the grid never has would silently be empty."""
    for index, contrast in enumerate(contrasts):
        present = {_spelling(contrast.field, c.fields()[contrast.field]) for c in conditions}
        for arm in ("treatment", "baseline"):
            value = getattr(contrast, arm)
            if _spelling(contrast.field, value) not in present:
                raise ConfigError(
                    f"{path}: contrasts[{index}] ({contrast.name!r}): {arm} {value!r} never "
                    f"occurs in the grid's {contrast.field!r}; the grid has: "
                    f"{', '.join(sorted(present))}"
                )
