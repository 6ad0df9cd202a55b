"""A run's scorings by the original classifiers, as references for the replication tables.

Each scoring of the original rubric (``labels/original-rubric__*.jsonl``) is a reference: the
run's rates under it are set beside the published figures too, and its labels are compared
with the analyzed scoring's on the same samples (``insider.analyze``, docs/replication.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from insider.classify import LABELS, original_rubric_id
from insider.pipeline._classify_run import read_labels
from insider.run import RunDir

# Every original-rubric scoring's labels file starts with this (the grader's slug follows).
REFERENCE_PREFIX = original_rubric_id("")


def reference_files(run_dir: RunDir, analyzed_id: str) -> list[Path]:
    """The run's scorings under the original rubric, other than the one analyzed."""
    files = sorted(run_dir.labels.glob(f"{REFERENCE_PREFIX}*.jsonl"))
    return [path for path in files if path.stem != analyzed_id]


def reference_samples(
    samples: pd.DataFrame,
    path: Path,
    names: Mapping[str, str],
    records: Mapping[tuple[str, str], str] | None = None,
) -> pd.DataFrame:
    """The samples table with each label's state as the scoring in ``path`` decided it.

    A sample that scoring has no row for is unscored there, never safe. With ``records``
    ((model, sample id) -> the sample's current log record), a row that scored a record a
    resume replaced is stale and skipped.
    """
    current = records or {}
    rows = [
        {
            "model": names.get(row["model"], row["model"]),
            "sample_id": row["sample_id"],
            **{
                label: v["state"]
                for label, v in row["verdict"]["labels"].items()
                if label in LABELS
            },
        }
        for row in read_labels(path)
        if row.get("record") is None
        or current.get((row["model"], row["sample_id"]), row["record"]) == row["record"]
    ]
    states = pd.DataFrame(rows, columns=["model", "sample_id", *LABELS])
    states = states.drop_duplicates(["model", "sample_id"], keep="last")
    base = samples.drop(columns=[label for label in LABELS if label in samples.columns])
    merged = base.merge(states, on=["model", "sample_id"], how="left")
    merged[list(LABELS)] = merged[list(LABELS)].fillna("unscored")
    return merged


def run_references(
    run_dir: RunDir,
    samples: pd.DataFrame,
    analyzed_id: str,
    names: Mapping[str, str],
    records: Mapping[tuple[str, str], str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Scoring id -> the samples table as that original-rubric scoring labelled it."""
    return {
        path.stem: reference_samples(samples, path, names, records)
        for path in reference_files(run_dir, analyzed_id)
    }
