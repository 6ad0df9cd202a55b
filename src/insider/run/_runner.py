"""Run an experiment: one Inspect task (and one .eval log) per model, resumable.

Single-turn runs go through our lean engine (``_engine``: Inspect's model layer driven
directly); agentic runs go through Inspect's ``eval_set`` with the mode's solver.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from inspect_ai import eval_set
from inspect_ai._util.error import PrerequisiteError
from inspect_ai.log import EvalLog
from inspect_ai.model import get_model
from inspect_ai.solver import Solver

from insider.errors import ConfigError, RunError
from insider.experiment import ExperimentConfig, ModelSpec
from insider.run._engine import run_single_turn
from insider.run._engine_progress import Display, make_progress
from insider.run._rundir import RunDir
from insider.run._task import build_samples, build_task
from insider.scenarios import RenderedPrompt, render

_MARKUP = re.compile(r"\[/?(bold|blue|red|yellow|green|italic)\]")


@dataclass
class RunSummary:
    """What a run did, for the CLI's closing summary."""

    run_dir: RunDir
    success: bool
    log_files: list[Path] = field(default_factory=list)
    samples_total: int = 0
    samples_failed: int = 0


def render_all(config: ExperimentConfig) -> list[RenderedPrompt]:
    """Render every condition of the experiment once (samples share their condition's text)."""
    return [render(condition, mode=config.mode) for condition in config.expand()]


def _plain(message: str) -> str:
    return _MARKUP.sub("", message).strip()


def _base_url(spec: ModelSpec) -> str | None:
    if spec.base_url:
        return spec.base_url
    parts = spec.model.split("/")
    if parts[0] == "openai-api" and len(parts) >= 3:
        return os.environ.get(f"{parts[1].upper().replace('-', '_')}_BASE_URL")
    return None


def _check_reachable(spec: ModelSpec, url: str, timeout: float = 3.0) -> None:
    parsed = urlparse(url)
    if not parsed.hostname:
        raise ConfigError(f"model {spec.model}: base_url {url!r} has no host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            pass
    except OSError as exc:
        raise ConfigError(
            f"model {spec.model}: cannot reach {parsed.hostname}:{port} ({exc.strerror or exc}); "
            "is the server running?"
        ) from exc


def check_models(config: ExperimentConfig) -> None:
    """Fail before any sample starts: unknown provider, missing API key, unreachable server."""
    for spec in config.models:
        try:
            get_model(spec.model, base_url=spec.base_url, **spec.args)
        except PrerequisiteError as exc:
            raise ConfigError(f"model {spec.model}: {_plain(str(exc))}") from exc
        except (ValueError, FileNotFoundError, ImportError) as exc:
            raise ConfigError(f"model {spec.model}: {_plain(str(exc))}") from exc
        url = _base_url(spec)
        if url:
            _check_reachable(spec, url)
        if spec.agent is not None:
            from insider.agents import check_agent

            check_agent(spec.agent)


def _count_failed(logs: list[EvalLog]) -> tuple[int, int]:
    total = failed = 0
    for log in logs:
        if log.results is not None:
            total += log.results.total_samples
            failed += log.results.total_samples - log.results.completed_samples
        elif log.eval.dataset.samples:
            total += log.eval.dataset.samples
    return total, failed


def run_experiment(
    config: ExperimentConfig,
    run_dir: RunDir,
    *,
    display: Display | None = None,
    retry_attempts: int = 3,
    extra_eval_args: dict[str, Any] | None = None,
    solver: Solver | None = None,
    processes: int = 1,
) -> RunSummary:
    """Run (or resume) every model x condition x sample; logs go to ``run_dir.logs``.

    ``processes`` > 1 runs single-turn model calls in that many forked worker processes.
    ``retry_attempts``, ``extra_eval_args`` and ``solver`` apply to the ``eval_set`` path
    (agentic mode) only.
    """
    if processes > 1 and not hasattr(os, "fork"):
        raise ConfigError("worker processes need os.fork, which this platform lacks")
    check_models(config)
    if config.mode == "single_turn":
        return _run_engine(config, run_dir, display, processes)
    return _run_eval_set(
        config,
        run_dir,
        display=display,
        retry_attempts=retry_attempts,
        extra_eval_args=extra_eval_args,
        solver=solver,
    )


def _run_engine(
    config: ExperimentConfig, run_dir: RunDir, display: Display | None, processes: int
) -> RunSummary:
    try:
        outcomes = run_single_turn(
            config, run_dir.logs, make_progress(display), processes=processes
        )
    except OSError as exc:
        raise RunError(f"writing the run's logs failed: {exc}") from exc
    return RunSummary(
        run_dir=run_dir,
        success=all(outcome.status == "success" for outcome in outcomes),
        log_files=[outcome.path for outcome in outcomes],
        samples_total=sum(outcome.total for outcome in outcomes),
        samples_failed=sum(outcome.failed for outcome in outcomes),
    )


def _run_eval_set(
    config: ExperimentConfig,
    run_dir: RunDir,
    *,
    display: Display | None,
    retry_attempts: int,
    extra_eval_args: dict[str, Any] | None,
    solver: Solver | None,
) -> RunSummary:
    """Inspect's eval loop, one task per model; ``solver`` replaces the single-turn solver."""
    prompts = render_all(config)
    samples = build_samples(prompts, config.samples, config.id)
    tasks = [
        build_task(config, index, samples, solver=solver) for index in range(len(config.models))
    ]
    max_samples = max(spec.max_connections for spec in config.models)
    try:
        success, logs = eval_set(
            tasks,
            log_dir=str(run_dir.logs),
            max_tasks=len(tasks),
            max_samples=max_samples,
            retry_attempts=retry_attempts,
            retry_wait=1,
            retry_on_error=2,
            fail_on_error=False,
            display=display,
            score=False,
            **(extra_eval_args or {}),
        )
    except PrerequisiteError as exc:
        raise ConfigError(_plain(str(exc))) from exc
    except RuntimeError as exc:
        raise RunError(f"eval set failed: {exc}") from exc
    total, failed = _count_failed(logs)
    return RunSummary(
        run_dir=run_dir,
        success=success,
        log_files=[Path(log.location) for log in logs if log.location],
        samples_total=total,
        samples_failed=failed,
    )
