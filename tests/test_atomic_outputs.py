"""Outputs are replaced atomically: a failure mid-write leaves the previous file whole."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from insider.files import (
    FILE_MODE,
    atomic_text_file,
    atomic_write_bytes,
    atomic_write_text,
    open_append,
    write_text,
)
from insider.pipeline import write_table


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

    monkeypatch.setattr("insider.files.os.fsync", interrupted)
    with pytest.raises(OSError, match="interrupted"):
        atomic_write_text(target, "new " * 10_000)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_a_failed_streamed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "transcripts.jsonl"
    atomic_write_text(target, "old\n")
    with pytest.raises(RuntimeError, match="reader failed"), atomic_text_file(target) as handle:
        handle.write("half of the new file\n")
        raise RuntimeError("reader failed")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["transcripts.jsonl"]


def test_every_writer_gives_the_one_file_mode(tmp_path: Path) -> None:
    assert FILE_MODE == 0o644
    previous = os.umask(0o077)  # a private umask does not change it (docs/architecture.md)
    try:
        _write_everything(tmp_path)
    finally:
        os.umask(previous)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    names = ["meta.json", "report.html", "transcripts.jsonl", "rates.csv", "rates.parquet"]
    assert modes == dict.fromkeys([*names, "system.txt", "labels.jsonl"], 0o644)


def _write_everything(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "meta.json", "{}")
    atomic_write_bytes(tmp_path / "report.html", b"<html></html>")
    with atomic_text_file(tmp_path / "transcripts.jsonl") as handle:
        handle.write("{}\n")
    write_table(pd.DataFrame({"a": [1]}), tmp_path, "rates")
    write_text(tmp_path / "system.txt", "You are")
    with open_append(tmp_path / "labels.jsonl") as handle:
        handle.write("{}\n")
