"""Score transcripts produced elsewhere (our JSONL schema or the original results layout)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from insider.classify import LABELS, SampleInput, classify_samples, load_profile, read_transcripts
from insider.experiment import JudgeSpec
from insider.pipeline._analyze_run import write_table
from insider.pipeline._classify_run import judge_models, scoring_id


def classify_foreign(
    transcripts: Path, world: Path, judges: Sequence[JudgeSpec], aggregation: str, out: Path
) -> list[Path]:
    """One labels row per transcript, written as labels.csv and labels.parquet under ``out``."""
    profile = load_profile(world)
    items = read_transcripts(transcripts)
    inputs = [
        SampleInput(scenario=t.scenario, text=t.response, reasoning=t.reasoning) for t in items
    ]
    concurrency = max(1, sum(spec.max_connections for spec in judges)) if judges else 16
    verdicts = asyncio.run(
        classify_samples(
            inputs,
            profile=profile,
            judges=judge_models(judges),
            aggregation=aggregation,
            max_concurrency=concurrency,
        )
    )
    rows: list[dict[str, Any]] = []
    for item, verdict in zip(items, verdicts, strict=True):
        row = item.model_dump(exclude={"response", "reasoning"})
        row.update({label: verdict.labels[label].state.value for label in LABELS})
        row.update(judge_id=scoring_id(judges, aggregation), judge_calls=verdict.judge_calls)
        rows.append(row)
    out.mkdir(parents=True, exist_ok=True)
    return write_table(pd.DataFrame(rows), out, "labels")
