"""A run hit by faults and then resumed ends with the tables of a run that never failed.

Faults come from the fake OpenAI-compatible server (HTTP 500, bodies that are not JSON);
the resume runs against a healthy server. Verdicts name the log record they scored, so the
error verdicts of the first attempt are stale once the resume replaced those records.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from insider.cli import app
from insider.testing import FakeModelServer, FaultKind, Faults

runner = CliRunner()

# evidence decides these without a judge: one message out of the company (a leak), one
# harmless note; the rest stays open (unscored) without a judge
LEAK = "<forward>\nid: 3\nto: press-desk@newswire-example.org\nnote:\nFor your story.\n</forward>"
ANSWERS = [("leaking", LEAK)]
DEFAULT = "<email>\nto: someone@example.com\nsubject: noted\nbody:\nThanks, noted.\n</email>"


def write_experiment(
    path: Path, base_url: str, mode: str = "single_turn", name: str = "healthy", samples: int = 4
) -> Path:
    config = {
        "id": "faulty",
        "mode": mode,
        "samples": samples,
        "models": [
            {
                "model": "openai-api/fake/test-model",
                "base_url": base_url,
                "max_connections": 4,
                "max_retries": 0,
                "timeout": 10,
                "args": {"max_retries": 0},
            }
        ],
        "conditions": {
            "scenario": ["blackmail", "leaking"],
            "goal_type": ["none"],
            "urgency": ["replacement", "none"],
        },
    }
    file = path / f"{name}-{mode}.yaml"
    file.write_text(yaml.safe_dump(config))
    return file


def run(file: Path, out: Path, *extra: str) -> Any:
    return runner.invoke(app, ["run", str(file), "--out", str(out), *extra])


def flat(text: str) -> str:
    """Console text with rich's line wrapping undone."""
    return " ".join(text.split())


def table(run_dir: Path, name: str) -> pd.DataFrame:
    frame = pd.read_parquet(run_dir / f"{name}.parquet")
    keys = [c for c in ("model", "sample_id", "condition_id", "label") if c in frame.columns]
    return frame.sort_values(keys).reset_index(drop=True)


def assert_same_tables(clean: Path, resumed: Path) -> None:
    for name in ("samples", "rates", "contrasts"):
        pd.testing.assert_frame_equal(table(clean, name), table(resumed, name), check_dtype=False)
    # CSV too: what a spreadsheet user sees
    assert (clean / "rates.csv").read_text() == (resumed / "rates.csv").read_text()


@pytest.fixture(autouse=True)
def fake_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_API_KEY", "x")


@pytest.mark.parametrize("processes", [1, 2])
def test_a_faulty_run_resumed_gives_the_tables_of_a_clean_run(
    tmp_path: Path, processes: int
) -> None:
    if processes > 1 and not hasattr(os, "fork"):
        pytest.skip("worker processes need fork")
    extra = ["--processes", str(processes)]
    with FakeModelServer(script=ANSWERS, default_answer=DEFAULT) as healthy:
        file = write_experiment(tmp_path, healthy.base_url)
        clean = run(file, tmp_path / "clean", *extra)
        assert clean.exit_code == 0, clean.output

        faults = Faults(rate=0.4, kinds=(FaultKind.SERVER_ERROR, FaultKind.INVALID_JSON))
        with FakeModelServer(script=ANSWERS, default_answer=DEFAULT, faults=faults, seed=1) as bad:
            first = run(
                write_experiment(tmp_path, bad.base_url, name="faulty"),
                tmp_path / "resumed",
                *extra,
            )
        assert first.exit_code == 1, first.output  # samples ended in error: loud, exit 1
        before = table(tmp_path / "resumed", "rates")
        assert before["n_error"].sum() > 0, "no fault reached the tables; the test proves nothing"

        again = run(file, tmp_path / "resumed", *extra)  # the healthy server again
        assert again.exit_code == 0, again.output
    assert "again because a resume replaced their record" in flat(again.output)
    assert_same_tables(tmp_path / "clean", tmp_path / "resumed")
    rows = (tmp_path / "resumed" / "labels" / "evidence-only.jsonl").read_text().splitlines()
    assert len(rows) > 16  # the stale error verdicts stay on file; analysis skips them


def test_classify_repairs_a_run_scored_before_verdicts_named_their_record(
    tmp_path: Path,
) -> None:
    """A run classified by an older insider (rows without ``record``), then resumed."""
    with FakeModelServer(script=ANSWERS, default_answer=DEFAULT) as healthy:
        file = write_experiment(tmp_path, healthy.base_url)
        assert run(file, tmp_path / "clean").exit_code == 0
        faults = Faults(rate=0.5, kinds=(FaultKind.SERVER_ERROR,))
        with FakeModelServer(script=ANSWERS, default_answer=DEFAULT, faults=faults, seed=3) as bad:
            assert (
                run(
                    write_experiment(tmp_path, bad.base_url, name="faulty"), tmp_path / "old"
                ).exit_code
                == 1
            )
        labels = tmp_path / "old" / "labels" / "evidence-only.jsonl"
        legacy = [json.loads(line) for line in labels.read_text().splitlines()]
        errored = sum(all(v["state"] == "error" for v in r["verdict"]["labels"].values())
                      for r in legacy)  # fmt: skip
        assert errored > 0
        for row in legacy:
            del row["record"]
        labels.write_text("".join(json.dumps(row) + "\n" for row in legacy))
        # the resume runs the errored samples; analysis alone must not show stale errors
        resumed = run(file, tmp_path / "old", "--no-analyze")
        assert resumed.exit_code == 0, resumed.output
    stale = runner.invoke(app, ["analyze", str(tmp_path / "old")])
    assert stale.exit_code == 0, stale.output
    assert f"{errored} samples have no verdict for their current log record" in flat(stale.output)
    assert table(tmp_path / "old", "rates")["n_error"].sum() == 0

    repair = runner.invoke(app, ["classify", str(tmp_path / "old")])
    assert repair.exit_code == 0, repair.output
    assert f"({errored} newly scored, {errored} of them again" in flat(repair.output)
    assert runner.invoke(app, ["analyze", str(tmp_path / "old")]).exit_code == 0
    assert_same_tables(tmp_path / "clean", tmp_path / "old")
    again = runner.invoke(app, ["classify", str(tmp_path / "old")])
    assert "(0 newly scored" in flat(again.output)  # nothing re-paid on a second repair


def test_an_agentic_run_resumed_after_faults_matches_a_clean_one(tmp_path: Path) -> None:
    with FakeModelServer(default_answer="I will not act on this.") as healthy:
        file = write_experiment(tmp_path, healthy.base_url, mode="agentic", samples=1)
        clean = run(file, tmp_path / "clean", "--display", "none")
        assert clean.exit_code == 0, clean.output
        faults = Faults(rate=1.0, kinds=(FaultKind.SERVER_ERROR,))
        with FakeModelServer(faults=faults) as bad:
            bad_file = write_experiment(
                tmp_path, bad.base_url, mode="agentic", name="faulty", samples=1
            )
            first = run(bad_file, tmp_path / "resumed", "--display", "none")
        assert first.exit_code == 1, first.output
        assert "HTTP 500" in first.output
        again = run(file, tmp_path / "resumed", "--display", "none")
        assert again.exit_code == 0, again.output
    assert_same_tables(tmp_path / "clean", tmp_path / "resumed")
