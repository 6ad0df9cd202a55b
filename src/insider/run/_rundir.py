"""The run directory: where a run's logs, labels, tables and report live, and whose it is.

A run directory carries a marker file. We refuse to write into a directory that holds files
but no marker (not ours), or whose marker names a different experiment (would mix runs).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from insider import __version__
from insider.errors import ConfigError
from insider.experiment import ExperimentConfig
from insider.files import atomic_write_text
from insider.redact import scrub_secrets
from insider.run._lock import LOCK_FILE, lock_run_dir
from insider.run._shard import Shard

MARKER = "insider-run.json"


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run directory."""

    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def labels(self) -> Path:
        return self.root / "labels"

    @property
    def scored(self) -> Path:
        """Scored copies of the logs (Inspect scores from every scoring); never read back."""
        return self.root / "scored"

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    @property
    def experiment_file(self) -> Path:
        return self.root / "experiment.yaml"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def figures(self) -> Path:
        return self.root / "figures"


def default_run_dir(experiment_id: str, shard: Shard | None = None) -> Path:
    """``runs/<id>``; a shard's ``runs/<id>-shard-K-of-N``."""
    name = f"{experiment_id}-shard-{shard.index}-of-{shard.count}" if shard else experiment_id
    return Path("runs") / name


def fingerprint(config: ExperimentConfig) -> str:
    """Hash of what decides the samples of a run; a rerun must match it to resume."""
    relevant = config.model_dump(mode="json", include={"id", "mode", "samples", "conditions"})
    relevant["models"] = [spec.sample_model for spec in config.models]
    if config.mode == "agentic":
        relevant["agentic"] = config.agentic.model_dump(mode="json")
    text = json.dumps(relevant, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_marker(root: Path) -> dict[str, Any]:
    """The marker of an existing run directory, or a ConfigError saying what is wrong."""
    marker = root / MARKER
    if not marker.is_file():
        raise ConfigError(f"{root}: not an insider run directory (no {MARKER})")
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{marker}: unreadable run marker: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{marker}: unreadable run marker")
    return data


def _has_content(root: Path) -> bool:
    """Whether ``root`` holds anything besides our lock file."""
    return any(entry.name != LOCK_FILE for entry in root.iterdir())


def check_run_dir(root: Path, config: ExperimentConfig, shard: Shard | None = None) -> None:
    """Refuse, before anything is written, a place that cannot hold this experiment's run.

    ``root`` may be missing, empty, or an earlier run of the same experiment (and shard). An
    earlier run whose conditions, samples, mode or models differ is refused, unless none of
    its samples has an answer yet (``prepare_run_dir`` then starts it afresh).
    """
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root}: exists and is not a directory; choose another --out")
    if not root.exists() or not _has_content(root):
        return
    marker = read_marker(root)
    if marker.get("experiment_id") != config.id:
        raise ConfigError(
            f"{root}: holds run {marker.get('experiment_id')!r}, not {config.id!r}; "
            "choose another --out"
        )
    held = marker.get("shard")
    if held != (str(shard) if shard else None):
        raise ConfigError(
            f"{root}: holds {'shard ' + str(held) if held else 'an unsharded run'}, not "
            f"{'shard ' + str(shard) if shard else 'the whole run'}; give each shard its own "
            "--out (insider analyze merges them)"
        )
    if marker.get("fingerprint") != fingerprint(config) and _answered_samples(RunDir(root)):
        raise ConfigError(
            f"{root}: the experiment's conditions, samples, mode or models changed since "
            "this run started; resume needs the same file. Use --out for a new run."
        )


def _answered_samples(run_dir: RunDir) -> int:
    """How many samples the run's logs hold with an answer (an output, not an error)."""
    from inspect_ai.log import read_eval_log_sample_summaries

    if not run_dir.logs.is_dir():
        return 0
    answered = 0
    for log in run_dir.logs.glob("*.eval"):
        try:
            summaries = read_eval_log_sample_summaries(str(log))
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"{log}: unreadable log ({exc}); move it away to restart") from exc
        answered += sum(1 for summary in summaries if summary.error is None)
    return answered


def _set_aside_unanswered_logs(run_dir: RunDir) -> Path | None:
    """Move the logs of a run that never got an answer out of ``logs/``; where they went.

    They hold only errors of the models the experiment no longer names; the new run starts
    with an empty ``logs/`` and the old records stay readable under ``superseded/``.
    """
    if not run_dir.logs.is_dir() or not any(run_dir.logs.iterdir()):
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    target = run_dir.root / "superseded" / f"logs-{stamp}"
    target.parent.mkdir(parents=True, exist_ok=True)
    run_dir.logs.rename(target)
    return target


def prepare_run_dir(
    root: Path, config: ExperimentConfig, raw_config: dict[str, Any], shard: Shard | None = None
) -> RunDir:
    """Claim ``root`` for this experiment, or check that an earlier run there is the same one.

    An earlier run of the same experiment id with other models (or grid) in which no sample
    got an answer is started afresh: its logs move to ``superseded/``.
    """
    check_run_dir(root, config, shard)
    run_dir = RunDir(root)
    expected = fingerprint(config)
    if root.exists() and _has_content(root):
        if read_marker(root).get("fingerprint") == expected:
            return run_dir
        _set_aside_unanswered_logs(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        run_dir.marker,
        json.dumps(
            {
                "experiment_id": config.id,
                "fingerprint": expected,
                "insider_version": __version__,
                **({"shard": str(shard)} if shard else {}),
            },
            indent=2,
        ),
    )
    atomic_write_text(
        run_dir.experiment_file, yaml.safe_dump(scrub_secrets(raw_config), sort_keys=False)
    )
    return run_dir


def record_spend(root: Path, spend: dict[str, Any]) -> None:
    """Write what the run spent into its marker (``spend``), keeping the marker's identity.

    Only ``spend`` and ``spend_updated_at`` change; the experiment id and fingerprint that a
    resume checks are written back as they were read.
    """
    marker = read_marker(root)
    marker["spend"] = spend
    marker["spend_updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    atomic_write_text(root / MARKER, json.dumps(marker, indent=2))


@contextlib.contextmanager
def claimed_run_dir(
    root: Path, config: ExperimentConfig, raw_config: dict[str, Any], shard: Shard | None = None
) -> Iterator[RunDir]:
    """``root`` checked, locked and prepared for this experiment, held for the block.

    The checks come first, so a place we must refuse gets no lock file either.
    """
    check_run_dir(root, config, shard)
    with lock_run_dir(root):
        yield prepare_run_dir(root, config, raw_config, shard)
