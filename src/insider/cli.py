"""The ``insider`` command line. Each command is thin: it calls one function of a package."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from insider.errors import ConfigError, InsiderError, RunError

app = typer.Typer(
    help=(
        "insider: stress-test LLM agents for insider-threat behaviour (agentic misalignment).\n\n"
        "Typical flow: insider conditions FILE -> insider run FILE -> insider report RUN_DIR. "
        "`insider demo` does it all offline on a small local model."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

ExperimentFile = Annotated[
    Path, typer.Argument(help="Experiment YAML file (see examples/).", show_default=False)
]


def handle_errors(func: F) -> F:
    """Map insider errors to exit codes: 2 for usage/config, 1 for failed work."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            raise typer.Exit(code=2) from exc
        except (RunError, InsiderError) as exc:
            err_console.print(f"[bold red]failed:[/] {exc}", markup=True, highlight=False)
            raise typer.Exit(code=1) from exc

    return wrapper  # type: ignore[return-value]


@app.command()
@handle_errors
def conditions(
    file: ExperimentFile,
    count: Annotated[bool, typer.Option("--count", help="Print only the number.")] = False,
) -> None:
    """List the conditions an experiment file expands to."""
    from insider.experiment import load_experiment

    expanded = load_experiment(file).expand()
    if count:
        print(len(expanded))
        return
    table = Table(title=f"{len(expanded)} conditions in {file}")
    for column in ("condition id", "scenario", "goal", "urgency", "extras"):
        table.add_column(column, overflow="fold")
    for condition in expanded:
        extras = condition.condition_id.split("__")[1:]
        table.add_row(
            condition.condition_id,
            condition.scenario,
            condition.goal_label,
            condition.urgency,
            ", ".join(extras),
        )
    console.print(table)


@app.command()
@handle_errors
def generate(
    file: ExperimentFile,
    out: Annotated[Path, typer.Option("--out", help="Directory to write condition folders to.")],
) -> None:
    """Render every condition into a folder: system prompt, user prompt, emails, metadata."""
    from insider.experiment import load_experiment
    from insider.run._runner import render_all
    from insider.scenarios._generate import write_conditions

    config = load_experiment(file)
    prompts = render_all(config)  # all rendered first: bad input writes nothing
    written = write_conditions(prompts, out)
    console.print(f"Wrote {len(prompts)} condition folders ({written} files) to [bold]{out}[/]")


@app.command()
@handle_errors
def run(
    file: ExperimentFile,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run directory (default runs/<experiment id>).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Estimate calls, tokens and cost; call nothing.")
    ] = False,
    prices: Annotated[
        Path | None, typer.Option("--prices", help="YAML price table for --dry-run.")
    ] = None,
    display: Annotated[
        str | None, typer.Option("--display", help="Inspect display: full, rich, plain, log, none.")
    ] = None,
    analyze_after: Annotated[
        bool,
        typer.Option("--analyze/--no-analyze", help="Classify, analyze and report after the run."),
    ] = True,
) -> None:
    """Run (or resume) an experiment: every model x condition x sample, as Inspect logs.

    Rerunning the same command resumes: completed samples are not run again.
    """
    import yaml

    from insider.experiment import load_experiment
    from insider.run._rundir import default_run_dir, prepare_run_dir

    config = load_experiment(file)
    if dry_run:
        _print_dry_run(config, prices)
        return
    raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    run_dir = prepare_run_dir(out or default_run_dir(config.id), config, raw)
    _run_pipeline(config, run_dir, display=_display(display), analyze_after=analyze_after)


def _display(value: str | None) -> Any:
    allowed = ("full", "rich", "plain", "log", "none")
    if value is not None and value not in allowed:
        raise ConfigError(f"--display {value!r} is not allowed; allowed: {', '.join(allowed)}")
    return value


def _print_dry_run(config: Any, prices_file: Path | None) -> None:
    from insider.run._dryrun import CHARS_PER_TOKEN, estimate, load_prices
    from insider.run._runner import render_all

    prompts = render_all(config)
    estimates = estimate(config, prompts, load_prices(prices_file))
    table = Table(title=f"Dry run of {config.id}: {len(prompts)} conditions x {config.samples}")
    for column in ("model", "samples", "model calls", "input tokens", "output tokens", "cost"):
        table.add_column(column, justify="right" if column != "model" else "left")
    for row in estimates:
        cost = "unknown (no price)" if row.cost_usd is None else f"${row.cost_usd:,.2f}"
        table.add_row(
            row.model,
            f"{row.samples:,}",
            f"{row.calls:,}",
            f"{row.input_tokens:,}",
            f"{row.output_tokens:,}",
            cost,
        )
    console.print(table)
    console.print(
        f"Tokens are estimated as characters / {CHARS_PER_TOKEN:g}; output is max_tokens, or "
        "1,000 per call when max_tokens is unset. Judge calls are not included. Nothing was run."
    )


def _run_pipeline(config: Any, run_dir: Any, *, display: Any, analyze_after: bool) -> None:
    from insider.run._runner import run_experiment

    summary = run_experiment(config, run_dir, display=display)
    console.print(
        f"\n[bold]Run {config.id}[/]: {summary.samples_total} samples "
        f"({summary.samples_failed} failed) in {len(summary.log_files)} log file(s)"
    )
    console.print(f"  logs: {run_dir.logs}  (open with: inspect view --log-dir {run_dir.logs})")
    if not summary.success:
        raise RunError(
            "some tasks did not complete; rerun the same command to resume the missing samples"
        )


def main() -> None:  # pragma: no cover - console script entry
    app(prog_name="insider")
    sys.exit(0)
