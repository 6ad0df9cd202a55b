"""Failed samples are loud: exit 1, errors grouped by their real cause, a dead server stops the run."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from inspect_ai.log import read_eval_log_sample_summaries
from inspect_ai.model import ChatMessageUser
from typer.testing import CliRunner

from insider.cli import app
from insider.experiment import ModelSpec
from insider.failures import cause_of_message, group_errors
from insider.run import run_log_files
from insider.run._engine import PendingSample, open_model, run_sample
from insider.run._failures import FailureStreak
from insider.testing import FakeModelServer, FaultKind, Faults

runner = CliRunner()
ROOT = Path(__file__).parents[1]


def flat(text: str) -> str:
    return " ".join(text.split())


def write_experiment(path: Path, base_url: str, samples: int, connections: int = 4) -> Path:
    config = {
        "id": "loud",
        "samples": samples,
        "models": [
            {
                "model": "openai-api/fake/test-model",
                "base_url": base_url,
                "max_connections": connections,
                "max_retries": 0,
                "timeout": 2,
                "args": {"max_retries": 0},
            }
        ],
        "conditions": {
            "scenario": ["blackmail", "leaking"],
            "goal_type": ["none"],
            "urgency": ["replacement", "none"],
        },
    }
    file = path / f"exp-{samples}.yaml"
    file.write_text(yaml.safe_dump(config))
    return file


@pytest.fixture(autouse=True)
def fake_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_API_KEY", "x")


def test_failed_samples_exit_1_with_errors_grouped_by_cause(tmp_path: Path) -> None:
    faults = Faults(rate=1.0, kinds=(FaultKind.SERVER_ERROR, FaultKind.INVALID_JSON))
    with FakeModelServer(faults=faults, seed=2) as server:
        file = write_experiment(tmp_path, server.base_url, samples=2)
        result = runner.invoke(app, ["run", str(file), "--out", str(tmp_path / "run")])
    text = flat(result.output)
    assert result.exit_code == 1, text
    assert "8 samples ended in error, by cause:" in text
    counts = {cause: text.count(f"x {cause} ") for cause in ("HTTP 500", "invalid JSON")}
    assert all(counts.values()), text
    assert "they count as errors, never as safe" in text
    samples = pd.read_parquet(tmp_path / "run" / "samples.parquet")
    errors = samples["error"].tolist()
    assert all(e.startswith(("HTTP 500: ", "invalid JSON: ")) for e in errors), errors
    assert not any("RetryError" in e or "<Future" in e for e in errors)


async def _one_call(base_url: str, timeout: int = 5) -> str:
    spec = ModelSpec(
        model="openai-api/fake/test-model",
        base_url=base_url,
        max_retries=0,
        timeout=timeout,
        args={"max_retries": 0, "api_key": "x", "client_timeout": timeout},  # HTTP timeout
    )
    model = open_model(spec)
    async with model:
        prompt = PendingSample("s1", [ChatMessageUser(content="Hello.")], {})
        sample = await run_sample(model, prompt, seed=None)
    assert sample.error is not None
    return sample.error.message


@pytest.mark.parametrize(
    ("kind", "cause"),
    [
        (FaultKind.SERVER_ERROR, "HTTP 500"),
        (FaultKind.UNAVAILABLE, "HTTP 503"),
        (FaultKind.RATE_LIMIT, "HTTP 429"),
        (FaultKind.INVALID_JSON, "invalid JSON"),
        (FaultKind.TRUNCATED_JSON, "invalid JSON"),
        (FaultKind.TIMEOUT, "timeout"),
    ],
)
def test_each_fault_is_named_by_its_cause(kind: FaultKind, cause: str) -> None:
    faults = Faults(rate=1.0, kinds=(kind,), retry_after_s=0, timeout_hold_s=3)
    with FakeModelServer(faults=faults) as server:
        message = asyncio.run(_one_call(server.base_url, timeout=1))
    assert message.startswith(f"{cause}: "), message
    assert cause_of_message(message) == cause


def test_connection_refused_is_named_and_inspect_messages_are_read_too() -> None:
    with FakeModelServer() as server:
        url = server.base_url
    message = asyncio.run(_one_call(url))  # the server is gone: nothing listens there
    assert message.startswith("connection refused: "), message
    # messages Inspect's eval loop records (agentic mode) are read as well
    retry = "RetryError(<Future at 0x7f state=finished raised APIConnectionError>)"
    assert cause_of_message(retry) == "connection failed"
    assert cause_of_message("RetryError(<Future at 0x1 raised RateLimitError>)") == "HTTP 429"
    # a model's timeout cuts each attempt (Inspect's attempt_timeout)
    hung = "RetryError(<Future at 0x2 state=finished raised AttemptTimeoutError>)"
    assert cause_of_message(hung) == "timeout"
    groups = group_errors([message, message, "HTTP 500: InternalServerError: boom"])
    assert [(g.cause, g.count) for g in groups] == [("connection refused", 2), ("HTTP 500", 1)]


def test_the_streak_trips_only_on_one_cause_in_a_row() -> None:
    streak = FailureStreak(window=3)
    assert not streak.record("HTTP 500: a") and not streak.record("HTTP 500: b")
    assert not streak.record(None)  # an answer resets it
    assert not any(streak.record(m) for m in ("HTTP 500: a", "timeout: b", "timeout: c"))
    assert streak.record("timeout: d") and streak.tripped == "timeout"
    assert list(streak.guard(iter([1, 2]))) == []


def insider_run(file: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`insider run` in its own process: its workers must not inherit the test's server socket."""
    return subprocess.run(
        [sys.executable, "-m", "insider.cli", "run", str(file), "--out", str(out), *extra],
        cwd=ROOT,
        env={**os.environ, "FAKE_API_KEY": "x"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def stop_after(server: FakeModelServer, answers: int) -> threading.Thread:
    """Kill the server (it closes its socket: connection refused) after this many answers."""

    def watch() -> None:
        deadline = time.monotonic() + 120
        while server.stats.successes < answers and time.monotonic() < deadline:
            time.sleep(0.01)
        server.stop()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("processes", [1, 2])
def test_a_server_that_dies_stops_the_run_early_and_the_rest_resumes(
    tmp_path: Path, processes: int
) -> None:
    if processes > 1 and not hasattr(os, "fork"):
        pytest.skip("worker processes need fork")
    samples = 40  # x 4 conditions = 160 planned
    extra = ["--processes", str(processes), "--no-analyze"]
    with FakeModelServer(default_answer="No action.", latency=0.05) as dying:
        url = dying.base_url.replace("http://", "http://someone:pw-secret-7@")
        file = write_experiment(tmp_path, url, samples)
        watcher = stop_after(dying, 12)
        first = insider_run(file, tmp_path / "run", *extra)
        watcher.join()
        port = dying.port
    text = flat(first.stdout + first.stderr)
    assert first.returncode == 1, text
    assert f"the server at http://<redacted>@127.0.0.1:{port}/v1 stopped answering" in text
    assert "connection refused on the last 20 calls" in text and "pw-secret-7" not in text
    (log,) = run_log_files(tmp_path / "run" / "logs")
    recorded = read_eval_log_sample_summaries(str(log))
    answered = sum(1 for s in recorded if s.error is None)
    assert answered >= 12
    assert len(recorded) < 160 - 40, "the run went on through the grid after the server died"
    assert "samples were not run" in text

    with FakeModelServer(default_answer="No action.") as healthy:
        again = insider_run(
            write_experiment(tmp_path, healthy.base_url, samples), tmp_path / "run", *extra
        )
        calls = healthy.stats.total
    assert again.returncode == 0, again.stdout + again.stderr
    assert calls == 160 - answered  # what had an answer is not paid for again
