"""Subprocess body for the interrupt/resume test: a slow scripted model that logs every call.

Run as: python -m tests._slow_worker RUN_DIR CALLS_FILE SAMPLES DELAY
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from inspect_ai.log._samples import sample_active
from inspect_ai.model import ChatMessage, GenerateConfig, ModelAPI, ModelOutput, modelapi
from inspect_ai.tool import ToolChoice, ToolInfo

from insider.experiment import ExperimentConfig
from insider.run import current_sample_id, prepare_run_dir, run_experiment

from .scripted import output

CALLS = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("calls.txt")
DELAY = float(sys.argv[4]) if len(sys.argv) > 4 else 0.3


def _eval_loop_sample_id() -> str:
    """The sample id when the call comes through Inspect's eval loop (agentic mode)."""
    active = sample_active()
    return str(active.sample.id) if active else "?"


class SlowScripted(ModelAPI):
    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),  # noqa: B008 - the ModelAPI signature
        **_: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config)

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        sample = current_sample_id.get() or _eval_loop_sample_id()
        with CALLS.open("a") as handle:
            handle.write(sample + "\n")
        await asyncio.sleep(DELAY)
        return output("Nothing to do.")

    def max_connections(self) -> int:
        return 2


@modelapi(name="slowscripted")
def slowscripted() -> type[ModelAPI]:
    return SlowScripted


def main() -> None:
    run_root, samples = Path(sys.argv[1]), int(sys.argv[3])
    raw = {
        "id": "interrupt",
        "samples": samples,
        "models": [{"model": "slowscripted/x", "max_connections": 2}],
        "conditions": {"scenario": ["leaking"], "goal_type": ["none"], "urgency": ["none"]},
    }
    config = ExperimentConfig.model_validate(raw)
    run_dir = prepare_run_dir(run_root, config, raw)
    summary = run_experiment(config, run_dir, display="none")
    print("success" if summary.success else "incomplete", flush=True)


if __name__ == "__main__":
    main()
