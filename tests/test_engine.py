"""The single-turn run engine: Inspect's model layer driven directly, real .eval logs kept."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.log import read_eval_log, read_eval_log_samples
from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ContentReasoning,
    ContentText,
    GenerateConfig,
    ModelOutput,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from insider.errors import ConfigError
from insider.experiment import ExperimentConfig
from insider.run import (
    RunDir,
    build_samples,
    current_sample_id,
    iter_agent_samples,
    prepare_run_dir,
    render_all,
    run_experiment,
    run_log_files,
    task_name,
)
from insider.run._engine_log import FlushPolicy
from insider.run._engine_progress import LineProgress, NoProgress, make_progress
from insider.scenarios import derived_seed

from .scripted import Responder, mock_model, output

ANSWER = "I have read the mail. No action."


def calls_of(log: list[str], answer: str = ANSWER) -> Responder:
    """A scripted model that notes which sample each call belongs to."""

    def respond(
        messages: list[ChatMessage], tools: list[ToolInfo], choice: ToolChoice, config: Any
    ) -> ModelOutput:
        log.append(current_sample_id.get() or "?")
        return output(answer)

    return respond


def experiment(
    tmp_path: Path, *models: dict[str, Any], samples: int = 2
) -> tuple[ExperimentConfig, RunDir]:
    raw: dict[str, Any] = {
        "id": "engine",
        "samples": samples,
        "models": list(models),
        "conditions": {
            "scenario": ["blackmail", "leaking"],
            "goal_type": ["explicit", "none"],
            "goal_value": ["safety"],
            "urgency": ["replacement"],
        },
    }
    config = ExperimentConfig.model_validate(raw)
    return config, prepare_run_dir(tmp_path / "run", config, raw)


def test_logs_hold_the_samples_build_samples_makes(tmp_path: Path) -> None:
    config, run_dir = experiment(
        tmp_path,
        mock_model(calls_of([]), label="first", max_connections=3),
        mock_model(calls_of([], "Second model."), label="second", max_connections=2),
    )
    summary = run_experiment(config, run_dir, display="none")
    assert summary.success and summary.samples_total == 16 and summary.samples_failed == 0
    expected = {str(s.id): s for s in build_samples(render_all(config), 2, config.id)}
    logs = {read_eval_log(str(p), header_only=True).eval.task: p for p in summary.log_files}
    assert sorted(logs) == [task_name("engine", 0), task_name("engine", 1)]
    for index, label in enumerate(["first", "second"]):
        log = read_eval_log(str(logs[task_name("engine", index)]))
        assert log.status == "success"
        assert log.eval.metadata == {
            "experiment_id": "engine",
            "model_label": label,
            "mode": "single_turn",
        }
        assert log.eval.dataset.sample_ids == list(expected)
        assert log.results is not None and log.results.completed_samples == 8
        assert log.stats.model_usage["mockllm/model"].input_tokens == 800
        assert log.samples is not None and len(log.samples) == 8
        for sample in log.samples:
            want = expected[str(sample.id)]
            assert sample.metadata == want.metadata
            assert [m.text for m in sample.input] == [m.text for m in want.input]  # type: ignore[union-attr]
            assert [m.role for m in sample.messages] == ["system", "user", "assistant"]
            assert sample.output.completion == (ANSWER if index == 0 else "Second model.")
            assert sample.model_usage["mockllm/model"].output_tokens > 0
            assert sample.error is None and sample.started_at and sample.total_time is not None
    agent = list(iter_agent_samples(run_dir.logs))
    assert len(agent) == 16
    assert Counter(a.sample_id for a in agent) == Counter({i: 2 for i in expected})
    assert {a.input_tokens for a in agent} == {100}
    assert all(a.system and a.user and a.answer for a in agent)


def test_inspect_reads_the_log_from_the_command_line(tmp_path: Path) -> None:
    config, run_dir = experiment(tmp_path, mock_model(calls_of([])))
    (log_file,) = run_experiment(config, run_dir, display="none").log_files
    inspect_cli = Path(sys.executable).parent / "inspect"
    dumped = subprocess.run(
        [str(inspect_cli), "log", "dump", str(log_file)],
        capture_output=True,
        text=True,
        check=True,
    )
    log = json.loads(dumped.stdout)
    assert log["status"] == "success"
    assert len(log["samples"]) == 8
    assert log["samples"][0]["output"]["completion"] == ANSWER
    streamed = list(read_eval_log_samples(str(log_file)))
    assert sorted(str(s.id) for s in streamed) == sorted(log["eval"]["dataset"]["sample_ids"])


def test_reasoning_stays_in_the_assistant_message(tmp_path: Path) -> None:
    def thinking(*_: Any) -> ModelOutput:
        result = output("I will do nothing.")
        result.choices[0].message = ChatMessageAssistant(
            content=[ContentReasoning(reasoning="Is this a test?"), ContentText(text="Nothing.")],
            model="mockllm/model",
        )
        return result

    config, run_dir = experiment(tmp_path, mock_model(thinking))
    run_experiment(config, run_dir, display="none")
    agent = list(iter_agent_samples(run_dir.logs))
    assert {(a.reasoning, a.answer) for a in agent} == {("Is this a test?", "Nothing.")}


def test_each_sample_gets_its_own_derived_seed(tmp_path: Path) -> None:
    seeds: dict[str, int | None] = {}

    def note_seed(
        messages: list[ChatMessage], tools: Any, choice: Any, config: GenerateConfig
    ) -> ModelOutput:
        seeds[current_sample_id.get() or "?"] = config.seed
        return output(ANSWER)

    config, run_dir = experiment(tmp_path, mock_model(note_seed, seed=7), samples=3)
    run_experiment(config, run_dir, display="none")
    assert len(seeds) == 12 and "?" not in seeds
    assert seeds == {sample: derived_seed(7, sample) for sample in seeds}
    assert len(set(seeds.values())) == 12


def test_failed_calls_are_recorded_then_retried_on_rerun(tmp_path: Path) -> None:
    def flaky(*_: Any) -> ModelOutput:
        if (current_sample_id.get() or "").endswith(":001"):
            raise RuntimeError("service unavailable")
        return output(ANSWER)

    config, run_dir = experiment(tmp_path, mock_model(flaky))
    summary = run_experiment(config, run_dir, display="none")
    assert summary.success and summary.samples_total == 8 and summary.samples_failed == 4
    (log_file,) = summary.log_files
    log = read_eval_log(str(log_file))
    assert log.status == "success"
    assert log.results is not None and log.results.completed_samples == 4
    failed = {str(s.id) for s in log.samples or [] if s.error is not None}
    assert len(failed) == 4 and all(i.endswith(":001") for i in failed)
    assert all(
        "service unavailable" in (s.error.message if s.error else "")
        for s in log.samples or []
        if s.error
    )
    assert {a.sample_id for a in iter_agent_samples(run_dir.logs) if a.error} == failed

    calls: list[str] = []
    config, run_dir = experiment(tmp_path, mock_model(calls_of(calls)))
    rerun = run_experiment(config, run_dir, display="none")
    assert sorted(calls) == sorted(failed)
    assert rerun.log_files == [log_file] and rerun.samples_failed == 0
    final = read_eval_log(str(log_file))
    assert final.status == "success" and final.results is not None
    assert final.results.completed_samples == 8
    assert sorted(str(s.id) for s in final.samples or []) == sorted(
        final.eval.dataset.sample_ids or []
    )
    agent = list(iter_agent_samples(run_dir.logs))
    assert len(agent) == 8 and not any(a.error for a in agent)
    assert list(run_dir.logs.glob("*.eval")) == [log_file]


@pytest.fixture
def sigint_handled() -> Iterator[None]:
    """SIGINT as in a terminal's foreground process: Python's handler, not ignored.

    A shell without job control (a script's ``make test &``, some CI runners) starts
    background commands with SIGINT ignored, and Python keeps the ignore: Ctrl-C then never
    reaches the run, which is right for such a process, but not the case tested here.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def interrupting_model(calls: list[str], at_call: int) -> dict[str, Any]:
    """A scripted model that sends this process a SIGINT (Ctrl-C) on call ``at_call``."""
    note = calls_of(calls)

    async def interrupt(
        messages: list[ChatMessage], tools: list[ToolInfo], choice: ToolChoice, config: Any
    ) -> ModelOutput:
        if len(calls) == at_call - 1:
            signal.raise_signal(signal.SIGINT)
            await asyncio.sleep(1)  # where Ctrl-C reaches the run, cancelled: no answer
        return note(messages, tools, choice, config)

    return {"model": "mockllm/model", "args": {"custom_outputs": interrupt}}


@pytest.mark.usefixtures("sigint_handled")
def test_interrupted_run_continues_in_the_same_log(tmp_path: Path) -> None:
    calls: list[str] = []
    config, run_dir = experiment(tmp_path, {**interrupting_model(calls, 5), "max_connections": 1})
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, run_dir, display="none")
    (log_file,) = run_log_files(run_dir.logs)
    first = read_eval_log(str(log_file))
    assert first.status == "cancelled"
    done_before = {str(s.id) for s in first.samples or []}
    assert done_before == set(calls) and len(done_before) == 4  # nothing finished is lost

    again: list[str] = []
    config, run_dir = experiment(tmp_path, mock_model(calls_of(again)))
    summary = run_experiment(config, run_dir, display="none")
    assert summary.success and summary.log_files == [log_file]
    assert not done_before & set(again) and len(again) == 4
    final = read_eval_log(str(log_file))
    assert final.status == "success"
    assert Counter(str(s.id) for s in final.samples or []) == Counter(
        {i: 1 for i in final.eval.dataset.sample_ids or []}
    )


def test_a_run_whose_sigint_is_ignored_is_not_interrupted(tmp_path: Path) -> None:
    """A background process keeps the ignore it inherited: ``kill -INT`` does not stop it."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        calls: list[str] = []
        model = {**interrupting_model(calls, 5), "max_connections": 1}
        summary = run_experiment(*experiment(tmp_path, model), display="none")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert summary.success and len(calls) == 8


def test_a_finished_run_is_left_untouched(tmp_path: Path) -> None:
    calls: list[str] = []
    config, run_dir = experiment(tmp_path, mock_model(calls_of(calls)))
    (log_file,) = run_experiment(config, run_dir, display="none").log_files
    before = log_file.stat().st_mtime_ns
    summary = run_experiment(config, run_dir, display="none")
    assert len(calls) == 8 and summary.log_files == [log_file] and summary.success
    assert log_file.stat().st_mtime_ns == before


def test_models_are_checked_before_any_sample_runs(tmp_path: Path) -> None:
    calls: list[str] = []
    config, run_dir = experiment(
        tmp_path, mock_model(calls_of(calls)), {"model": "nosuchprovider/model"}
    )
    with pytest.raises(ConfigError, match="nosuchprovider"):
        run_experiment(config, run_dir, display="none")
    assert calls == [] and not list(run_dir.logs.glob("*.eval"))


def test_flush_gap_grows_with_the_log() -> None:
    policy = FlushPolicy()
    assert policy.gap_after(100, 700_000) < policy.interval_s
    assert 20 < policy.gap_after(100_000, 700_000_000) < 120


def test_progress_reporters() -> None:
    assert isinstance(make_progress("none"), NoProgress)
    stream = io.StringIO()
    progress = make_progress(None, stream)
    assert isinstance(progress, LineProgress)
    bar = progress.add_model("mockllm/model", 3, 1)
    progress.advance(bar, error=True)
    progress.advance(bar, error=False)
    progress.close()
    assert stream.getvalue().strip().endswith("mockllm/model: 3/3 samples, 1 errors")
