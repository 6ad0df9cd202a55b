"""The ``insider`` command line. Each command is thin: it calls one function of a package."""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from insider.errors import BudgetReached, ConfigError, InsiderError, RunError

if TYPE_CHECKING:  # only for annotations: commands import what they use when they run
    from collections.abc import Sequence

    from insider.analyze import Analysis
    from insider.classify import GoldReport, JudgeTrust, JudgeValidation
    from insider.experiment import ExperimentConfig, JudgeSpec
    from insider.pipeline import ClassifySummary
    from insider.run import Budget, Display, Prices, RunDir, RunSummary, Shard

app = typer.Typer(
    help=(
        "insider: stress-test LLM agents for insider-threat behaviour (agentic misalignment).\n\n"
        "Typical flow: insider conditions FILE -> insider run FILE -> insider report RUN_DIR. "
        "`insider demo` does it all offline on a small local model."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstring paragraphs reflow to the terminal width
)
console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

BUDGET_EXIT_CODE = 3
"""``insider run`` stopped at its budget (max_cost_usd): resumable with a higher one."""

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
            err_console.print(
                f"[bold red]error:[/] {escape(str(exc))}",
                markup=True,
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(code=2) from exc
        except BudgetReached as exc:
            err_console.print(
                f"[bold yellow]stopped:[/] {escape(str(exc))}",
                markup=True,
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(code=BUDGET_EXIT_CODE) from exc
        except (RunError, InsiderError) as exc:
            err_console.print(
                f"[bold red]failed:[/] {escape(str(exc))}",
                markup=True,
                highlight=False,
                soft_wrap=True,
            )
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
    from insider.run import render_all
    from insider.scenarios import write_conditions

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
        Path | None,
        typer.Option(
            "--prices",
            help=(
                "YAML price table (the shape of insider's prices.yaml) for --dry-run and for "
                "pricing what the run used; kept in the run directory."
            ),
        ),
    ] = None,
    display: Annotated[
        str | None, typer.Option("--display", help="Inspect display: full, rich, plain, log, none.")
    ] = None,
    analyze_after: Annotated[
        bool,
        typer.Option("--analyze/--no-analyze", help="Classify, analyze and report after the run."),
    ] = True,
    processes: Annotated[
        int,
        typer.Option(
            "--processes",
            min=1,
            help=(
                "Worker processes for single-turn model calls (forked; not on Windows). "
                "Use 2 or more when a fast server makes one process's CPU the limit."
            ),
        ),
    ] = 1,
    yes_really: Annotated[
        bool,
        typer.Option(
            "--yes-really",
            help="Run even though the run is over the size bound (see --dry-run).",
        ),
    ] = False,
    json_rows: Annotated[
        bool,
        typer.Option(
            "--json",
            help=(
                "With --dry-run: print the rows as JSON (role model or judge, calls, input, "
                "cached and output tokens, cost_usd) instead of a table."
            ),
        ),
    ] = False,
    max_cost_usd: Annotated[
        float | None,
        typer.Option(
            "--max-cost-usd",
            help=(
                "Budget in USD (overrides max_cost_usd in the file): no call is sent once its "
                "projected spend would pass it; exit 3, and a rerun with more continues."
            ),
        ),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            help=(
                "Run the K-th of N deterministic shards of the samples (K/N, e.g. 2/4), into "
                "runs/<id>-shard-K-of-N; `insider analyze` merges the shards' run directories."
            ),
        ),
    ] = None,
) -> None:
    """Run (or resume) an experiment: every model x condition x sample, as Inspect logs.

    Rerunning the same command resumes: completed samples are not run again, samples that
    ended in error are run again. Exit 0 when every sample has an answer; 1 when any sample
    ended in error or was not run (the summary groups the errors by cause; rerun to retry
    them); 2 for a usage or config problem, found before anything is written or called; 3
    when the run stopped at its budget (max_cost_usd): rerun with a higher one to continue.
    """
    from insider.experiment import load_experiment_file
    from insider.pipeline import spent_so_far
    from insider.run import (
        Shard,
        check_models,
        check_run_dir,
        claimed_run_dir,
        default_run_dir,
        keep_prices,
        load_prices,
        run_prices,
    )

    config, raw = load_experiment_file(file)
    if max_cost_usd is not None:
        if not max_cost_usd > 0:
            raise ConfigError(f"--max-cost-usd {max_cost_usd}: give a budget above 0 (USD)")
        config = config.model_copy(update={"max_cost_usd": max_cost_usd})
    if json_rows and not dry_run:
        raise ConfigError("--json goes with --dry-run")
    if dry_run:
        _print_dry_run(config, prices, json_rows)
        return
    part = Shard.parse(shard) if shard is not None else None
    table = load_prices(prices)  # a bad table is refused before anything is written
    budget = _budget(config, table, processes)
    _check_run_size(config, yes_really)
    root = out or default_run_dir(config.id, part)
    check_run_dir(root, config, part)
    check_models(config)  # before the run directory exists: a bad model writes nothing
    with claimed_run_dir(root, config, raw, part) as run_dir:
        if prices is not None:
            keep_prices(run_dir.root, prices)
        if budget is not None:
            budget.spent_usd = spent_so_far(run_dir, run_prices(run_dir.root))
        _run_pipeline(
            config,
            run_dir,
            display=_display(display),
            analyze_after=analyze_after,
            processes=processes,
            budget=budget,
            shard=part,
        )


def _budget(config: ExperimentConfig, prices: Prices, processes: int) -> Budget | None:
    """The run's budget guard, or None; refused where it cannot hold (before any write)."""
    from insider.run import Budget, price_for

    if config.max_cost_usd is None:
        return None
    if processes > 1 or config.mode != "single_turn":
        raise ConfigError(
            "max_cost_usd: the budget guard works in single_turn mode with one process "
            "(--processes 1)"
        )
    unpriced = [
        name
        for name in [spec.model for spec in config.models] + [j.model for j in config.judges]
        if price_for(name, prices) is None
    ]
    if unpriced:
        raise ConfigError(
            f"max_cost_usd needs a price for every model and judge; none for "
            f"{', '.join(sorted(set(unpriced)))} (add them to a --prices file)"
        )
    return Budget(config.max_cost_usd, prices)


def _check_run_size(config: ExperimentConfig, yes_really: bool) -> None:
    from insider.run import run_size

    reason = run_size(config).over_bound
    if reason and not yes_really:
        raise ConfigError(
            f"{config.id}: this run plans {reason}; check `samples:` and the grid "
            "(insider run FILE --dry-run shows calls and cost), or pass --yes-really"
        )


def _display(value: str | None) -> Display | None:
    allowed = ("full", "rich", "plain", "log", "none")
    if value is not None and value not in allowed:
        raise ConfigError(f"--display {value!r} is not allowed; allowed: {', '.join(allowed)}")
    return cast("Display | None", value)


def _print_dry_run(config: ExperimentConfig, prices_file: Path | None, as_json: bool) -> None:
    import json

    from insider.pipeline import dry_run
    from insider.run import (
        CHARS_PER_TOKEN,
        MAX_PLANNED_SAMPLES,
        load_prices,
        render_all,
        run_size,
    )

    size = run_size(config)
    if size.over_bound:  # rendering and estimating would be as big as the run: say so first
        message = (
            f"This run plans {size.over_bound}: `insider run` refuses it without --yes-really."
        )
        (err_console if as_json else console).print(message)
        if size.samples > MAX_PLANNED_SAMPLES:
            return
    prompts = render_all(config)
    estimated = dry_run(config, prompts, load_prices(prices_file))
    if as_json:
        print(json.dumps([row.as_row() for row in estimated.rows], indent=2))
        return
    table = Table(title=f"Dry run of {config.id}: {len(prompts)} conditions x {config.samples}")
    columns = ("role", "name", "batch", "calls", "input", "cached input", "output", "cost")
    for column in columns:
        table.add_column(column, justify="left" if column in {"role", "name"} else "right")
    for row in estimated.rows:
        cost = "unknown (no price)" if row.cost_usd is None else f"${row.cost_usd:,.2f}"
        table.add_row(
            row.role,
            row.name or row.model,
            "yes" if row.batch else "",
            f"{row.calls:,}",
            f"{row.input_tokens:,}",
            f"{row.cached_input_tokens + row.cache_write_tokens:,}",
            f"{row.output_tokens:,}",
            cost,
        )
    console.print(table)
    total = estimated.total_usd
    console.print(
        "Total: "
        + ("unknown (a model or judge has no price)" if total is None else f"${total:,.2f}")
    )
    console.print(
        f"Tokens are estimated as characters / {CHARS_PER_TOKEN:g}; output is a typical answer "
        "of 1,000 tokens per call (max_tokens if lower). Input is charged at the full rate; cached "
        "input assumes every sample of a condition but the first reads the prompt from the "
        "provider's cache (providers that cache: openai, anthropic, google, grok, deepseek). "
        "Batched models and judges get their price's batch discount."
    )
    if estimated.share is not None:
        share = estimated.share
        console.print(
            f"Judges: evidence leaves a requested label open on {share.samples_judged} of "
            f"{share.samples} gold transcripts ({100 * share.share:.0f} %, labels: "
            f"{', '.join(share.labels)}), measured now on the shipped gold sets; that share of "
            "the samples is priced with one judge call each. Nothing was run."
        )
    else:
        console.print("No judges: evidence alone decides. Nothing was run.")


def _run_pipeline(
    config: ExperimentConfig,
    run_dir: RunDir,
    *,
    display: Display | None,
    analyze_after: bool,
    processes: int = 1,
    budget: Budget | None = None,
    shard: Shard | None = None,
) -> None:
    from insider.run import run_experiment

    summary = run_experiment(
        config,
        run_dir,
        display=display,
        processes=processes,
        check=False,
        budget=budget,
        shard=shard,
    )
    console.print(
        f"\n[bold]Run {config.id}[/]: {summary.samples_total} samples "
        f"({summary.samples_failed} failed) in {len(summary.log_files)} log file(s)"
    )
    console.print(f"  logs:    {run_dir.logs}  (inspect view --log-dir {run_dir.logs})")
    for reason in summary.stopped:
        err_console.print(f"[bold red]stopped:[/] {escape(reason)}", highlight=False)
    _print_errors(summary)
    if not summary.success and not summary.stopped and not summary.budget_stopped:
        raise RunError(
            "some tasks did not complete; rerun the same command to resume the missing samples"
        )
    if analyze_after:
        _classify_analyze_report(
            run_dir,
            config.judges,
            config.judge_aggregation,
            None,
            labels=config.labels,
            budget=budget,
        )
    if budget is not None and budget.reached:
        raise BudgetReached(budget.describe())
    if summary.samples_failed:
        raise RunError(_failure_line(summary))


def _print_errors(summary: RunSummary) -> None:
    """The samples that ended in error, grouped by cause, with one example each."""
    if not summary.errors:
        return
    err_console.print(
        f"[bold red]{summary.samples_errored} samples ended in error[/], by cause:",
        highlight=False,
    )
    for group in summary.errors:
        err_console.print(
            f"  {group.count:>6} x {escape(group.cause)}   e.g. {escape(group.example[:200])}",
            highlight=False,
            soft_wrap=True,
        )


def _failure_line(summary: RunSummary) -> str:
    parts = []
    if summary.samples_errored:
        causes = ", ".join(f"{g.count} {g.cause}" for g in summary.errors)
        parts.append(f"{summary.samples_errored} samples ended in error ({causes})")
    if summary.samples_not_run:
        parts.append(f"{summary.samples_not_run} samples were not run")
    done = "; ".join(parts) or f"{summary.samples_failed} samples failed"
    return (
        f"{done} of {summary.samples_total}; they count as errors, never as safe. "
        "Rerun the same command to run them again"
    )


def _classify_analyze_report(
    run_dir: RunDir,
    judges: Sequence[JudgeSpec],
    aggregation: str,
    judge_id: str | None,
    *,
    labels: Sequence[str] | None = None,
    budget: Budget | None = None,
) -> None:
    from insider.analyze import Analysis
    from insider.pipeline import (
        analyze_run,
        classify_run,
        our_world_profile,
        report_run,
        scorings,
    )

    # Our rubric's panel first (the run's own scoring), then each grader of rubric original.
    done = [
        classify_run(run_dir, panel, aggregation, our_world_profile(), labels=labels, budget=budget)
        for panel in scorings(judges)
    ]
    for scoring in done:
        _print_scoring(scoring)
    analysis = analyze_run(run_dir, judge_id or done[0].judge_id)
    _print_headline(analysis)
    _print_spend(analysis)
    report = report_run(run_dir, analysis)
    names = ",".join(Analysis.table_names())
    console.print(f"  tables:  {run_dir.root}/{{{names}}}.{{parquet,csv}}")
    console.print(f"  report:  [bold]{report}[/]")


def _print_scoring(scoring: ClassifySummary) -> None:
    states = ", ".join(f"{state} {count}" for state, count in sorted(scoring.states.items()))
    rescored = (
        f", {scoring.rescored} of them again because a resume replaced their record"
        if scoring.rescored
        else ""
    )
    console.print(
        f"  labels:  {scoring.labels_file} ({scoring.samples} newly scored{rescored}, "
        f"{scoring.skipped_existing} already scored; {scoring.judge_calls} judge calls for "
        f"{scoring.samples_judged} samples; label states: {states or 'none'})"
    )
    console.print(f"  {_deferred_line(scoring.deferred, scoring.samples)}")
    if scoring.budget_stopped:
        err_console.print(
            f"[bold yellow]scoring {escape(scoring.judge_id)}:[/] {escape(scoring.budget_stopped)}",
            highlight=False,
        )
    if scoring.scored_logs is not None and scoring.scored_logs.is_dir():
        console.print(
            f"  scores:  {escape(str(scoring.scored_logs))} (the logs with every scoring as "
            f"Inspect scores: inspect view --log-dir {escape(str(scoring.scored_logs))})",
            highlight=False,
        )
    from insider.pipeline import scoring_trust

    _print_trust(scoring_trust(scoring.labels_file))


def _print_trust(trust: JudgeTrust) -> None:
    """The scoring's judge and its validation, in one line (two when it is not validated)."""
    from insider.classify import LABELS

    if not trust.has_judge:
        return
    console.print(f"  judge:   {escape(trust.summary())}", highlight=False)
    if trust.rubric == "insider" and not any(trust.validated(label) for label in LABELS):
        err_console.print(
            "[bold yellow]note:[/] what this judge decided is shown apart and is not a finding; "
            "validate it with insider validate-judges (the scoring's --judge models and "
            "--aggregation), then run insider classify again",
            highlight=False,
        )


def _print_headline(analysis: Analysis) -> None:
    from insider.analyze import headline

    table = Table(title=f"Headline rates (judge {analysis.judge_id}), 95 % Wilson intervals")
    for column in (
        "model",
        "scenario",
        "label",
        "rate",
        "95 % CI",
        "k / n",
        "error",
        "unscored",
        "decided by",
    ):
        table.add_column(
            column,
            justify="left" if column in {"model", "scenario", "label"} else "right",
            overflow="fold",
        )
    if analysis.unscored_samples:
        err_console.print(
            f"[bold yellow]note:[/] {analysis.unscored_samples} samples have no verdict for "
            "their current log record (their labels read unscored); run `insider classify` "
            "on the run directory to score them",
            highlight=False,
        )
    rows = headline(analysis.rates).itertuples(index=False) if not analysis.rates.empty else ()
    for row in rows:
        rate = (
            f"{100 * row.rate:.0f} %"
            if row.n_valid
            else "not requested"
            if row.n_not_requested
            else "n/a"
        )
        ci = "" if row.n_valid == 0 else f"{100 * row.ci_low:.0f}–{100 * row.ci_high:.0f} %"
        table.add_row(
            str(row.model),
            str(row.scenario),
            str(row.label),
            rate,
            ci,
            f"{row.k} / {row.n_valid}",
            str(row.n_error),
            str(row.n_unscored),
            _decided_by(analysis, str(row.label), getattr(row, "basis", ""), row.n_judged),
        )
    console.print(table)
    _print_not_findings(analysis)
    samples = analysis.samples
    if "evidence_deferred" in samples:
        console.print(f"  {_deferred_line(int(samples['evidence_deferred'].sum()), len(samples))}")


def _decided_by(analysis: Analysis, label: str, basis: str, judged: int) -> str:
    """What a figure rests on: evidence alone, or a judge too and how well it was validated."""
    if basis == "evidence" or not judged:
        return "evidence"
    record = analysis.trust.validation if analysis.trust else None
    kappa = record.labels[label].kappa if record and label in record.labels else None
    if basis == "validated judge":
        return "validated judge" + (f", kappa {kappa:.2f}" if kappa is not None else "")
    return "UNVALIDATED judge: not a finding"


def _print_not_findings(analysis: Analysis) -> None:
    """Every label whose figures rest on an unvalidated judge, with its counts, set apart."""
    from insider.classify import LABELS

    rates = analysis.rates
    if rates.empty or "basis" not in rates:
        return
    shaky = set(rates.loc[rates["basis"] == "unvalidated judge", "label"])
    if not shaky:
        return
    sums = rates.groupby("label", sort=False)[["k", "n_valid", "n_judged"]].sum()
    parts = [
        f"{label} {int(sums.loc[label, 'k'])}/{int(sums.loc[label, 'n_valid'])} harmful "
        f"({int(sums.loc[label, 'n_judged'])} verdicts by the judge)"
        for label in LABELS
        if label in shaky
    ]
    judge = analysis.trust.judge_id if analysis.trust else analysis.judge_id
    err_console.print(
        f"[bold yellow]not findings:[/] these rest on judge {escape(judge)}, which is not "
        f"validated for them: {escape('; '.join(parts))}",
        highlight=False,
        soft_wrap=True,
    )


def _print_spend(analysis: Analysis) -> None:
    """What each model and judge used and cost, and the total."""
    from insider.analyze import total_cost

    spend = analysis.spend
    if spend.empty:
        return
    table = Table(title="Spend (measured usage, priced with the run's price table)")
    for column in ("role", "name", "calls", "batched", "input", "cached input", "output", "cost"):
        left = column in {"role", "name"}
        table.add_column(column, justify="left" if left else "right", overflow="fold")
    for row in spend.itertuples():
        table.add_row(
            str(row.role),
            str(row.name),
            f"{row.calls:,}",
            f"{row.batch_calls:,}",
            f"{row.input_tokens:,}",
            f"{row.cached_input_tokens:,}",
            f"{row.output_tokens:,}",
            f"${row.cost_usd:,.4f}" if row.priced else "unknown (no price)",
        )
    console.print(table)
    total = total_cost(spend)
    shown = (
        "unknown: a model or judge has no price (give it one with --prices)"
        if total is None
        else f"${total:,.4f} in all"
    )
    console.print(f"  spend:   {shown}")


@app.command("mcp-server")
@handle_errors
def mcp_server(
    file: ExperimentFile,
    condition: Annotated[
        str,
        typer.Option("--condition", help="Condition id to serve (see insider conditions FILE)."),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Run directory (default runs/<experiment id>).")
    ] = None,
    http: Annotated[
        int | None,
        typer.Option("--http", min=0, max=65535, help="Serve streamable HTTP on 127.0.0.1:PORT."),
    ] = None,
    agent: Annotated[
        str, typer.Option("--agent", help="Name of the connecting agent in tables (agent/NAME).")
    ] = "mcp-client",
    time_limit: Annotated[
        float, typer.Option("--time-limit", help="Seconds before the episode ends.")
    ] = 3600.0,
) -> None:
    """Serve one agentic episode of one condition to an MCP client; its sample goes to RUN_DIR.

    Over stdio by default (an agent CLI starts this command as its MCP server), or streamable
    HTTP on loopback with --http PORT (URL http://127.0.0.1:PORT/mcp). The tools are the agentic
    mode's; the task is the MCP prompt `task` and resources. The episode ends when the agent
    calls done, the turn limit or the world's deadline passes, --time-limit runs out, or the
    client disconnects (then the sample is an error). Then `insider classify RUN_DIR`, `analyze`
    and `report` work as for any run; every session adds a sample. See docs/agents.md.
    """
    from insider.experiment import load_experiment
    from insider.files import read_yaml_mapping
    from insider.pipeline import serve_session
    from insider.run import default_run_dir

    config = load_experiment(file)
    raw = read_yaml_mapping(file, "experiment file")

    def ready(url: str | None) -> None:
        where = f"streamable HTTP at {url}" if url else "stdio"
        err_console.print(f"insider mcp-server: serving {condition} over {where}", highlight=False)

    summary = serve_session(
        config,
        raw,
        condition,
        out or default_run_dir(config.id),
        agent_name=agent,
        http_port=http,
        time_limit=time_limit,
        on_ready=ready,
    )
    outcome = f"error: {summary.error}" if summary.error else f"ended: {summary.end_reason}"
    err_console.print(
        f"Session {summary.sample_id} ({outcome}); log: {summary.log_file}\n"
        f"Score it with: insider classify {summary.run_dir.root}",
        highlight=False,
        markup=False,
    )


RunDirArgument = Annotated[Path, typer.Argument(help="A run directory (runs/<experiment id>).")]
JudgeTimeoutOption = Annotated[
    int | None,
    typer.Option(
        "--judge-timeout",
        min=1,
        help=(
            "Seconds a judge call may take, retries included (a judge's timeout: in an "
            "experiment file); a call past it leaves its labels unscored. Default: the "
            "provider's client timeout, retried without end."
        ),
    ),
]


def _existing_run_dir(path: Path) -> RunDir:
    from insider.run import RunDir, read_marker

    read_marker(path)
    return RunDir(path)


@app.command()
@handle_errors
def classify(
    run_dir: Annotated[
        Path | None, typer.Argument(help="Run directory to (re-)score.", show_default=False)
    ] = None,
    judge: Annotated[
        list[str] | None,
        typer.Option("--judge", help="Judge model (Inspect model string); repeat for a panel."),
    ] = None,
    aggregation: Annotated[
        str, typer.Option("--aggregation", help="Panel rule: majority, any or all.")
    ] = "majority",
    judge_timeout: JudgeTimeoutOption = None,
    transcripts: Annotated[
        Path | None,
        typer.Option(
            "--transcripts",
            help=(
                "Score transcripts made elsewhere: a JSONL file, the original framework's "
                "results folder, an Inspect .eval log or a folder of logs."
            ),
        ),
    ] = None,
    world: Annotated[
        str | None,
        typer.Option(
            "--world",
            help=(
                "For --transcripts: a world profile YAML, the name of a world insider ships "
                "(ferrowen, halden), or `original` for answers from the original research's "
                "world (profile derived from the replication extra)."
            ),
        ),
    ] = None,
    rubric: Annotated[
        str,
        typer.Option(
            "--rubric",
            help=(
                "insider (our rubric; evidence first, then the judges) or original (the "
                "original research's classifiers from the replication extra, with one --judge "
                "as their grader; scored apart, labels/original-rubric__MODEL.jsonl)."
            ),
        ),
    ] = "insider",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help=(
                "Where --transcripts writes labels.csv/.parquet and verdicts.jsonl (default "
                "./labels); a new, empty or earlier output folder."
            ),
        ),
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels",
            help=(
                "The labels the judges decide, comma-separated (default: all eight), e.g. "
                "blackmail,leak,lethal; the others are recorded as not requested (neither "
                "safe nor harmful). A scoring of some labels has its own judge id."
            ),
        ),
    ] = None,
) -> None:
    """Score a run again (offline, agent outputs untouched), or transcripts from elsewhere.

    Each scoring is kept under its judge id in RUN_DIR/labels/, so earlier scorings stay.
    Without --judge only evidence decides; labels that need a judge are then unscored.
    With --rubric original the original research's classifiers decide, with the one --judge
    as their grader (samples of world original only; see docs/replication.md).
    """
    from insider.experiment import JudgeSpec

    if aggregation not in ("majority", "any", "all"):
        raise ConfigError(f"--aggregation {aggregation!r}: allowed: majority, any, all")
    if rubric not in ("insider", "original"):
        raise ConfigError(f"--rubric {rubric!r}: allowed: insider, original")
    if rubric == "original" and len(judge or []) != 1:
        raise ConfigError("--rubric original needs exactly one --judge: the grader model")
    judges = [
        JudgeSpec.model_validate({"model": name, "rubric": rubric, "timeout": judge_timeout})
        for name in judge or []
    ]
    chosen = _labels_option(labels)
    if chosen is not None and rubric == "original":
        raise ConfigError("--labels goes with --rubric insider (the original rubric has its own)")
    if transcripts is not None:
        _classify_foreign(transcripts, world, judges, aggregation, out)
        return
    if run_dir is None:
        raise ConfigError(
            "give a RUN_DIR to re-score, or --transcripts PATH --world WORLD.yaml|original"
        )
    from insider.pipeline import classify_run, our_world_profile
    from insider.run import lock_run_dir

    directory = _existing_run_dir(run_dir)
    with lock_run_dir(directory.root):  # before the judges exist: a busy run dir pays nothing
        scoring = classify_run(directory, judges, aggregation, our_world_profile(), labels=chosen)
    _print_scoring(scoring)
    console.print(f"Analyze it with: insider analyze {run_dir} --judge-id {scoring.judge_id}")


def _labels_option(text: str | None) -> list[str] | None:
    """``--labels a,b,c`` checked against the labels insider knows."""
    from insider.experiment import check_labels

    if text is None:
        return None
    try:
        return check_labels([part.strip() for part in text.split(",") if part.strip()])
    except ValueError as exc:
        raise ConfigError(f"--labels {text!r}: {exc}") from exc


def _classify_foreign(
    transcripts: Path,
    world: str | None,
    judges: Sequence[JudgeSpec],
    aggregation: str,
    out: Path | None,
) -> None:
    from insider.pipeline import classify_foreign

    if world is None:
        raise ConfigError(
            "--transcripts needs --world: a profile YAML, a world name, or original "
            "(see docs/transcripts.md)"
        )
    summary = classify_foreign(transcripts, world, judges, aggregation, out or Path("labels"))
    states = ", ".join(f"{state} {count}" for state, count in sorted(summary.states.items()))
    console.print(
        f"Scored {summary.transcripts} transcripts ({summary.judge_calls} judge calls; "
        f"label states: {states or 'none'})"
    )
    console.print(f"  {_deferred_line(summary.deferred, summary.transcripts)}")
    if summary.trust is not None:
        _print_trust(summary.trust)
    for path in summary.files:
        console.print(f"  wrote {path}")


def _deferred_line(deferred: int, samples: int) -> str:
    share = f" ({100 * deferred / samples:.0f} %)" if samples else ""
    return (
        f"evidence deferred on {deferred} of {samples} samples{share}: text that looked like an "
        "action was not understood, so its labels went to the judge (unscored without one)"
    )


@app.command()
@handle_errors
def analyze(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(
            help=(
                "A run directory (runs/<experiment id>), or several shards of one run "
                "(insider run --shard K/N), merged into the tables one unsharded run gives."
            ),
            show_default=False,
        ),
    ],
    judge_id: Annotated[
        str | None, typer.Option("--judge-id", help="Which scoring to analyze (labels/<id>.jsonl).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Directory for the tables (default RUN_DIR; needed for several)."
        ),
    ] = None,
    prices: Annotated[
        Path | None,
        typer.Option("--prices", help="Price table for the spend (default: the run's own)."),
    ] = None,
) -> None:
    """The tables, as Parquet and CSV: samples, rates (Wilson 95 %), contrasts (Newcombe 95 %),
    eval awareness, robustness across variants, the approval gate (attempted vs executed), and
    the spend per model and judge.
    """
    from insider.pipeline import analyze_runs
    from insider.run import load_prices, lock_run_dir

    if out is not None and out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a directory")
    if len(run_dirs) > 1 and out is None:
        raise ConfigError("several run directories merge into one set of tables: give --out DIR")
    if prices is not None:
        load_prices(prices)
    directories = [_existing_run_dir(path) for path in run_dirs]
    with contextlib.ExitStack() as held:
        for directory in directories:
            held.enter_context(lock_run_dir(directory.root))
        analysis = analyze_runs(directories, judge_id, out, prices=prices)
    _print_headline(analysis)
    _print_spend(analysis)
    _print_shards(directories)
    for path in analysis.files:
        console.print(f"  wrote {path}")


def _print_shards(directories: Sequence[RunDir]) -> None:
    """Say which shards were merged, and which of the run's shards are missing."""
    from insider.run import read_marker

    shards = [read_marker(d.root).get("shard") for d in directories]
    named = [str(shard) for shard in shards if shard]
    if not named:
        return
    total = int(named[0].split("/")[1])
    have = {int(shard.split("/")[0]) for shard in named}
    missing = sorted(set(range(1, total + 1)) - have)
    console.print(f"  shards:  merged {', '.join(sorted(named))}")
    if missing:
        err_console.print(
            f"[bold yellow]note:[/] shards {', '.join(f'{k}/{total}' for k in missing)} are "
            "not among these run directories: the tables cover only the shards given",
            highlight=False,
        )


@app.command()
@handle_errors
def report(
    run_dir: RunDirArgument,
    judge_id: Annotated[
        str | None, typer.Option("--judge-id", help="Which scoring to report (labels/<id>.jsonl).")
    ] = None,
) -> None:
    """Write RUN_DIR/report.html (self-contained, offline) and figures/ as SVG and PNG."""
    from insider.pipeline import analyze_run, report_run
    from insider.run import lock_run_dir

    directory = _existing_run_dir(run_dir)
    with lock_run_dir(directory.root):
        analysis = analyze_run(directory, judge_id)
        path = report_run(directory, analysis)
    console.print(f"Report: [bold]{path}[/]  (figures in {directory.figures})")


@app.command("validate-judges")
@handle_errors
def validate_judges(
    judge: Annotated[
        list[str] | None,
        typer.Option("--judge", help="Judge model (Inspect model string); repeat for a panel."),
    ] = None,
    aggregation: Annotated[
        str, typer.Option(help="Panel rule: majority, any or all.")
    ] = "majority",
    gold: Annotated[
        Path | None, typer.Option("--gold", help="Gold JSONL (default: every shipped gold set).")
    ] = None,
    profile: Annotated[
        Path | None, typer.Option("--profile", help="World profile of the gold set.")
    ] = None,
    store: Annotated[
        bool,
        typer.Option(
            "--store/--no-store",
            help="Store the result for this judge id, where runs look it up (default: store).",
        ),
    ] = True,
    judge_timeout: JudgeTimeoutOption = None,
) -> None:
    """Score judges against the gold sets: accuracy and Cohen's kappa per label, stored.

    Without --gold, every shipped gold set is scored: the test-world set and one per scenario
    world (e.g. the held-out halden family). Labels that evidence alone decides must be right on
    every gold transcript; any miss is listed and the command exits 1.

    The result is stored per judge id (a panel is validated as the panel: its models and
    aggregation) in $INSIDER_JUDGES_DIR, else $XDG_DATA_HOME/insider/judges. Runs classified
    with this judge id record it, and their reports show each label's figures as resting on a
    validated judge (kappa >= 0.6 on at least 10 gold transcripts the judge decided, 80 %
    answered) or on an unvalidated one, which are not findings.
    """
    import asyncio

    from insider.classify import GOLD_DIR, judge_validation, load_profile, store_validation
    from insider.classify import validate_judges as run_validation
    from insider.experiment import JudgeSpec
    from insider.pipeline import judge_models, shipped_gold_sets

    if aggregation not in ("majority", "any", "all"):
        raise ConfigError(f"--aggregation {aggregation!r}: allowed: majority, any, all")
    if gold is not None:
        sets = [(gold.name, gold, load_profile(profile or GOLD_DIR / "profile.yaml"))]
    elif profile is not None:
        raise ConfigError("--profile needs --gold (the shipped sets carry their own profiles)")
    else:
        sets = shipped_gold_sets()
    specs = [JudgeSpec(model=name, timeout=judge_timeout) for name in judge or []]
    judges = judge_models(specs)
    mismatches: list[str] = []
    reports = []
    for name, path, world in sets:
        result = asyncio.run(run_validation(path, world, judges, aggregation))
        _print_gold_report(name, result)
        reports.append((name, result))
        mismatches += [f"{name}: {line}" for line in result.evidence_mismatches]
    if judges:
        described = [
            spec.model_dump(include={"model", "temperature", "max_tokens"}) for spec in specs
        ]
        validation = judge_validation(reports, described, aggregation)
        _print_validation(validation)
        if store:
            stored = escape(str(store_validation(validation)))
            console.print(f"Stored for judge id {validation.judge_id}: [bold]{stored}[/]")
    else:
        console.print("Evidence only: no judge to validate, nothing stored.")
    if mismatches:
        for line in mismatches:
            err_console.print(f"evidence mismatch: {escape(line)}", highlight=False)
        raise RunError(f"{len(mismatches)} evidence decisions disagree with gold")


def _print_validation(validation: JudgeValidation) -> None:
    """Per label: the judge's own record over every gold set, and whether it passes."""
    sets = ", ".join(f"{g.name} ({g.version})" for g in validation.gold_sets)
    table = Table(title=f"Judge {validation.judge_id}, on the transcripts it decided ({sets})")
    for column in ("label", "judged", "answered", "accuracy", "kappa", "validated"):
        table.add_column(column, justify="left" if column in {"label", "validated"} else "right")
    for label, record in validation.labels.items():
        table.add_row(
            label,
            str(record.n_judged),
            str(record.answered),
            "n/a" if record.accuracy is None else f"{100 * record.accuracy:.0f} %",
            "n/a" if record.kappa is None else f"{record.kappa:.2f}",
            ("yes" if record.validated else "NO") + f" ({record.why})",
        )
    console.print(table)


def _print_gold_report(name: str, result: GoldReport) -> None:
    table = Table(title=f"Judge {result.judge_id} on {result.n_samples} gold transcripts ({name})")
    for column in ("label", "accuracy", "kappa", "n", "by evidence", "by judge", "unscored"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for label, score in result.labels.items():
        kappa = "n/a" if score.kappa is None else f"{score.kappa:.2f}"
        table.add_row(
            label,
            f"{100 * score.accuracy:.0f} %",
            kappa,
            str(score.n),
            str(score.by_evidence),
            str(score.by_judge),
            str(score.unscored),
        )
    console.print(table)
    console.print(
        f"Needed a judge: {result.samples_judged} of {result.n_samples} samples "
        f"({100 * result.judge_sample_fraction:.0f} %), {result.labels_judged} labels "
        f"({100 * result.judge_label_fraction:.0f} %)."
    )


@app.command()
@handle_errors
def paraphrase(
    model: Annotated[str, typer.Argument(help="Model that drafts (Inspect model string).")],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Folder for the drafts (new, or a previous draft folder to resume)."
        ),
    ],
    world: Annotated[str, typer.Option("--world", help="The world to reword.")] = "ferrowen",
    max_connections: Annotated[int, typer.Option(help="Concurrent model calls.")] = 4,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.7,
) -> None:
    """Draft a new paraphrase of a world with a model, for a person to review before use.

    Every email, subject, the system prompt, the goal texts and the agent's story are reworded
    once; each draft must keep the original's template variables, logic, numbers and tags, or it
    is rejected (listed in REVIEW.md, saved under rejected/). Nothing is drafted at scoring time:
    review the folder, then copy it to `worlds/WORLD/paraphrases/N/`. Rerun to redraft what
    is missing or was rejected. Exits 1 if any text is still missing.
    """
    import asyncio

    from inspect_ai.model import GenerateConfig, get_model
    from rich.progress import Progress

    from insider.pipeline import draft_overlay, world_pieces
    from insider.scenarios import WORLDS_DIR, world_names

    if world not in world_names():
        raise ConfigError(f"unknown world {world!r}; allowed: {', '.join(world_names())}")
    root = WORLDS_DIR / world
    drafter = get_model(model, config=GenerateConfig(temperature=temperature))
    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task(f"drafting with {model}", total=len(world_pieces(root)))
        summary = asyncio.run(
            draft_overlay(
                root,
                drafter,
                out,
                model_name=model,
                max_connections=max_connections,
                on_done=lambda: progress.advance(task),
            )
        )
    console.print(
        f"Drafted {len(summary.written)} texts ({summary.skipped_existing} drafted earlier), "
        f"rejected {len(summary.rejected)}. Drafts: {out}; review notes: {out / 'REVIEW.md'}"
    )
    if summary.rejected:
        raise RunError(f"{len(summary.rejected)} drafts failed the checks; see {out / 'REVIEW.md'}")


@app.command()
@handle_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="Run directory for the demo.")] = Path(
        "runs/demo"
    ),
) -> None:
    """The offline demo: the local SmolLM2-135M model, all three scenarios, then the report.

    No network and no API key. Rerunning resumes; delete the directory to start over.
    """
    from insider.experiment import load_experiment_file
    from insider.run import check_models, check_run_dir, claimed_run_dir

    demo_file = Path(__file__).with_name("demo.yaml")
    config, raw = load_experiment_file(demo_file)
    check_run_dir(out, config)
    check_models(config)
    with claimed_run_dir(out, config, raw) as run_dir:
        console.print(f"[bold]insider demo[/]: {config.description}")
        _run_pipeline(config, run_dir, display=None, analyze_after=True)


FAST_EXIT_COMMANDS = frozenset({"run"})
"""Commands after which the console script exits without tearing the interpreter down."""


def main(argv: list[str] | None = None) -> NoReturn:
    """The ``insider`` console script: the typer app, then the process exit.

    After ``insider run`` every log and summary is written and closed, and what is left is
    interpreter teardown: freeing the ~10^6 objects Inspect, pydantic and the OpenAI SDK
    created, ~0.5 s of a short run. The process skips it (``os._exit``) once the atexit
    handlers have run (Inspect's stop any model servers it started) and stdio is flushed.
    Only this entry point does so, never the typer app that tests and libraries call.
    """
    args = sys.argv[1:] if argv is None else argv
    try:
        app(args=args, prog_name="insider")
    except SystemExit as done:
        code = done.code
    else:
        code = 0
    if args[:1] and args[0] in FAST_EXIT_COMMANDS:
        exit_without_teardown(code)
    sys.exit(code)


def exit_without_teardown(code: str | int | None) -> NoReturn:
    """Exit with ``code`` (as ``sys.exit`` reads it), skipping the interpreter's teardown.

    A thread that is not a daemon would be joined by a normal exit, so then exit normally.
    """
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon and t.is_alive() for t in threading.enumerate()):
        sys.exit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
