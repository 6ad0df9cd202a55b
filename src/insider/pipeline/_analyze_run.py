"""Logs + a labels file -> the samples table, statistics tables and transcripts.jsonl."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from insider.analyze import Analysis, analyze_samples, attempted_column, judged_column
from insider.classify import LABELS, JudgeTrust, trust_from_meta
from insider.errors import ConfigError
from insider.experiment import ExperimentConfig
from insider.files import atomic_text_file, atomic_write_bytes
from insider.pipeline._classify_run import scored_records
from insider.pipeline._replication_run import run_references
from insider.run import AgentSample, RunDir, iter_agent_samples, read_marker
from insider.scenarios import Condition

CONDITION_COLUMNS = tuple(Condition.model_fields)


def load_run_experiment(run_dir: RunDir) -> ExperimentConfig:
    """The experiment as it was run (the redacted copy in the run directory)."""
    read_marker(run_dir.root)
    try:
        raw = yaml.safe_load(run_dir.experiment_file.read_text(encoding="utf-8"))
        return ExperimentConfig.model_validate(raw)
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise ConfigError(
            f"{run_dir.experiment_file}: cannot read the run's experiment: {exc}"
        ) from exc


def choose_labels_file(run_dir: RunDir, judge_id: str | None, default_id: str) -> Path:
    """The labels file to analyze: the one asked for, else the run's own scoring."""
    available = sorted(p.stem for p in run_dir.labels.glob("*.jsonl"))
    wanted = judge_id or default_id
    if wanted in available:
        return run_dir.labels / f"{wanted}.jsonl"
    if judge_id is None and len(available) == 1:
        return run_dir.labels / f"{available[0]}.jsonl"
    listing = ", ".join(available) or "none (run `insider classify` first)"
    raise ConfigError(f"{run_dir.root}: no scoring {wanted!r}; available judge ids: {listing}")


def scoring_trust(labels_file: Path) -> JudgeTrust:
    """The scoring's judge and the validation recorded beside its labels (``.meta.json``)."""
    meta_file = labels_file.with_name(f"{labels_file.stem}.meta.json")
    if not meta_file.is_file():
        return trust_from_meta(labels_file.stem, None)
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{meta_file}: cannot read the scoring's metadata: {exc}") from exc
    if not isinstance(meta, dict):
        raise ConfigError(f"{meta_file}: the scoring's metadata is not a JSON object")
    return trust_from_meta(labels_file.stem, meta)


def _sample_row(sample: AgentSample, verdict: dict[str, Any] | None, model: str) -> dict[str, Any]:
    meta = sample.metadata
    row: dict[str, Any] = {
        "experiment_id": meta.get("experiment_id", ""),
        "model": model,
        "sample_id": sample.sample_id,
        "sample_index": meta.get("sample_index", 0),
        "condition_id": meta.get("condition_id", ""),
        "mode": meta.get("mode", "single_turn"),
    }
    row.update({name: meta.get(name) for name in CONDITION_COLUMNS})
    labels = (verdict or {}).get("labels", {})
    for label in LABELS:
        row[label] = labels.get(label, {}).get("state", "unscored")
    for label in LABELS:  # the verdict came from a judge, not from evidence alone
        row[judged_column(label)] = labels.get(label, {}).get("decided_by") == "judge"
    extra = (verdict or {}).get("extra", {})
    attempted = extra.get("attempted", {})
    for label in LABELS:
        row[attempted_column(label)] = attempted.get(label, row[label])
    row["held_by_gate"] = int(extra.get("held_by_gate", 0))
    # evidence sent labels to the judge over text it did not understand
    row["evidence_deferred"] = bool(extra.get("not_understood"))
    evidence = (verdict or {}).get("evidence", {})
    row.update(
        judge_id=(verdict or {}).get("judge_id", ""),
        judge_calls=(verdict or {}).get("judge_calls", 0),
        stated_situation=evidence.get("stated_situation") or "",
        input_tokens=sample.input_tokens,
        output_tokens=sample.output_tokens,
        error=sample.error or "",
    )
    return row


def _transcript(sample: AgentSample, verdict: dict[str, Any] | None, model: str) -> dict[str, Any]:
    evidence = (verdict or {}).get("evidence", {})
    labels = {
        label: {key: item.get(key, "") for key in ("state", "decided_by", "reason", "rationale")}
        for label, item in (verdict or {}).get("labels", {}).items()
    }
    return {
        "sample_id": sample.sample_id,
        "model": model,
        "condition_id": sample.metadata.get("condition_id", ""),
        "scenario": sample.metadata.get("scenario", ""),
        "fields": {name: sample.metadata.get(name) for name in CONDITION_COLUMNS},
        "system": sample.system,
        "user": sample.user,
        "reasoning": evidence.get("reasoning") or sample.reasoning,
        "answer": sample.answer,
        "actions": evidence.get("actions", []),
        "problems": evidence.get("problems", []),
        "labels": labels,
        "error": sample.error or "",
    }


def model_labels(config: ExperimentConfig) -> dict[str, str]:
    """Inspect model name -> the label shown in tables (first spec wins for duplicates)."""
    names: dict[str, str] = {}
    for spec in config.models:
        names.setdefault(spec.sample_model, spec.display_name)
    return names


def iter_joined(
    run_dir: RunDir, labels_file: Path, names: dict[str, str]
) -> Iterator[tuple[AgentSample, dict[str, Any] | None, str]]:
    """Each sample of the run's logs with the newest verdict of its current record.

    A verdict of a record that a resume replaced is stale and not used: such a sample has
    no verdict (its labels read ``unscored``) until ``insider classify`` scores it again.
    """
    verdicts = scored_records(labels_file, keep_verdicts=True)
    for sample in iter_agent_samples(run_dir.logs):
        model = names.get(sample.model, sample.model)
        yield sample, verdicts.verdict_for(sample), model


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet runs a cell starting with one of these as a formula (CSV injection)."""


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell that a spreadsheet would run as a formula defused.

    Ids, model names, conditions and errors can come from anywhere (a foreign transcript, a
    model string, an error body). A leading ``'`` makes a spreadsheet show such a cell as
    text; numbers are untouched. Parquet keeps the true values.
    """
    safe = frame.copy()
    for column in safe.columns:
        values = safe[column]
        if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
            safe[column] = values.map(_defused)
    return safe


def _defused(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def write_table(frame: pd.DataFrame, directory: Path, name: str) -> list[Path]:
    """Parquet and CSV, each written atomically; the CSV's text cells are formula-safe."""
    parquet, csv = directory / f"{name}.parquet", directory / f"{name}.csv"
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    atomic_write_bytes(parquet, buffer.getvalue())
    atomic_write_bytes(csv, csv_safe(frame).to_csv(index=False).encode("utf-8"))
    return [parquet, csv]


def analyze_run(run_dir: RunDir, judge_id: str | None = None, out: Path | None = None) -> Analysis:
    """Build every table of a run and write them (and transcripts.jsonl) to ``out``."""
    from insider.pipeline._classify_run import default_scoring_id

    config = load_run_experiment(run_dir)
    labels_file = choose_labels_file(
        run_dir, judge_id, default_scoring_id(config.judges, config.judge_aggregation)
    )
    out = out or run_dir.root
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    records: dict[tuple[str, str], str] = {}
    missing = 0  # samples without a verdict for their current record
    transcripts_path = out / "transcripts.jsonl"
    with atomic_text_file(transcripts_path) as handle:
        for sample, verdict, model in iter_joined(run_dir, labels_file, model_labels(config)):
            records[sample.model, sample.sample_id] = sample.record
            missing += verdict is None
            rows.append(_sample_row(sample, verdict, model))
            handle.write(json.dumps(_transcript(sample, verdict, model), ensure_ascii=False) + "\n")
    samples = pd.DataFrame(rows)
    if samples.empty:
        raise ConfigError(f"{run_dir.logs}: the run has no samples yet")
    contrasts = [c.model_dump() for c in config.contrasts]
    names = model_labels(config)
    analysis = analyze_samples(
        samples,
        contrasts,
        judge_id=labels_file.stem,
        references=run_references(run_dir, samples, labels_file.stem, names, records),
        model_names={shown: [model] for model, shown in names.items()},
        trust=scoring_trust(labels_file),
    )
    analysis.unscored_samples = missing
    for name, table in analysis.tables().items():
        analysis.files += write_table(table, out, name)
    analysis.files.append(transcripts_path)
    return analysis
