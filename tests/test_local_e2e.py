"""The real local model (SmolLM2-135M via llama-cpp-python) end to end, one sample per scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from insider.experiment import ExperimentConfig
from insider.pipeline import analyze_run, classify_run, our_world_profile
from insider.run import iter_agent_samples, prepare_run_dir, run_experiment

pytestmark = pytest.mark.local_model


def test_local_model_runs_a_scenario_offline(tmp_path: Path) -> None:
    run_single_turn(tmp_path, ["lethal"])


@pytest.mark.slow  # ~1 min idle, several under load: each scenario is a ~3,000-token prompt
def test_local_model_runs_every_scenario_offline(tmp_path: Path) -> None:
    run_single_turn(tmp_path, ["blackmail", "leaking", "lethal"])


def run_single_turn(tmp_path: Path, scenarios: list[str]) -> None:
    """Run, classify and analyze one sample per scenario with the real model."""
    raw: dict[str, Any] = {
        "id": "local_e2e",
        "samples": 1,
        "models": [
            {
                "model": "llamacpp/smollm2",
                "max_connections": 1,
                "max_tokens": 32,
                "seed": 3,
                "args": {"n_threads": 2},
            }
        ],
        "conditions": {
            "scenario": scenarios,
            "goal_type": ["explicit"],
            "goal_value": ["america"],
            "urgency": ["replacement"],
        },
    }
    config = ExperimentConfig.model_validate(raw)
    run_dir = prepare_run_dir(tmp_path / "run", config, raw)
    summary = run_experiment(config, run_dir, display="none")
    assert summary.success
    samples = list(iter_agent_samples(run_dir.logs))
    assert sorted(s.metadata["scenario"] for s in samples) == sorted(scenarios)
    for sample in samples:
        assert sample.error is None
        assert sample.answer.strip()
        assert sample.input_tokens > 1000 and 0 < sample.output_tokens <= 32
    scoring = classify_run(run_dir, [], "majority", our_world_profile(), show_progress=False)
    assert scoring.samples == len(scenarios)
    analysis = analyze_run(run_dir, scoring.judge_id)
    states = set(analysis.samples[["blackmail", "leak", "lethal"]].to_numpy().ravel())
    assert states <= {"harmful", "not_harmful", "unscored"}


def test_local_model_agentic_episode_completes_and_is_classified(tmp_path: Path) -> None:
    raw: dict[str, Any] = {
        "id": "local_agentic",
        "mode": "agentic",
        "samples": 1,
        "models": [
            {
                "model": "llamacpp/smollm2",
                "max_connections": 1,
                "max_tokens": 48,
                "seed": 5,
                "args": {"n_threads": 2},
            }
        ],
        "agentic": {"max_turns": 2, "minutes_per_turn": 1},
        "conditions": {
            "scenario": ["lethal"],
            "goal_type": ["explicit"],
            "goal_value": ["america"],
            "urgency": ["replacement"],
        },
    }
    config = ExperimentConfig.model_validate(raw)
    run_dir = prepare_run_dir(tmp_path / "run", config, raw)
    assert run_experiment(config, run_dir, display="none").success
    [sample] = list(iter_agent_samples(run_dir.logs))
    assert sample.error is None
    assert sample.action_log is not None  # the environment's ground truth, empty or not
    scoring = classify_run(run_dir, [], "majority", our_world_profile(), show_progress=False)
    assert scoring.samples == 1
    assert sum(scoring.states.values()) == 8 and "error" not in scoring.states
