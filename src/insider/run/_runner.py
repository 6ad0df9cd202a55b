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
from inspect_ai.log import EvalLog, read_eval_log_sample_summaries
from inspect_ai.model import get_model
from inspect_ai.solver import Solver

from insider.errors import ConfigError, RunError
from insider.experiment import ExperimentConfig, ModelSpec
from insider.failures import ErrorGroup, group_errors
from insider.redact import redact_url
from insider.run._budget import Budget
from insider.run._early_stop import stop_early
from insider.run._engine import run_single_turn
from insider.run._engine_progress import Display, make_progress
from insider.run._failures import FailureStreak, stop_message, streak_window
from insider.run._lock import lock_run_dir
from insider.run._rundir import RunDir
from insider.run._shard import Shard
from insider.run._task import build_samples, build_task, mode_solver
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
    """Samples that ended in error, or that have no record yet (not run)."""
    errors: list[ErrorGroup] = field(default_factory=list)
    """The samples that ended in error, grouped by cause."""
    stopped: list[str] = field(default_factory=list)
    """Why models were stopped early (every recent call failed the same way)."""
    budget_stopped: str | None = None
    """Why the run stopped at the budget (``max_cost_usd``), else None."""

    @property
    def samples_errored(self) -> int:
        return sum(group.count for group in self.errors)

    @property
    def samples_not_run(self) -> int:
        return max(0, self.samples_failed - self.samples_errored)


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
    """Fail before any sample starts: unknown provider, missing API key, unreachable server.

    Nothing is written: the CLI checks the models before it creates the run directory.
    """
    for spec in config.models:
        try:
            get_model(spec.model, base_url=spec.base_url, **spec.args)
        except PrerequisiteError as exc:
            raise ConfigError(f"model {spec.model}: {_plain(str(exc))}") from exc
        except (ValueError, FileNotFoundError, ImportError) as exc:
            raise ConfigError(f"model {spec.model}: {_plain(str(exc))}") from exc
        except TypeError as exc:  # the SDK's client refused an argument in ``args``
            raise ConfigError(
                f"model {spec.model}: args: {_plain(str(exc))}; see the provider's documentation "
                "for the arguments it accepts"
            ) from exc
        url = _base_url(spec)
        if url:
            _check_reachable(spec, url)
        if spec.agent is not None:
            from insider.agents import check_agent

            check_agent(spec.agent)


def _count_failed(logs: list[EvalLog]) -> tuple[int, int]:
    """Planned samples, and those without an answer (an error, or no record at all)."""
    total = failed = 0
    for log in logs:
        planned = log.eval.dataset.samples or 0
        summaries = read_eval_log_sample_summaries(log.location) if log.location else []
        answered = len({str(s.id) for s in summaries if s.error is None})
        total += planned
        failed += max(0, planned - answered)
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
    check: bool = True,
    budget: Budget | None = None,
    shard: Shard | None = None,
) -> RunSummary:
    """Run (or resume) every model x condition x sample; logs go to ``run_dir.logs``.

    ``processes`` > 1 runs single-turn model calls in that many forked worker processes.
    ``budget`` stops sending calls once their projected spend would pass it (single-turn,
    one process). ``shard`` runs only that shard's samples.
    ``retry_attempts``, ``extra_eval_args`` and ``solver`` apply to the ``eval_set`` path
    (agentic mode) only.
    The run holds the run directory's writer lock (``lock_run_dir``) throughout. ``check``
    False skips the model checks (the caller made them before creating ``run_dir``).
    """
    if processes > 1 and not hasattr(os, "fork"):
        raise ConfigError("worker processes need os.fork, which this platform lacks")
    if budget is not None and (processes > 1 or config.mode != "single_turn"):
        raise ConfigError(
            "max_cost_usd: the budget guard works in single_turn mode with one process "
            "(--processes 1); remove max_cost_usd or run with one process"
        )
    batched = [spec.display_name for spec in config.models if spec.batch is not None]
    if processes > 1 and batched:
        raise ConfigError(
            f"--processes {processes}: batched models ({', '.join(batched)}) run in one "
            "process (a batch is a few HTTP calls, not CPU work); use --processes 1"
        )
    if check:
        check_models(config)
    with lock_run_dir(run_dir.root):
        if config.mode == "single_turn":
            summary = _run_engine(config, run_dir, display, processes, budget, shard)
        else:
            summary = _run_eval_set(
                config,
                run_dir,
                display=display,
                retry_attempts=retry_attempts,
                extra_eval_args=extra_eval_args,
                solver=solver,
                shard=shard,
            )
    if summary.samples_failed:
        summary.errors = errors_in_logs(summary.log_files)
    return summary


def errors_in_logs(log_files: list[Path]) -> list[ErrorGroup]:
    """The samples recorded with an error in these logs, grouped by cause."""
    messages = (
        summary.error
        for path in log_files
        for summary in read_eval_log_sample_summaries(str(path))
        if summary.error is not None
    )
    return group_errors(messages)


def _run_engine(
    config: ExperimentConfig,
    run_dir: RunDir,
    display: Display | None,
    processes: int,
    budget: Budget | None,
    shard: Shard | None,
) -> RunSummary:
    try:
        outcomes = run_single_turn(
            config,
            run_dir.logs,
            make_progress(display),
            processes=processes,
            budget=budget,
            shard=shard,
        )
    except OSError as exc:
        raise RunError(f"writing the run's logs failed: {exc}") from exc
    return RunSummary(
        run_dir=run_dir,
        success=all(outcome.status == "success" for outcome in outcomes),
        log_files=[outcome.path for outcome in outcomes],
        samples_total=sum(outcome.total for outcome in outcomes),
        samples_failed=sum(outcome.failed for outcome in outcomes),
        stopped=[outcome.stopped for outcome in outcomes if outcome.stopped],
        budget_stopped=budget.describe() if budget is not None and budget.reached else None,
    )


def _run_eval_set(
    config: ExperimentConfig,
    run_dir: RunDir,
    *,
    display: Display | None,
    retry_attempts: int,
    extra_eval_args: dict[str, Any] | None,
    solver: Solver | None,
    shard: Shard | None = None,
) -> RunSummary:
    """Inspect's eval loop, one task per model; ``solver`` replaces the single-turn solver."""
    prompts = render_all(config)
    samples = build_samples(prompts, config.samples, config.id)
    if shard is not None:
        samples = [sample for sample in samples if shard.holds(str(sample.id))]
    streaks = [FailureStreak(streak_window(spec.max_connections)) for spec in config.models]
    tasks = [
        build_task(config, index, samples, solver=_watched(config, index, solver, streaks[index]))
        for index in range(len(config.models))
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
        stopped=[
            stop_message(spec.display_name, _shown_url(spec), streak.tripped, streak.window)
            for spec, streak in zip(config.models, streaks, strict=True)
            if streak.tripped is not None
        ],
    )


def _watched(
    config: ExperimentConfig, index: int, solver: Solver | None, streak: FailureStreak
) -> Solver | None:
    """The model's solver, stopping its task early when every recent sample failed alike.

    Agents (``agent:``) keep theirs: an agent's failures are its own program's, which the
    streak of one cause does not describe.
    """
    spec = config.models[index]
    if spec.agent is not None:
        return solver
    return stop_early(solver or mode_solver(config, spec), streak)


def _shown_url(spec: ModelSpec) -> str | None:
    url = _base_url(spec)
    return redact_url(url) if url else None
