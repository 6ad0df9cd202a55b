"""End to end: the real runner (Inspect eval_set) against scripted model outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from inspect_ai.log import list_eval_logs, read_eval_log

from insider.errors import ConfigError
from insider.experiment import ExperimentConfig
from insider.run import iter_agent_samples, prepare_run_dir, run_experiment

from .scripted import by_scenario, mock_model


def experiment(tmp_path: Path, **overrides: Any) -> tuple[ExperimentConfig, dict[str, Any]]:
    raw: dict[str, Any] = {
        "id": "scripted",
        "samples": 2,
        "models": [mock_model(by_scenario({}), max_connections=4)],
        "conditions": {
            "scenario": ["blackmail", "lethal"],
            "goal_type": ["explicit", "none"],
            "goal_value": ["safety"],
            "urgency": ["replacement"],
        },
    }
    raw.update(overrides)
    return ExperimentConfig.model_validate(raw), raw


def test_run_writes_inspect_logs_with_stable_ids_and_metadata(tmp_path: Path) -> None:
    config, _raw = experiment(tmp_path)
    run_dir = prepare_run_dir(tmp_path / "run", config, {"id": "scripted"})
    summary = run_experiment(config, run_dir, display="none")
    assert summary.success
    logs = list_eval_logs(str(run_dir.logs))
    assert len(logs) == 1
    log = read_eval_log(logs[0])
    assert log.status == "success"
    assert log.samples is not None and len(log.samples) == 8
    ids = sorted(str(s.id) for s in log.samples)
    assert ids[0] == "blackmail_explicit-safety_replacement:000"
    sample = next(s for s in log.samples if s.id == "lethal_none_replacement:001")
    assert sample.metadata["scenario"] == "lethal"
    assert sample.metadata["goal_type"] == "none"
    assert sample.metadata["sample_index"] == 1
    assert sample.metadata["content_hash"]
    agent_samples = list(iter_agent_samples(run_dir.logs))
    assert len(agent_samples) == 8
    assert all(s.answer == "I have read the mail. No action." for s in agent_samples)
    assert all(s.input_tokens == 100 for s in agent_samples)
    assert "Wren" in agent_samples[0].system or agent_samples[0].system


def test_rerun_of_a_finished_run_repeats_nothing(tmp_path: Path) -> None:
    calls: list[int] = []
    responder = by_scenario({})

    def counting(*args: Any) -> Any:
        calls.append(1)
        return responder(*args)

    config, raw = experiment(tmp_path, models=[mock_model(counting, max_connections=2)])
    run_dir = prepare_run_dir(tmp_path / "run", config, raw)
    run_experiment(config, run_dir, display="none")
    assert len(calls) == 8
    run_dir = prepare_run_dir(tmp_path / "run", config, raw)
    run_experiment(config, run_dir, display="none")
    assert len(calls) == 8


def test_run_dir_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    config, raw = experiment(tmp_path)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not an insider run directory"):
        prepare_run_dir(foreign, config, raw)
    assert (foreign / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_changed_experiment_cannot_resume_into_the_same_dir(tmp_path: Path) -> None:
    config, raw = experiment(tmp_path)
    run_experiment(config, prepare_run_dir(tmp_path / "run", config, raw), display="none")
    changed, raw2 = experiment(tmp_path, samples=3)
    with pytest.raises(ConfigError, match="changed since this run started"):
        prepare_run_dir(tmp_path / "run", changed, raw2)


def test_a_run_with_no_answer_restarts_with_corrected_models(tmp_path: Path) -> None:
    """Every sample failed (a wrong model name on a live server): fix the file, rerun."""
    wrong = {"model": "mockllm/model", "args": {"custom_outputs": _always_fails}}
    broken, raw_broken = experiment(tmp_path, models=[wrong])
    run_dir = prepare_run_dir(tmp_path / "run", broken, raw_broken)
    summary = run_experiment(broken, run_dir, display="none")
    assert summary.samples_failed == 8 and [g.cause for g in summary.errors] == ["RuntimeError"]
    right = {"model": "mockllm/other", "args": {"custom_outputs": by_scenario({})}}
    fixed, raw_fixed = experiment(tmp_path, models=[right])
    run_dir = prepare_run_dir(tmp_path / "run", fixed, raw_fixed)
    assert list((tmp_path / "run" / "superseded").glob("logs-*/*.eval"))  # kept, set aside
    again = run_experiment(fixed, run_dir, display="none")
    assert again.success and again.samples_failed == 0
    assert {s.model for s in iter_agent_samples(run_dir.logs)} == {"mockllm/other"}


def _always_fails(*args: Any) -> Any:
    raise RuntimeError("no such model on this server")


def test_secrets_are_not_written_with_the_experiment(tmp_path: Path) -> None:
    config, raw = experiment(tmp_path)
    raw["models"] = [{"model": "openai/gpt-4.1", "args": {"api_key": "sk-test-SECRET-123"}}]
    run_dir = prepare_run_dir(tmp_path / "run", config, raw)
    text = run_dir.experiment_file.read_text()
    assert "sk-test-SECRET-123" not in text
    assert yaml.safe_load(text)["models"][0]["args"]["api_key"] == "<redacted>"


def test_scrub_keeps_generation_settings_and_removes_credentials() -> None:
    from insider.run import scrub_secrets

    scrubbed = scrub_secrets(
        {
            "max_tokens": 5,
            "reasoning_tokens": 3,
            "api_key": "a",
            "auth_token": "b",
            "nested": [{"client_secret": "c"}],
        }
    )
    assert scrubbed == {
        "max_tokens": 5,
        "reasoning_tokens": 3,
        "api_key": "<redacted>",
        "auth_token": "<redacted>",
        "nested": [{"client_secret": "<redacted>"}],
    }
