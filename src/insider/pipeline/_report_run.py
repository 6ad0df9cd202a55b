"""Write a run's report.html from its analysis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from inspect_ai.log import read_eval_log

from insider import __version__
from insider.analyze import Analysis
from insider.pipeline._analyze_run import load_run_experiment
from insider.report import write_report
from insider.run import RunDir, run_log_files


def _iter_transcripts(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def _log_dates(run_dir: RunDir) -> tuple[str, str, list[str]]:
    """First start, last finish, and the agents the logs name (task metadata ``agent``)."""
    started, finished, agents = [], [], []
    for path in run_log_files(run_dir.logs):
        header = read_eval_log(str(path), header_only=True)
        agent = (header.eval.metadata or {}).get("agent")
        label = (header.eval.metadata or {}).get("model_label") or header.eval.model
        if agent and f"{label}: {agent}" not in agents:
            agents.append(f"{label}: {agent}")
        if header.stats.started_at:
            started.append(header.stats.started_at)
        if header.stats.completed_at:
            finished.append(header.stats.completed_at)
    return (min(started) if started else "", max(finished) if finished else "", agents)


def run_meta(run_dir: RunDir, analysis: Analysis) -> dict[str, Any]:
    """What was run: shown at the top of the report."""
    config = load_run_experiment(run_dir)
    started, finished, agents = _log_dates(run_dir)
    meta: dict[str, Any] = {
        "experiment_id": config.id,
        "description": config.description,
        "models": ", ".join(spec.display_name for spec in config.models),
        "mode": config.mode,
        "n_conditions": int(analysis.samples["condition_id"].nunique()),
        "n_samples": len(analysis.samples),
        "samples_per_condition": config.samples,
        "judge_id": analysis.judge_id,
        "judges": ", ".join(spec.model for spec in config.judges) or "none (evidence only)",
        "insider_version": __version__,
        "inspect_version": version("inspect-ai"),
        "started": started,
        "finished": finished,
        "report_written": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if agents:
        meta["agents"] = "; ".join(agents)
    return meta


def report_run(run_dir: RunDir, analysis: Analysis, transcripts: Path | None = None) -> Path:
    """report.html and figures/ inside the run directory."""
    return write_report(
        run_dir.root,
        analysis,
        transcripts=_iter_transcripts(transcripts or run_dir.root / "transcripts.jsonl"),
        meta=run_meta(run_dir, analysis),
    )
