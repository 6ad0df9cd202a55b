"""Verdicts where Inspect users look: every scoring as Inspect scores in scored copies of the logs.

Read back with Inspect's own reader (``read_eval_log``) and its CLI (``inspect log dump``), for
our single-turn engine's logs and for eval_set's agentic logs, across a faulty run and its
resume. The agent's logs themselves are never rewritten.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.log import EvalLog, read_eval_log
from typer.testing import CliRunner

from insider.classify import LABELS
from insider.cli import app
from insider.experiment import JudgeSpec
from insider.pipeline import classify_run, our_world_profile
from insider.run import RunDir, iter_agent_samples, record_identity, run_log_files
from insider.testing import FakeModelServer, FaultKind, Faults

from .test_fault_resume import ANSWERS, DEFAULT, write_experiment
from .test_pipeline_scripted import yes_judge

runner = CliRunner()


@pytest.fixture(autouse=True)
def fake_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_API_KEY", "x")


def digest(paths: list[Path]) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def scored_copies(run_dir: Path) -> list[EvalLog]:
    """Each scored copy, read whole by Inspect; one per log of the run, named as its source."""
    sources = run_log_files(run_dir / "logs")
    copies = sorted((run_dir / "scored").glob("*.eval"))
    assert [p.name for p in copies] == sorted(p.name for p in sources)
    return [read_eval_log(str(path)) for path in copies]


def assert_every_label_scored(log: EvalLog, scorings: set[str]) -> dict[str, int]:
    """Every sample has one score per label per scoring, with its state and explanation."""
    states: dict[str, int] = {}
    assert log.samples
    for sample in log.samples:
        scores = sample.scores or {}
        for scoring in scorings:
            for label in LABELS:
                score = scores[f"{label}:{scoring}"]
                meta = score.metadata or {}
                state = meta["state"]
                states[state] = states.get(state, 0) + 1
                assert score.answer == state and meta["label"] == label
                assert meta["scoring"] == scoring
                assert score.explanation, (sample.id, label)
                if state == "harmful":
                    assert score.value == 1
                elif state == "not_harmful":
                    assert score.value == 0
                else:  # error and unscored are Inspect's unscored score: never 0, never safe
                    assert isinstance(score.value, float) and math.isnan(score.value)
                    assert score.reason
                if meta.get("record"):
                    assert meta["record"] == record_identity(sample)
    names = {score.name for score in (log.results.scores if log.results else [])}
    assert names >= {f"{label}:{scoring}" for label in LABELS for scoring in scorings}
    return states


def run(file: Path, out: Path, *extra: str) -> Any:
    return runner.invoke(app, ["run", str(file), "--out", str(out), *extra])


def test_single_turn_run_faulted_resumed_and_rescored(tmp_path: Path) -> None:
    out = tmp_path / "run"
    faults = Faults(rate=0.5, kinds=(FaultKind.SERVER_ERROR,))
    with FakeModelServer(script=ANSWERS, default_answer=DEFAULT, faults=faults, seed=3) as bad:
        first = run(write_experiment(tmp_path, bad.base_url, name="faulty"), out)
    assert first.exit_code == 1, first.output
    assert "as Inspect scores: inspect view --log-dir" in " ".join(first.output.split())
    (log,) = scored_copies(out)
    states = assert_every_label_scored(log, {"evidence-only"})
    assert states["error"] > 0 and states["not_harmful"] > 0
    errored = [s for s in log.samples or [] if s.error is not None]
    assert errored and all(
        (s.scores or {})["leak:evidence-only"].reason == "agent_error" for s in errored
    )
    # Inspect's own metric: the rate over valid samples only, errors and unscored left out
    assert log.results is not None
    leak = next(s for s in log.results.scores if s.name == "leak:evidence-only")
    assert leak.metrics["error"].value == states["error"] / len(LABELS)
    source = run_log_files(out / "logs")

    with FakeModelServer(script=ANSWERS, default_answer=DEFAULT) as healthy:
        again = run(write_experiment(tmp_path, healthy.base_url), out)
    assert again.exit_code == 0, again.output
    # the resume continued the agent's own log, not the copy, and reads no copy back
    assert run_log_files(out / "logs") == source
    assert {s.log_file for s in iter_agent_samples(out / "logs")} == {str(source[0])}
    (log,) = scored_copies(out)
    states = assert_every_label_scored(log, {"evidence-only"})
    assert "error" not in states  # the replaced records' error verdicts are stale

    before = digest(source)
    other = [JudgeSpec(model="mockllm/other", args={"custom_outputs": yes_judge("no")})]
    second = classify_run(RunDir(out), other, "majority", our_world_profile(), show_progress=False)
    assert digest(source) == before  # the agent's log is never rewritten
    (log,) = scored_copies(out)
    assert_every_label_scored(log, {"evidence-only", second.judge_id})
    copy = out / "scored" / source[0].name
    mtime = copy.stat().st_mtime_ns
    classify_run(RunDir(out), other, "majority", our_world_profile(), show_progress=False)
    assert copy.stat().st_mtime_ns == mtime  # nothing new: the copy is current, not rewritten

    dump = subprocess.run(
        [sys.executable, "-m", "inspect_ai", "log", "dump", str(copy)],
        capture_output=True,
        text=True,
        check=True,
    )
    dumped = json.loads(dump.stdout)
    sample = dumped["samples"][0]
    assert {f"{label}:evidence-only" for label in LABELS} <= set(sample["scores"])


def test_agentic_eval_set_logs_get_scored_copies_and_still_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with FakeModelServer(faults=Faults(rate=1.0, kinds=(FaultKind.SERVER_ERROR,))) as bad:
        file = write_experiment(tmp_path, bad.base_url, mode="agentic", name="faulty", samples=1)
        first = run(file, out, "--display", "none")
    assert first.exit_code == 1, first.output
    (log,) = scored_copies(out)
    assert assert_every_label_scored(log, {"evidence-only"}).keys() == {"error"}
    with FakeModelServer(default_answer="I will not act on this.") as healthy:
        file = write_experiment(tmp_path, healthy.base_url, mode="agentic", samples=1)
        again = run(file, out, "--display", "none")
    assert again.exit_code == 0, again.output  # eval_set resumed from logs/, not the copy
    (log,) = scored_copies(out)
    assert (
        log.eval.task
        == read_eval_log(str(run_log_files(out / "logs")[0]), header_only=True).eval.task
    )
    states = assert_every_label_scored(log, {"evidence-only"})
    assert "error" not in states and states["not_harmful"] > 0


def test_a_copy_whose_log_left_the_run_is_removed(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with FakeModelServer(script=ANSWERS, default_answer=DEFAULT) as healthy:
        assert run(write_experiment(tmp_path, healthy.base_url, samples=1), out).exit_code == 0
    stray = out / "scored" / "2020-01-01T00-00-00-00-00_gone.eval"
    stray.write_bytes(b"not a log")
    (out / "scored" / ".partial-x.eval").write_bytes(b"half")
    assert runner.invoke(app, ["classify", str(out)]).exit_code == 0
    assert sorted(p.name for p in (out / "scored").iterdir()) == [
        p.name for p in run_log_files(out / "logs")
    ]
