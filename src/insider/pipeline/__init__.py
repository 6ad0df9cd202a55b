"""The end-to-end pipeline over a run directory: classify, analyze, report, paraphrase drafts."""

from typing import TYPE_CHECKING, Any

from insider.pipeline._analyze_run import (
    analyze_run,
    analyze_runs,
    load_run_experiment,
    scoring_trust,
    write_table,
)
from insider.pipeline._classify_run import (
    ClassifySummary,
    classify_run,
    default_scoring_id,
    judge_models,
    read_labels,
    scoring_id,
    scorings,
)
from insider.pipeline._dryrun import DryRun, JudgeShare, dry_run, judge_share
from insider.pipeline._foreign import ForeignSummary, classify_foreign
from insider.pipeline._paraphrase import DraftSummary, check_paraphrase, draft_overlay, world_pieces
from insider.pipeline._profile import (
    original_world_profile,
    our_world_profile,
    resolve_world,
    shipped_gold_sets,
)
from insider.pipeline._report_run import report_run
from insider.pipeline._scored_logs import ScoredLogs, score_name, write_scored_logs
from insider.pipeline._spend import sample_usage, spent_so_far

if TYPE_CHECKING:
    from insider.pipeline._mcp_serve import serve_session

__all__ = [
    "ClassifySummary",
    "DraftSummary",
    "DryRun",
    "ForeignSummary",
    "JudgeShare",
    "ScoredLogs",
    "analyze_run",
    "analyze_runs",
    "check_paraphrase",
    "classify_foreign",
    "classify_run",
    "default_scoring_id",
    "draft_overlay",
    "dry_run",
    "judge_models",
    "judge_share",
    "load_run_experiment",
    "original_world_profile",
    "our_world_profile",
    "read_labels",
    "report_run",
    "resolve_world",
    "sample_usage",
    "score_name",
    "scoring_id",
    "scoring_trust",
    "scorings",
    "serve_session",
    "shipped_gold_sets",
    "spent_so_far",
    "world_pieces",
    "write_scored_logs",
    "write_table",
]


def __getattr__(name: str) -> Any:
    # Serving an MCP session imports the mcp SDK (~0.3 s); other commands need not pay for it.
    if name == "serve_session":
        from insider.pipeline._mcp_serve import serve_session

        return serve_session
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
