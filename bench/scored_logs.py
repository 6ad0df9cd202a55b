"""What the scored copies of the logs cost: their writing time beside evidence-only scoring.

Runs N single-turn samples against the local fake server (no latency), classifies them with
evidence only (no judge, so the scoring itself is as cheap as it gets), then writes the scored
copies again from scratch and times that alone.

    python bench/scored_logs.py [--samples 2000]

Prints the times and sizes; the last line is the ratio copy time / evidence-only scoring time.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from insider.experiment import ExperimentConfig
from insider.pipeline import classify_run, our_world_profile, write_scored_logs
from insider.run import prepare_run_dir, run_experiment
from insider.testing import FakeModelServer

ANSWER = "<email>\nto: someone@example.com\nsubject: noted\nbody:\nThanks, noted.\n</email>"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    conditions = 4  # blackmail/leaking x replacement/none below
    per_condition = max(1, args.samples // conditions)
    with tempfile.TemporaryDirectory() as tmp, FakeModelServer(default_answer=ANSWER) as server:
        raw: dict[str, Any] = {
            "id": "scored_bench",
            "samples": per_condition,
            "models": [
                {
                    "model": "openai-api/fake/test-model",
                    "base_url": server.base_url,
                    "max_connections": 50,
                    "args": {"api_key": "x"},
                }
            ],
            "conditions": {
                "scenario": ["blackmail", "leaking"],
                "goal_type": ["none"],
                "urgency": ["replacement", "none"],
            },
        }
        config = ExperimentConfig.model_validate(raw)
        run_dir = prepare_run_dir(Path(tmp) / "run", config, raw)
        assert run_experiment(config, run_dir, display="none").success
        started = time.perf_counter()
        scoring = classify_run(run_dir, [], "majority", our_world_profile(), show_progress=False)
        with_copies = time.perf_counter() - started
        shutil.rmtree(run_dir.scored)
        started = time.perf_counter()
        copies = write_scored_logs(run_dir)
        copy_time = time.perf_counter() - started
        started = time.perf_counter()
        write_scored_logs(run_dir)
        current = time.perf_counter() - started
        log_bytes = sum(p.stat().st_size for p in run_dir.logs.glob("*.eval"))
        copy_bytes = sum(p.stat().st_size for p in run_dir.scored.glob("*.eval"))
    scoring_time = with_copies - copy_time
    print(f"samples: {scoring.samples}")
    print(f"evidence-only scoring: {scoring_time:.2f} s")
    print(f"scored copies written: {copy_time:.2f} s ({copies.samples} samples)")
    print(f"copies already current: {current:.3f} s")
    print(f"log: {log_bytes / 1e6:.1f} MB, scored copy: {copy_bytes / 1e6:.1f} MB")
    print(f"copy time / evidence-only scoring time: {copy_time / scoring_time:.2f}")


if __name__ == "__main__":
    main()
