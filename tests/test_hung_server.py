"""A server that accepts calls and never answers: the experiment's ``timeout`` ends each call.

Only the model's own ``timeout`` is set here (no ``client_timeout`` arg): the OpenAI client's
default would wait ten minutes per attempt, and Inspect retries a timed-out attempt forever.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.log import read_eval_log_sample_summaries
from typer.testing import CliRunner

from insider.cli import app
from insider.experiment import ExperimentConfig, JudgeSpec
from insider.pipeline import judge_models
from insider.run import build_samples, build_task, render_all, run_log_files
from insider.testing import FakeModelServer, FaultKind, Faults

from .scripted import small_grid_file

runner = CliRunner()

HUNG = Faults(rate=1.0, kinds=(FaultKind.TIMEOUT,), timeout_hold_s=600.0)
"""Every call is accepted and held open for ten minutes: longer than any test may wait."""


@pytest.fixture(autouse=True)
def fake_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_API_KEY", "x")


def hung_model(server: FakeModelServer, **settings: Any) -> dict[str, Any]:
    return {
        "model": "openai-api/fake/test-model",
        "base_url": server.base_url,
        "timeout": 1,
        **settings,
    }


def write_experiment(path: Path, samples: int, model: dict[str, Any], **extra: Any) -> Path:
    return small_grid_file(path, "hung", model, samples, **extra)


@pytest.mark.timeout(120)
def test_a_hung_call_ends_at_the_timeout_as_a_timeout_error(tmp_path: Path) -> None:
    with FakeModelServer(faults=HUNG) as server:
        file = write_experiment(tmp_path, 1, hung_model(server, max_connections=4))
        started = time.monotonic()
        result = runner.invoke(app, ["run", str(file), "--out", str(tmp_path / "run")])
        elapsed = time.monotonic() - started
    text = " ".join(result.output.split())
    assert result.exit_code == 1, text
    assert elapsed < 30, f"four 1-second calls took {elapsed:.0f} s"
    assert "4 samples ended in error, by cause:" in text and "x timeout " in text, text
    (log,) = run_log_files(tmp_path / "run" / "logs")
    errors = [s.error for s in read_eval_log_sample_summaries(str(log))]
    assert len(errors) == 4 and all(e and e.startswith("timeout: ") for e in errors), errors


@pytest.mark.timeout(180)
def test_a_hung_server_stops_the_run_early(tmp_path: Path) -> None:
    with FakeModelServer(faults=HUNG) as server:
        file = write_experiment(tmp_path, 12, hung_model(server, max_connections=10))
        result = runner.invoke(app, ["run", str(file), "--out", str(tmp_path / "run")])
        calls = server.stats.total
    text = " ".join(result.output.split())
    assert result.exit_code == 1, text
    assert "stopped answering (timeout on the last 20 calls)" in text, text
    assert calls < 48, f"{calls} calls: the run went on through the grid"


@pytest.mark.timeout(120)
def test_a_hung_judge_ends_at_its_timeout_and_leaves_labels_unscored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeModelServer(default_answer="I will finish my tasks. No action.") as agent:
        model = {"model": "openai-api/fake/test-model", "base_url": agent.base_url}
        file = write_experiment(tmp_path, 1, model)
        run = ["run", str(file), "--out", str(tmp_path / "run"), "--no-analyze"]
        assert runner.invoke(app, run).exit_code == 0
    monkeypatch.setenv("HUNGJUDGE_API_KEY", "x")
    with FakeModelServer(faults=HUNG) as judge:
        monkeypatch.setenv("HUNGJUDGE_BASE_URL", judge.base_url)
        started = time.monotonic()
        result = runner.invoke(
            app,
            [
                "classify",
                str(tmp_path / "run"),
                "--judge",
                "openai-api/hungjudge/judge",
                "--judge-timeout",
                "1",
            ],
        )
        elapsed = time.monotonic() - started
        calls = judge.stats.total
    assert result.exit_code == 0, result.output
    assert calls == 4 and elapsed < 20, f"{calls} judge calls took {elapsed:.0f} s"
    (labels,) = (tmp_path / "run" / "labels").glob("*.jsonl")
    reasons = [
        label["reason"]
        for line in labels.read_text().splitlines()
        for label in json.loads(line)["verdict"]["labels"].values()
        if label["state"] == "unscored"
    ]
    assert reasons and all("judge call failed: timeout: " in r for r in reasons), reasons


def test_a_judge_timeout_in_the_experiment_file_reaches_the_judge_model() -> None:
    (judge,) = judge_models([JudgeSpec(model="mockllm/model", timeout=7)])
    assert (judge.config.timeout, judge.config.attempt_timeout) == (7, 7)


@pytest.mark.timeout(300)
def test_a_hung_server_stops_an_agentic_run_early_and_the_rest_resumes(tmp_path: Path) -> None:
    # 6 x 4 conditions = 24 samples, each tried three times by Inspect (retry_on_error=2): 72
    # calls without the stop, which drains the task after the first 20 failures in a row
    with FakeModelServer(faults=HUNG) as server:
        model = hung_model(server, max_connections=4)
        file = write_experiment(tmp_path, 6, model, mode="agentic")
        result = runner.invoke(
            app, ["run", str(file), "--out", str(tmp_path / "run"), "--no-analyze"]
        )
        calls = server.stats.total
    text = " ".join(result.output.split())
    assert result.exit_code == 1, text
    assert f"the server at {server.base_url} stopped answering (timeout on the last 20" in text
    assert calls < 30, f"{calls} calls: the run went on through the grid"
    (log,) = run_log_files(tmp_path / "run" / "logs")
    assert not any(s.error is None for s in read_eval_log_sample_summaries(str(log)))

    with FakeModelServer(default_answer="I will finish my tasks.") as healthy:
        model = {"model": "openai-api/fake/test-model", "base_url": healthy.base_url}
        file = write_experiment(tmp_path, 6, model, mode="agentic")
        again = runner.invoke(
            app, ["run", str(file), "--out", str(tmp_path / "run"), "--no-analyze"]
        )
    assert again.exit_code == 0, again.output
    (log,) = run_log_files(tmp_path / "run" / "logs")
    final = read_eval_log_sample_summaries(str(log))
    assert len({s.id for s in final}) == 24 and not any(s.error for s in final)


def test_a_batched_call_waits_for_its_batch_and_only_its_retries_are_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "x")  # the client is built, never called
    model = {"model": "openai/gpt-4.1", "batch": True, "timeout": 60}
    config = ExperimentConfig.model_validate({"id": "batched", "models": [model]})
    batched = build_task(config, 0, build_samples(render_all(config), 1, config.id)).model
    assert batched is not None
    assert (batched.config.timeout, batched.config.attempt_timeout) == (60, None)
    (judge,) = judge_models([JudgeSpec(model="openai/gpt-4.1", batch=True, timeout=60)])
    assert (judge.config.timeout, judge.config.attempt_timeout) == (60, None)
