"""The run directory: where a run's logs, labels, tables and report live, and whose it is.

A run directory carries a marker file. We refuse to write into a directory that holds files
but no marker (not ours), or whose marker names a different experiment (would mix runs).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from insider import __version__
from insider.errors import ConfigError
from insider.experiment import ExperimentConfig
from insider.files import atomic_write_text

MARKER = "insider-run.json"
# Credential-like keys (api_key, auth_token, client_secret, ...), but not max_tokens & co.
_SECRET_KEY = re.compile(
    r"^(.*[_-])?(api[_-]?key|key|token|secret|password|passwd|authorization|credentials?)$",
    re.IGNORECASE,
)


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


def default_run_dir(experiment_id: str) -> Path:
    return Path("runs") / experiment_id


def scrub_secrets(value: Any) -> Any:
    """A copy of a config mapping with anything that looks like a credential removed."""
    if isinstance(value, dict):
        return {
            key: ("<redacted>" if _SECRET_KEY.search(str(key)) else scrub_secrets(item))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub_secrets(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)  # e.g. a scripted test model's callable: recorded, never executed


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


def prepare_run_dir(root: Path, config: ExperimentConfig, raw_config: dict[str, Any]) -> RunDir:
    """Claim ``root`` for this experiment, or check that an earlier run there is the same one."""
    run_dir = RunDir(root)
    expected = fingerprint(config)
    if root.exists() and any(root.iterdir()):
        marker = read_marker(root)
        if marker.get("experiment_id") != config.id:
            raise ConfigError(
                f"{root}: holds run {marker.get('experiment_id')!r}, not {config.id!r}; "
                "choose another --out"
            )
        if marker.get("fingerprint") != expected:
            raise ConfigError(
                f"{root}: the experiment's conditions, samples, mode or models changed since "
                "this run started; resume needs the same file. Use --out for a new run."
            )
        return run_dir
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        run_dir.marker,
        json.dumps(
            {"experiment_id": config.id, "fingerprint": expected, "insider_version": __version__},
            indent=2,
        ),
    )
    atomic_write_text(
        run_dir.experiment_file, yaml.safe_dump(scrub_secrets(raw_config), sort_keys=False)
    )
    return run_dir
