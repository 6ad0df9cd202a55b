"""Checks before anything is written: bad models, hostile YAML, oversized runs, bad paths."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from insider.cli import app
from insider.pipeline import write_table
from insider.testing import FakeModelServer

runner = CliRunner()
ROOT = Path(__file__).parents[1]
PAPER_GRID = ROOT / "examples" / "paper_grid.yaml"


def flat(text: str) -> str:
    return " ".join(text.split())


def experiment(path: Path, model: dict[str, Any], **extra: Any) -> Path:
    config = {
        "id": "guards",
        "samples": 1,
        "models": [model],
        "conditions": {"scenario": ["blackmail"], "goal_type": ["none"], "urgency": ["none"]},
        **extra,
    }
    file = path / "exp.yaml"
    file.write_text(yaml.safe_dump(config, sort_keys=False))
    return file


def fake_model(server: FakeModelServer, **settings: Any) -> dict[str, Any]:
    return {
        "model": "openai-api/fake/test-model",
        "base_url": server.base_url,
        "args": {"max_retries": 0},
        **settings,
    }


@pytest.fixture(autouse=True)
def fake_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_API_KEY", "x")


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"model": "nosuchprovider/x"}, "not recognized"),
        (
            {"model": "openai-api/fake/test-model", "base_url": "http://127.0.0.1:9/v1"},
            "cannot reach 127.0.0.1:9",
        ),
        (
            {
                "model": "openai-api/fake/test-model",
                "base_url": "http://127.0.0.1:9/v1",
                "args": {"no_such_argument": 1},
            },
            "args: ",
        ),
    ],
)
def test_a_bad_model_writes_nothing_and_the_fixed_file_then_runs(
    tmp_path: Path, model: dict[str, Any], message: str
) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(experiment(tmp_path, model)), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in flat(result.output)
    assert not out.exists()  # no marker, no experiment.yaml, no lock file
    with FakeModelServer(default_answer="No action.") as server:
        fixed = experiment(tmp_path, fake_model(server))
        again = runner.invoke(app, ["run", str(fixed), "--out", str(out), "--no-analyze"])
    assert again.exit_code == 0, again.output


def test_an_alias_bomb_under_args_is_refused_at_once(tmp_path: Path) -> None:
    lines = ["id: bomb", "models:", "  - model: openai-api/fake/test-model", "    args:"]
    lines.append("      a0: &a0 [x, x, x, x, x, x, x, x, x, x]")
    for level in range(1, 9):
        lines.append(f"      a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    file = tmp_path / "bomb.yaml"
    file.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    result = runner.invoke(app, ["run", str(file), "--out", str(tmp_path / "run")])
    assert time.monotonic() - started < 5
    assert result.exit_code == 2, result.output
    assert "alias bomb" in flat(result.output)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: x\nid: y\nmodels: [{model: a/b}]\n", "key 'id' appears twice in one mapping"),
        ("id: x\nmodels:\n  - {model: a/b, label: one, label: two}\n", "key 'label' appears twice"),
        ("id: x\nmodels: " + "[" * 200 + "]" * 200 + "\n", "nested more than 32 levels"),
        ("a: &a [*a]\n", "refers to the node that contains it"),
    ],
)
def test_hostile_yaml_is_a_config_error(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "exp.yaml"
    file.write_text(text)
    result = runner.invoke(app, ["conditions", str(file)])
    assert result.exit_code == 2, result.output
    assert message in flat(result.output)


def test_an_experiment_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    file = tmp_path / "latin1.yaml"
    file.write_bytes("id: caf\xe9\nmodels: [{model: a/b}]\n".encode("latin-1"))
    result = runner.invoke(app, ["run", str(file), "--dry-run"])
    assert result.exit_code == 2, result.output
    assert "not UTF-8 text" in flat(result.output) and "Traceback" not in result.output


def test_samples_100000_on_the_paper_grid_is_refused_in_moments(tmp_path: Path) -> None:
    raw = yaml.safe_load(PAPER_GRID.read_text())
    raw["samples"] = 100_000
    file = tmp_path / "huge.yaml"
    file.write_text(yaml.safe_dump(raw))
    started = time.monotonic()
    result = runner.invoke(app, ["run", str(file), "--out", str(tmp_path / "run")])
    assert time.monotonic() - started < 10
    assert result.exit_code == 2, result.output
    text = flat(result.output)
    # 234 conditions x 100,000 samples x the grid's two models
    assert "46,800,000 samples (bound 1,000,000)" in text and "--yes-really" in text
    assert not (tmp_path / "run").exists()
    dry = runner.invoke(app, ["run", str(file), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "refuses it without --yes-really" in flat(dry.output)


def test_the_size_bound_counts_prompt_tokens_too(tmp_path: Path) -> None:
    from insider.experiment import load_experiment
    from insider.run import MAX_INPUT_TOKENS, run_size

    raw = yaml.safe_load(PAPER_GRID.read_text())
    raw["samples"] = 1_000  # 234,000 samples, each ~3,600 prompt tokens: ~0.8 G per model
    raw["models"] = [{"model": "openai/gpt-4.1"}, {"model": "anthropic/claude-sonnet-4-5"}]
    file = tmp_path / "big.yaml"
    file.write_text(yaml.safe_dump(raw))
    size = run_size(load_experiment(file))
    assert size.samples == 468_000 and size.input_tokens is not None
    assert size.input_tokens > MAX_INPUT_TOKENS and "input tokens" in (size.over_bound or "")
    small = run_size(load_experiment(ROOT / "examples" / "quickstart.yaml"))
    assert small.over_bound is None and small.input_tokens is None  # nothing rendered


def test_out_pointing_at_a_file_is_a_config_error(tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("keep me")
    with FakeModelServer() as server:
        result = runner.invoke(
            app, ["run", str(experiment(tmp_path, fake_model(server))), "--out", str(target)]
        )
    assert result.exit_code == 2, result.output
    assert "exists and is not a directory" in flat(result.output)
    assert target.read_text() == "keep me"


def test_a_contrast_value_the_grid_never_has_is_a_config_error(tmp_path: Path) -> None:
    contrasts = [
        {"name": "typo", "field": "urgency", "treatment": "replacment", "baseline": "none"}
    ]
    file = experiment(tmp_path, {"model": "a/b"}, contrasts=contrasts)
    result = runner.invoke(app, ["conditions", str(file)])
    assert result.exit_code == 2, result.output
    assert "treatment 'replacment' never occurs in the grid's 'urgency'" in flat(result.output)


def test_judge_connections_have_an_upper_bound(tmp_path: Path) -> None:
    judges = [{"model": "a/b", "max_connections": 1_000_000}]
    file = experiment(tmp_path, {"model": "a/b"}, judges=judges)
    result = runner.invoke(app, ["conditions", str(file)])
    assert result.exit_code == 2, result.output
    assert "max_connections" in result.output


def _read_only_command(run_dir: Path) -> list[str]:
    """`insider classify RUN` in a process that cannot write where permissions say no.

    As root, permissions bind only without the capability to override them.
    """
    command = [sys.executable, "-m", "insider.cli", "classify", str(run_dir)]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: a read-only dir is writable")
        return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", *command]
    return command


@pytest.mark.parametrize("locked_too", [True, False])
def test_classify_in_a_read_only_run_dir_is_a_config_error(
    tmp_path: Path, locked_too: bool
) -> None:
    with FakeModelServer(default_answer="No action.") as server:
        file = experiment(tmp_path, fake_model(server))
        assert runner.invoke(app, ["run", str(file), "--out", str(tmp_path / "run")]).exit_code == 0
    run_dir = tmp_path / "run"
    (run_dir / "labels" / "evidence-only.jsonl").unlink()  # something left to score
    read_only = [run_dir / "labels"] + ([run_dir, run_dir / ".insider.lock"] if locked_too else [])
    for path in read_only:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        result = subprocess.run(
            _read_only_command(run_dir), cwd=ROOT, capture_output=True, text=True, timeout=120
        )
    finally:
        for path in read_only:
            path.chmod(0o755 if path.is_dir() else 0o644)
    text = flat(result.stdout + result.stderr)
    assert result.returncode == 2, text
    assert "Traceback" not in text
    assert ("cannot lock the run directory" if locked_too else "cannot write the labels") in text


def test_csv_cells_that_a_spreadsheet_would_run_are_defused(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "sample_id": ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "\tx", "ok"],
            "k": [-1, 2, 3, 4, 5, 6],
        }
    )
    write_table(frame, tmp_path, "t")
    csv = pd.read_csv(tmp_path / "t.csv")
    assert csv["sample_id"].tolist() == [
        "'=HYPERLINK(\"http://x\")", "'+1+1", "'-2", "'@SUM(A1)", "'\tx", "ok",
    ]  # fmt: skip
    assert csv["k"].tolist() == [-1, 2, 3, 4, 5, 6]  # numbers stay numbers
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), frame)


def test_a_hostile_model_label_reaches_no_csv_as_a_formula(tmp_path: Path) -> None:
    with FakeModelServer(default_answer="No action.") as server:
        model = fake_model(server, label="=cmd|' /C calc'!A0")
        result = runner.invoke(
            app, ["run", str(experiment(tmp_path, model)), "--out", str(tmp_path / "run")]
        )
    assert result.exit_code == 0, result.output
    for csv in (tmp_path / "run").glob("*.csv"):
        for line in csv.read_text().splitlines()[1:]:
            assert not any(cell.startswith("=") for cell in line.split(",")), (csv, line)
    samples = pd.read_parquet(tmp_path / "run" / "samples.parquet")
    assert set(samples["model"]) == {"=cmd|' /C calc'!A0"}
