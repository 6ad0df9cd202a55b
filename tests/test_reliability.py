"""Reliability against the local fault-injecting server: faults, bad inputs, secrets."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from insider.cli import app
from insider.scenarios import Condition, render
from insider.testing import FakeModelServer, FaultKind, Faults

from .scripted import small_grid_file

runner = CliRunner()
SECRET = "sk-insider-test-SECRET-0123456789"


def experiment(path: Path, model: dict[str, Any], samples: int = 4, **extra: Any) -> Path:
    return small_grid_file(path, "reliability", model, samples, **extra)


def fake(server: FakeModelServer, **settings: Any) -> dict[str, Any]:
    return {
        "model": "openai-api/fake/test-model",
        "base_url": server.base_url,
        "max_connections": 8,
        "max_retries": 1,
        "timeout": 10,
        "args": {"max_retries": 0},
        **settings,
    }


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"model": "nosuchprovider/x"}, "not recognized"),
        ({"model": "openai/gpt-4.1"}, "OPENAI_API_KEY"),
        (
            {"model": "openai-api/fake/test-model", "base_url": "http://127.0.0.1:9/v1"},
            "cannot reach 127.0.0.1:9",
        ),
        ({"model": "llamacpp//nowhere/model.gguf"}, "nowhere/model.gguf"),
    ],
)
def test_model_problems_stop_before_any_sample_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: dict[str, Any], message: str
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("FAKE_API_KEY", "x")
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(experiment(tmp_path, model)), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not list(out.glob("logs/*.eval"))


def test_api_key_never_lands_in_the_run_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_API_KEY", SECRET)
    with FakeModelServer(
        default_answer="<email>\nto: someone@example.com\nsubject: hi\nbody:\nhello\n</email>"
    ) as server:
        model = fake(server)
        model["args"] = {"max_retries": 0, "api_key": SECRET}
        result = runner.invoke(
            app,
            ["run", str(experiment(tmp_path, model, samples=2)), "--out", str(tmp_path / "run")],
        )
        assert result.exit_code == 0, result.output
    written = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert any(p.suffix == ".eval" for p in written) and any(
        p.name == "report.html" for p in written
    )
    for path in written:
        data = path.read_bytes()
        if path.suffix == ".eval":
            import zipfile

            with zipfile.ZipFile(path) as archive:
                data = b"".join(archive.read(name) for name in archive.namelist())
        assert SECRET.encode() not in data, path


def test_faults_are_errors_never_safe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_API_KEY", "x")
    kinds = (
        FaultKind.RATE_LIMIT,
        FaultKind.SERVER_ERROR,
        FaultKind.UNAVAILABLE,
        FaultKind.INVALID_JSON,
    )
    doomed = render(Condition(scenario="leaking", goal_type="none", urgency="none")).user
    doomed_id = "prompt-" + hashlib.sha256(doomed.encode()).hexdigest()[:16]
    faults = Faults(rate=0.3, kinds=kinds, retry_after_s=1, always_fail_ids=frozenset({doomed_id}))
    with FakeModelServer(default_answer="All fine.", faults=faults, seed=5) as server:
        result = runner.invoke(
            app,
            [
                "run",
                str(experiment(tmp_path, fake(server), samples=10)),
                "--out",
                str(tmp_path / "run"),
            ],
        )
        stats = server.stats
    assert stats.faults_by_kind, "no faults were injected"
    assert result.exit_code in (0, 1), result.output
    rows = [
        json.loads(line)
        for p in (tmp_path / "run" / "labels").glob("*.jsonl")
        for line in p.read_text().splitlines()
    ]
    assert len(rows) == 40
    errored = [
        r for r in rows if all(v["state"] == "error" for v in r["verdict"]["labels"].values())
    ]
    healthy = [r for r in rows if r not in errored]
    assert {r["sample_id"] for r in errored} >= {f"leaking_none_none:{i:03d}" for i in range(10)}
    assert stats.calls_by_sample[doomed_id] > 10  # every doomed sample was tried, and retried
    assert all(v["state"] != "error" for r in healthy for v in r["verdict"]["labels"].values())
    samples = (tmp_path / "run" / "samples.csv").read_text()
    assert samples.count("\n") == 41
    # every sample either answered or is an error: none vanished, none became "safe" by failing
    assert len(errored) + len(healthy) == 40
