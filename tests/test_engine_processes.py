"""Worker processes: model calls in forked children, every sample still in the one task log."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.log import EvalSample, read_eval_log
from inspect_ai.model import ModelOutput

from insider.errors import RunError
from insider.run import _engine_shards, current_sample_id, run_experiment, run_log_files
from insider.run._engine_shards import connection_share, shard_samples
from insider.testing import FakeModelServer

from .scripted import mock_model, output
from .test_engine import experiment

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="worker processes need fork")


def test_connections_and_samples_are_split_without_overlap() -> None:
    assert [connection_share(5, k, 2) for k in range(2)] == [3, 2]
    assert [connection_share(1, k, 3) for k in range(3)] == [1, 0, 0]
    items = list(range(10))
    shards = [list(shard_samples(iter(items), 5, k, 3)) for k in range(3)]
    assert shards == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    # with fewer connections than processes, the processes with a connection share the samples
    shards = [list(shard_samples(iter(items), 2, k, 3)) for k in range(3)]
    assert shards == [[0, 2, 4, 6, 8], [1, 3, 5, 7, 9], []]


def test_every_sample_is_called_once_and_recorded_once(tmp_path: Path) -> None:
    with FakeModelServer(default_answer="No action.") as server:
        spec = {
            "model": "openai-api/fake/test-model",
            "base_url": server.base_url,
            "args": {"api_key": "test-key"},
            "max_connections": 3,
        }
        config, run_dir = experiment(tmp_path, spec, {**spec, "label": "second"}, samples=3)
        summary = run_experiment(config, run_dir, display="none", processes=2)
        calls = server.stats.successes
    assert summary.success and summary.samples_total == 24 and summary.samples_failed == 0
    assert calls == 24
    assert len(summary.log_files) == 2
    for log_file in summary.log_files:
        log = read_eval_log(str(log_file))
        assert log.status == "success"
        assert log.results is not None and log.results.completed_samples == 12
        ids = Counter(str(s.id) for s in log.samples or [])
        assert ids == Counter({i: 1 for i in log.eval.dataset.sample_ids or []})
        assert all(s.output.completion == "No action." for s in log.samples or [])


def test_a_rerun_in_processes_runs_only_the_failed_samples(tmp_path: Path) -> None:
    def flaky(*_: Any) -> ModelOutput:
        if (current_sample_id.get() or "").endswith(":001"):
            raise RuntimeError("service unavailable")
        return output("First answer.")

    config, run_dir = experiment(tmp_path, mock_model(flaky), samples=3)
    first = run_experiment(config, run_dir, display="none", processes=3)
    assert first.success and first.samples_total == 12 and first.samples_failed == 4

    config, run_dir = experiment(tmp_path, mock_model(lambda *_: output("Rerun.")), samples=3)
    rerun = run_experiment(config, run_dir, display="none", processes=2)
    assert rerun.success and rerun.samples_failed == 0 and rerun.log_files == first.log_files
    log = read_eval_log(str(rerun.log_files[0]))
    answers = {str(s.id): s.output.completion for s in log.samples or []}
    assert len(answers) == 12
    assert {i for i, text in answers.items() if text == "Rerun."} == {
        i for i in answers if i.endswith(":001")
    }


def test_a_failed_worker_fails_the_run_and_leaves_a_log_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = 0
    real_add = _engine_shards._PipeSink.add

    def add_then_crash(self: Any, sample: EvalSample) -> None:
        nonlocal sent  # counted in each child: its third sample never reaches the parent
        sent += 1
        if sent == 3:
            raise RuntimeError("worker crashed")
        real_add(self, sample)

    monkeypatch.setattr(_engine_shards._PipeSink, "add", add_then_crash)  # children inherit it
    config, run_dir = experiment(tmp_path, mock_model(lambda *_: output("Fine.")), samples=3)
    with pytest.raises(RunError, match="worker crashed"):
        run_experiment(config, run_dir, display="none", processes=2)
    (log_file,) = run_log_files(run_dir.logs)
    log = read_eval_log(str(log_file))
    assert log.status == "started"
    assert 0 < len(log.samples or []) < 12

    monkeypatch.setattr(_engine_shards._PipeSink, "add", real_add)
    config, run_dir = experiment(tmp_path, mock_model(lambda *_: output("Fine.")), samples=3)
    again = run_experiment(config, run_dir, display="none", processes=2)
    assert again.success and again.log_files == [log_file]
    final = read_eval_log(str(log_file))
    assert final.status == "success" and len(final.samples or []) == 12


NESTED_RUN = """
import asyncio, sys
from pathlib import Path
import nest_asyncio2
from insider.experiment import ExperimentConfig
from insider.run import prepare_run_dir
from insider.run import run_experiment

nest_asyncio2.apply()  # as Inspect does for its sync API: asyncio.run reuses the current loop
asyncio.run(asyncio.sleep(0))  # which now exists before the fork
base_url, out = sys.argv[1], Path(sys.argv[2])
model = {"model": "openai-api/fake/test-model", "base_url": base_url, "args": {"api_key": "k"}}
raw = {
    "id": "nested",
    "samples": 6,
    "models": [{**model, "max_connections": 4}],
    "conditions": {"scenario": ["blackmail", "leaking"], "goal_type": ["none"], "urgency": ["none"]},
}
config = ExperimentConfig.model_validate(raw)
summary = run_experiment(config, prepare_run_dir(out, config, raw), display="none", processes=2)
print(summary.success, summary.samples_total, summary.samples_failed)
"""


def test_worker_processes_under_nest_asyncio(tmp_path: Path) -> None:
    # each child needs a loop of its own: the inherited one shares its epoll with the parent
    with FakeModelServer(default_answer="No action.") as server:
        done = subprocess.run(
            [sys.executable, "-c", NESTED_RUN, server.base_url, str(tmp_path / "run")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        calls = server.stats.successes
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "12", "0"]
    assert calls == 12
