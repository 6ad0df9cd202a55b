"""The console script's exit: after `insider run` it skips interpreter teardown, nothing else."""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log

from insider import cli
from insider.testing import FakeModelServer

EXPERIMENT = """
id: exit_check
samples: 2
models: [{model: openai-api/fake/test-model, base_url: BASE_URL}]
conditions:
  scenario: [blackmail]
  goal_type: [none]
  urgency: [none, replacement]
"""


def test_run_exits_fast_with_every_output_written(tmp_path: Path) -> None:
    # an atexit handler registered by the run still runs before the process ends
    script = (
        "import atexit, sys\n"
        "from insider.cli import main\n"
        "atexit.register(lambda: print('atexit ran', flush=True))\n"
        "main(sys.argv[1:])\n"
    )
    experiment = tmp_path / "exp.yaml"
    args = ["run", str(experiment), "--out", str(tmp_path / "run"), "--no-analyze"]
    with FakeModelServer(default_answer="No action.") as server:
        experiment.write_text(EXPERIMENT.replace("BASE_URL", server.base_url), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-c", script, *args, "--display", "none"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "FAKE_API_KEY": "test-key"},
        )
    assert done.returncode == 0, done.stderr
    assert "4 samples (0 failed)" in done.stdout
    assert done.stdout.rstrip().endswith("atexit ran")
    (log_file,) = (tmp_path / "run" / "logs").glob("*.eval")
    log = read_eval_log(str(log_file))
    assert log.status == "success" and len(log.samples or []) == 4
    assert all(s.output.completion == "No action." for s in log.samples or [])


def test_run_failure_keeps_its_exit_code(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "insider.cli", "run", str(missing)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr


def test_other_commands_exit_normally(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(EXPERIMENT, encoding="utf-8")
    # in this process: a fast exit would end the test run instead of raising SystemExit
    with pytest.raises(SystemExit) as done:
        cli.main(["conditions", str(experiment), "--count"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == "2"


def test_exit_code_mapping_of_sys_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    exits: list[int] = []
    monkeypatch.setattr(os, "_exit", exits.append)
    monkeypatch.setattr(atexit, "_run_exitfuncs", lambda: None)
    for code in (None, 0, 3, "a message"):
        cli.exit_without_teardown(code)
    assert exits == [0, 0, 3, 1]
