"""Outputs are replaced atomically: a failure mid-write leaves the previous file whole."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from insider.pipeline._analyze_run import write_table
from insider.run._rundir import atomic_write_text


def test_a_failed_table_write_keeps_the_old_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_table(pd.DataFrame({"a": [1, 2]}), tmp_path, "rates")
    before = (tmp_path / "rates.csv").read_bytes(), (tmp_path / "rates.parquet").read_bytes()

    def crash(*_: object, **__: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", crash)
    with pytest.raises(OSError, match="disk full"):
        write_table(pd.DataFrame({"a": [3]}), tmp_path, "rates")
    assert (tmp_path / "rates.csv").read_bytes() == before[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rates.csv", "rates.parquet"]


def test_atomic_text_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.html"
    atomic_write_text(target, "old")

    def interrupted(_: int) -> None:
        raise OSError("interrupted")

    monkeypatch.setattr("insider.run._rundir.os.fsync", interrupted)
    with pytest.raises(OSError, match="interrupted"):
        atomic_write_text(target, "new " * 10_000)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
