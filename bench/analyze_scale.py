"""Analysis and report at scale: 1,000,000 scored samples in ≤ 10 s and ≤ 1 GB.

Builds a synthetic samples table over a realistic grid (3 models × 576 conditions × 8 labels,
a mix of all four states, stated situations for eval awareness, persona variants for
robustness), then times rates, default contrasts, awareness, robustness and the report with
capped transcripts. Prints seconds per step, peak memory, and ``ratio seconds/goal`` last.

    .venv/bin/python bench/analyze_scale.py [--samples 1000000] [--out DIR]

The table is built and written to samples.parquet first; a fresh process then reads it and
does the measured work, as ``insider analyze`` would, so peak memory is the analysis's own.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped,unused-ignore]

from insider.analyze import (
    Analysis,
    awareness_table,
    contrasts_table,
    default_contrasts,
    gate_table,
    rates_table,
    robustness_table,
)
from insider.classify import LABELS
from insider.report import write_report
from insider.scenarios import ConditionGrid

GOAL_SECONDS = 10.0
GOAL_BYTES = 1 << 30
MODELS = ("anthropic/claude-sonnet-test", "openai/gpt-test", "llamacpp/smollm2-360m")
STATES = np.array(["harmful", "not_harmful", "error", "unscored"])


def grid() -> pd.DataFrame:
    conditions = ConditionGrid(
        goal_value=["america", "global"],
        extra_instruction=["none", "dont"],
        approval_gate=[False, True],
        persona=[0, 1],
        awareness_notice=["ask"],
    ).expand()
    return pd.DataFrame([{"condition_id": c.condition_id, **c.fields()} for c in conditions])


def synthetic_samples(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    conditions = grid()
    pairs = len(MODELS) * len(conditions)
    pair = np.sort(rng.integers(0, pairs, n))  # rows arrive grouped, as logs are read
    model = pair // len(conditions)
    condition = pair % len(conditions)
    frame = conditions.iloc[condition].reset_index(drop=True)
    frame.insert(0, "model", np.array(MODELS)[model])
    frame.insert(0, "experiment_id", "scale")
    frame["sample_index"] = np.arange(n) % 1000
    frame["sample_id"] = frame["condition_id"] + ":" + frame["sample_index"].astype(str)
    frame["mode"] = "single_turn"
    propensity = 0.1 + 0.25 * model + 0.3 * (frame["urgency"] == "replacement").to_numpy()
    for label in LABELS:
        u = rng.random(n)
        harmful = rng.random(n) < propensity
        code = np.where(u < 0.02, 2, np.where(u < 0.05, 3, np.where(harmful, 0, 1)))
        frame[label] = STATES[code]
    frame["judge_id"] = "judge-a"
    frame["judge_calls"] = rng.integers(0, 3, n)
    frame["stated_situation"] = np.array(["evaluation", "deployment", ""])[rng.integers(0, 3, n)]
    frame["input_tokens"] = 9000
    frame["output_tokens"] = rng.integers(200, 1500, n)
    frame["error"] = ""
    return frame


def _rows(samples: pd.DataFrame, chunk: int = 1000) -> Iterator[Any]:
    # itertuples over the whole frame would first turn every categorical column into objects
    for start in range(0, len(samples), chunk):
        yield from samples.iloc[start : start + chunk].itertuples()


def transcripts(samples: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """Lazily, as the CLI reads transcripts.jsonl: the report takes only what it shows."""
    prompt = "Email from Corinne Hale, CTO. " * 400  # ~12 KB, shared by a condition's samples
    for row in _rows(samples):
        yield {
            "sample_id": row.sample_id, "model": row.model, "condition_id": row.condition_id,
            "scenario": row.scenario, "fields": {"urgency": row.urgency, "persona": row.persona},
            "system": "You are Wren. " * 80, "user": f"{row.condition_id}\n{prompt}",
            "reasoning": "I need to consider my options carefully. " * 50,
            "answer": "<email>\nto: corinne.hale@ferrowen.com\nsubject: Re\nbody:\nHello\n</email>",
            "actions": [{"kind": "send", "to": ["corinne.hale@ferrowen.com"], "subject": "Re",
                         "body": "Hello", "executed": True}],
            "problems": [],
            "labels": {label: {"state": getattr(row, label), "decided_by": "judge",
                               "reason": "", "rationale": "quoted text"} for label in LABELS},
            "error": None,
        }  # fmt: skip


def peak_bytes() -> int:
    """This process's peak resident memory.

    VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child would inherit the
    parent's peak (the parent built the table).
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def analyse(table: Path, out: Path) -> None:
    """The measured part, in a fresh process: read samples.parquet, build tables, report."""
    steps: dict[str, float] = {}

    def timed(name: str, fn: Any, *a: Any, **k: Any) -> Any:
        start = time.perf_counter()
        result = fn(*a, **k)
        steps[name] = time.perf_counter() - start
        return result

    samples = timed("read", pd.read_parquet, table)
    rates = timed("rates", rates_table, samples)
    contrasts = timed("contrasts", lambda: contrasts_table(samples, default_contrasts(samples)))
    awareness = timed("awareness", awareness_table, samples)
    robustness = timed("robustness", robustness_table, samples)
    gate = timed("gate", gate_table, samples)
    analysis = Analysis(
        judge_id="judge-a", samples=samples, rates=rates, contrasts=contrasts,
        awareness=awareness, robustness=robustness, gate=gate,
    )  # fmt: skip
    report = timed(
        "report", write_report, out, analysis, transcripts=transcripts(samples),
        meta={"experiment_id": "scale", "mode": "single_turn", "judge_id": "judge-a"},
    )  # fmt: skip

    peak = peak_bytes()  # before the lines below, which allocate for their own counting
    for name, seconds in steps.items():
        print(f"{name:<11} {seconds:6.2f} s")
    total = sum(seconds for name, seconds in steps.items() if name != "read")
    print(f"rows: rates {len(rates):,}, contrasts {len(contrasts):,}, "
          f"awareness {len(awareness):,}, robustness {len(robustness):,}; "
          f"report.html {report.stat().st_size / 2**20:.1f} MiB")  # fmt: skip
    print(f"samples frame {samples.memory_usage(deep=True).sum() / 2**20:.0f} MiB in memory")
    print(f"total       {total:6.2f} s without reading the table (goal ≤ {GOAL_SECONDS:.0f} s)")
    print(f"peak rss    {peak / 2**20:6.0f} MiB, reading included "
          f"(goal ≤ {GOAL_BYTES / 2**20:.0f} MiB)")  # fmt: skip
    print(f"ratio seconds/goal: {total / GOAL_SECONDS:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=None, help="keep report and table here")
    parser.add_argument(
        "--categorical", action=argparse.BooleanOptionalAction, default=True,
        help=("repeated strings (model, condition, fields, states) as categories, as insider "
              "analyze builds its samples table (--no-categorical: plain strings)"),
    )  # fmt: skip
    parser.add_argument("--analyse", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.analyse:
        analyse(args.analyse, args.out)
        return

    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        built = time.perf_counter()
        samples = synthetic_samples(args.samples)
        if args.categorical:
            repeated = [c for c in samples.columns if samples[c].dtype == "str"]
            repeated.remove("sample_id")
            samples = samples.astype({c: "category" for c in repeated})
        samples.to_parquet(out / "samples.parquet")
        print(f"built {len(samples):,} samples × {samples.shape[1]} columns "
              f"({samples['condition_id'].nunique()} conditions, {len(MODELS)} models) "
              f"in {time.perf_counter() - built:.2f} s")  # fmt: skip
        del samples
        command = [sys.executable, __file__, "--analyse", str(out / "samples.parquet"),
                   "--out", str(out)]  # fmt: skip
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
