"""Logs + a labels file -> the samples table, statistics tables and transcripts.jsonl."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from insider.analyze import (
    Analysis,
    SamplesTableBuilder,
    SpendTally,
    analyze_samples,
    attempted_column,
    judged_column,
    spend_summary,
)
from insider.classify import LABELS, JudgeTrust, trust_from_meta
from insider.errors import ConfigError
from insider.experiment import ExperimentConfig
from insider.files import atomic_text_file, atomic_write_bytes
from insider.pipeline._classify_run import scored_records
from insider.pipeline._replication_run import run_references
from insider.pipeline._spend import Pricer, add_judges, add_sample, judge_columns
from insider.run import (
    AgentSample,
    RunDir,
    iter_agent_samples,
    read_marker,
    record_spend,
    run_prices,
)
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


def _sample_row(
    sample: AgentSample, verdict: dict[str, Any] | None, model: str, pricer: Pricer, cost: float
) -> dict[str, Any]:
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
        cached_input_tokens=sample.cached_input_tokens,
        cache_write_tokens=sample.cache_write_tokens,
        output_tokens=sample.output_tokens,
        reasoning_tokens=sample.reasoning_tokens,
        batch=sample.batched,
        cost_usd=cost,
        **judge_columns(pricer, verdict),
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


SAMPLE_ORDER = ("model", "condition_id", "sample_index", "sample_id")
"""The samples table's row order: the same whatever order the samples were run or merged in."""


def analyze_run(
    run_dir: RunDir, judge_id: str | None = None, out: Path | None = None, **options: Any
) -> Analysis:
    """Build every table of a run and write them (and transcripts.jsonl) to ``out``."""
    return analyze_runs([run_dir], judge_id, out, **options)


def analyze_runs(
    run_dirs: Sequence[RunDir],
    judge_id: str | None = None,
    out: Path | None = None,
    *,
    prices: Path | None = None,
) -> Analysis:
    """The tables of one run, or of several shards of one run merged (the same tables).

    Every directory must hold the same experiment (id and fingerprint); a sample found in two
    of them is an error (overlapping shards). ``out`` defaults to the first directory. Spend
    is priced with ``prices``, else each run's copy of its price table, else the shipped one.
    """
    from insider.pipeline._classify_run import default_scoring_id

    config = check_mergeable(run_dirs)
    first = run_dirs[0]
    scoring = judge_id or default_scoring_id(config.judges, config.judge_aggregation, config.labels)
    labels_files = [choose_labels_file(d, judge_id, scoring) for d in run_dirs]
    out = out or first.root
    out.mkdir(parents=True, exist_ok=True)
    builder = SamplesTableBuilder()
    tally = SpendTally()
    records: dict[tuple[str, str], str] = {}
    missing = 0  # samples without a verdict for their current record
    names = model_labels(config)
    transcripts_path = out / "transcripts.jsonl"
    with atomic_text_file(transcripts_path) as handle:
        for run_dir, labels_file in zip(run_dirs, labels_files, strict=True):
            pricer = Pricer(run_prices(run_dir.root, prices))
            verdicts = scored_records(labels_file, keep_verdicts=True)
            for paid in verdicts.all_verdicts():
                add_judges(tally, pricer, paid)
            for sample in iter_agent_samples(run_dir.logs):
                key = (sample.model, sample.sample_id)
                if key in records:
                    raise ConfigError(
                        f"{run_dir.root}: sample {sample.sample_id} of {sample.model} is also "
                        "in another run directory given; shards must not overlap"
                    )
                verdict = verdicts.verdict_for(sample)
                model = names.get(sample.model, sample.model)
                records[key] = sample.record
                missing += verdict is None
                cost = add_sample(tally, pricer, sample, model)
                builder.add(_sample_row(sample, verdict, model, pricer, cost))
                handle.write(
                    json.dumps(_transcript(sample, verdict, model), ensure_ascii=False) + "\n"
                )
    if not len(builder):
        raise ConfigError(f"{first.logs}: the run has no samples yet")
    samples = builder.frame(sort_by=SAMPLE_ORDER)
    contrasts = [c.model_dump() for c in config.contrasts]
    references: dict[str, pd.DataFrame] = {}
    for run_dir, labels_file in zip(run_dirs, labels_files, strict=True):
        for name, table in run_references(
            run_dir, samples, labels_file.stem, names, records
        ).items():
            references[name] = _merged_reference(references.get(name), table)
    analysis = analyze_samples(
        samples,
        contrasts,
        judge_id=labels_files[0].stem,
        references=references,
        model_names={shown: [model] for model, shown in names.items()},
        trust=scoring_trust(labels_files[0]),
    )
    analysis.unscored_samples = missing
    analysis.spend = tally.table()
    for name, table in analysis.tables().items():
        analysis.files += write_table(table, out, name)
    analysis.files.append(transcripts_path)
    if len(run_dirs) == 1 and out == first.root:
        record_spend(first.root, spend_summary(analysis.spend))
    return analysis


def _merged_reference(earlier: pd.DataFrame | None, table: pd.DataFrame) -> pd.DataFrame:
    """One original-rubric scoring across shards: each shard's rows scored where it has them."""
    if earlier is None:
        return table
    scored = table[list(LABELS)].ne("unscored").any(axis=1)
    merged = earlier.copy()
    merged.loc[scored, list(LABELS)] = table.loc[scored, list(LABELS)]
    return merged


def check_mergeable(run_dirs: Sequence[RunDir]) -> ExperimentConfig:
    """The experiment the run directories share; shards of different runs are refused."""
    if not run_dirs:
        raise ConfigError("give at least one run directory")
    markers = [(d, read_marker(d.root)) for d in run_dirs]
    base = markers[0][1]
    for run_dir, marker in markers[1:]:
        for key in ("experiment_id", "fingerprint"):
            if marker.get(key) != base.get(key):
                raise ConfigError(
                    f"{run_dir.root}: {key} {marker.get(key)!r} differs from "
                    f"{run_dirs[0].root}'s {base.get(key)!r}; only shards of one run merge"
                )
    roots = [d.root.resolve() for d in run_dirs]
    if len(set(roots)) != len(roots):
        raise ConfigError("a run directory is given twice")
    return load_run_experiment(run_dirs[0])
