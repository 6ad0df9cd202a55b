"""Inspect tasks built from rendered conditions: one task per model, all conditions inside.

All conditions of an experiment live in one task per model, so they share that model's
connection limit and run concurrently (a task per condition would make Inspect serialise
a sweep, since it runs few tasks at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import (
    BatchConfig,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    get_model,
)
from inspect_ai.solver import Generate, Solver, TaskState, solver

from insider.experiment import BatchSpec, ExperimentConfig, ModelSpec
from insider.redact import loggable_args, redact_command_line, redact_url
from insider.scenarios import RenderedPrompt, derived_seed, sample_id

TASK_PREFIX = "insider"


def build_samples(
    prompts: Sequence[RenderedPrompt], samples_per_condition: int, experiment_id: str
) -> list[Sample]:
    """One Inspect sample per condition x sample index, with stable ids and full metadata."""
    samples = []
    for prompt in prompts:
        metadata = prompt.metadata()
        for index in range(samples_per_condition):
            samples.append(
                Sample(
                    id=sample_id(prompt.condition, index),
                    input=[
                        ChatMessageSystem(content=prompt.system),
                        ChatMessageUser(content=prompt.user),
                    ],
                    metadata={**metadata, "sample_index": index, "experiment_id": experiment_id},
                )
            )
    return samples


def generate_config(spec: ModelSpec) -> GenerateConfig:
    """The per-model generation settings of the experiment file.

    A batched model has no connection limit of its own: Inspect then keeps up to 10,000 calls
    waiting on its batches.
    """
    return GenerateConfig(
        max_connections=None if spec.batch else spec.max_connections,
        batch=batch_config(spec.batch),
        cache_prompt=spec.cache_prompt,
        temperature=spec.temperature,
        max_tokens=spec.max_tokens,
        reasoning_effort=spec.reasoning_effort,
        reasoning_tokens=spec.reasoning_tokens,
        **call_timeouts(spec.timeout, batched=spec.batch is not None),
        max_retries=spec.max_retries,
    )


def batch_config(batch: BatchSpec | None) -> BatchConfig | None:
    """Inspect's batcher settings for a model's (or judge's) ``batch:``."""
    return None if batch is None else BatchConfig(**batch.model_dump())


class CallTimeouts(TypedDict):
    """The ``GenerateConfig`` fields that bound one model call."""

    timeout: int | None
    attempt_timeout: int | None


def call_timeouts(timeout: int | None, batched: bool = False) -> CallTimeouts:
    """Inspect's settings that make ``timeout`` seconds bound each model call, hung ones too.

    Inspect's ``timeout`` only stops retrying once an attempt has ended, and an attempt waits
    as long as the provider's client does (ten minutes for OpenAI's): a server that accepts
    the call and never answers held it that long, and the retry then waited again.
    ``attempt_timeout`` cuts each attempt at ``timeout``, which raises a timeout error that
    Inspect retries only while the ``timeout`` since the first attempt has not run out. A
    batched call's attempt waits for its whole batch (hours): only the retries are bounded.
    """
    return CallTimeouts(timeout=timeout, attempt_timeout=None if batched else timeout)


@solver
def single_turn(seed: int | None = None) -> Solver:
    """One model call on the rendered prompt; per-sample seeds when the model has a seed."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        if seed is None:
            return await generate(state)
        return await generate(state, seed=derived_seed(seed, str(state.sample_id)))

    return solve


def task_name(experiment_id: str, model_index: int) -> str:
    return f"{TASK_PREFIX}_{experiment_id}_m{model_index}"


def mode_solver(config: ExperimentConfig, spec: ModelSpec) -> Solver:
    """The solver of the experiment's mode: one generate call, or the multi-turn mail agent.

    A model entry with ``agent:`` runs that agent on the mailbox instead (``insider.agents``).
    """
    if spec.agent is not None:
        from insider.agents import agent_solver  # imports insider.environment: keep it lazy

        return agent_solver(
            spec.agent,
            max_turns=config.agentic.max_turns,
            minutes_per_turn=config.agentic.minutes_per_turn,
        )
    if config.mode == "agentic":
        from insider.environment import agentic_solver  # imports insider.run: keep it lazy

        return agentic_solver(
            max_turns=config.agentic.max_turns,
            minutes_per_turn=config.agentic.minutes_per_turn,
            seed=spec.seed,
        )
    return single_turn(seed=spec.seed)


def build_task(
    config: ExperimentConfig, model_index: int, samples: list[Sample], solver: Solver | None = None
) -> Task:
    """The task that runs every sample of the experiment on one model."""
    spec = config.models[model_index]
    model_args: dict[str, Any] = dict(spec.args)
    model = get_model(
        spec.model,
        config=generate_config(spec),
        base_url=spec.base_url,
        memoize=False,
        **model_args,
    )
    # What Inspect's eval loop writes to the log header, journal and eval-set manifest: the
    # client above is already built with the real values, these copies are only recorded.
    model.model_args = loggable_args(model_args)
    if model.explicit_base_url:
        model._explicit_base_url = redact_url(model.explicit_base_url)
    return Task(
        dataset=MemoryDataset(samples, name=config.id),
        solver=solver or mode_solver(config, spec),
        model=model,
        name=task_name(config.id, model_index),
        metadata={
            "experiment_id": config.id,
            "model_label": spec.display_name,
            "mode": config.mode,
            **(
                {
                    "agent": redact_command_line(spec.agent.describe()),
                    "agent_model": spec.sample_model,
                }
                if spec.agent
                else {}
            ),
        },
        fail_on_error=False,
    )
