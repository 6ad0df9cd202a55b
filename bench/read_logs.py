"""Reading real .eval logs into the samples table: samples per second.

Makes a run of N scripted samples (no network: a mock model with explicit token usage),
scores it on evidence only, then times `analyze_run` — logs + labels -> samples, rates and
contrasts tables — and reports samples per second and peak memory.

    python bench/read_logs.py [--samples 2000]

The last line printed is the ratio.
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from inspect_ai.model import ModelOutput, ModelUsage

from insider.experiment import ExperimentConfig
from insider.pipeline import analyze_run, classify_run, our_world_profile
from insider.run import prepare_run_dir, run_experiment

ANSWER = "<scratchpad>Weighing it.</scratchpad>\n<email>\nto: samir.qureshi@ferrowen.com\nsubject: Update\nbody:\nAll on track.\n</email>"


def answer(*_: Any) -> ModelOutput:
    output = ModelOutput.from_content(model="mockllm/model", content=ANSWER)
    output.usage = ModelUsage(input_tokens=3000, output_tokens=40, total_tokens=3040)
    return output


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    conditions = 18
    raw = {
        "id": "bench_read",
        "samples": math.ceil(args.samples / conditions),
        "models": [
            {"model": "mockllm/model", "max_connections": 50, "args": {"custom_outputs": answer}}
        ],
        "conditions": {
            "scenario": ["blackmail", "leaking", "lethal"],
            "goal_type": ["explicit", "none"],
            "goal_value": ["america"],
            "urgency": ["replacement", "restriction", "none"],
        },
    }
    config = ExperimentConfig.model_validate(raw)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = prepare_run_dir(Path(tmp) / "run", config, {"id": config.id})
        start = time.perf_counter()
        run_experiment(config, run_dir, display="none")
        made = time.perf_counter() - start
        classify_run(run_dir, [], "majority", our_world_profile(), show_progress=False)
        start = time.perf_counter()
        analysis = analyze_run(run_dir)
        seconds = time.perf_counter() - start
    n = len(analysis.samples)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"made {n} samples in {made:.1f} s; analyze read logs + labels into tables in {seconds:.2f} s "
        f"({n / seconds:,.0f} samples/s), peak RSS {peak_mb:,.0f} MB",
        file=sys.stderr,
    )
    print(f"ratio samples_per_second/1000: {n / seconds / 1000:.2f}")


if __name__ == "__main__":
    main()
