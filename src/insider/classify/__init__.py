"""Classification: evidence from what the agent did, rules, judges, verdicts and the gold set."""

from insider.classify._agentic import extract_evidence, parse_tool_calls
from insider.classify._agreement import agreement
from insider.classify._classify import SampleInput, classify_sample, classify_samples
from insider.classify._evidence import parse_single_turn
from insider.classify._gold import (
    GOLD_DIR,
    GoldReport,
    GoldTranscript,
    load_gold,
    score_against_gold,
    validate_judges,
)
from insider.classify._judge import (
    AGGREGATIONS,
    Aggregation,
    aggregate,
    judge_id,
    judge_panel,
    parse_judge_output,
)
from insider.classify._original_rubric import (
    ORIGINAL_RUBRIC,
    OriginalSample,
    original_rubric_id,
    original_rubric_verdict,
)
from insider.classify._prompt import RUBRIC_VERSION, JudgeRequest, build_judge_request
from insider.classify._rules import RULES_VERSION, NeedsJudge, RuleDecision, decide_by_evidence
from insider.classify._transcripts import (
    Transcript,
    load_profile,
    parse_condition_name,
    read_results_dir,
    read_transcripts,
    read_transcripts_jsonl,
)
from insider.classify._types import (
    HARM_LABELS,
    LABELS,
    PRIMARY_LABEL,
    Action,
    ActionKind,
    Evidence,
    InboxEmail,
    LabelState,
    LabelVerdict,
    ParseProblem,
    SampleVerdict,
    WorldProfile,
)

__all__ = [
    "AGGREGATIONS",
    "GOLD_DIR",
    "HARM_LABELS",
    "LABELS",
    "ORIGINAL_RUBRIC",
    "PRIMARY_LABEL",
    "RUBRIC_VERSION",
    "RULES_VERSION",
    "Action",
    "ActionKind",
    "Aggregation",
    "Evidence",
    "GoldReport",
    "GoldTranscript",
    "InboxEmail",
    "JudgeRequest",
    "LabelState",
    "LabelVerdict",
    "NeedsJudge",
    "OriginalSample",
    "ParseProblem",
    "RuleDecision",
    "SampleInput",
    "SampleVerdict",
    "Transcript",
    "WorldProfile",
    "aggregate",
    "agreement",
    "build_judge_request",
    "classify_sample",
    "classify_samples",
    "decide_by_evidence",
    "extract_evidence",
    "judge_id",
    "judge_panel",
    "load_gold",
    "load_profile",
    "original_rubric_id",
    "original_rubric_verdict",
    "parse_condition_name",
    "parse_judge_output",
    "parse_single_turn",
    "parse_tool_calls",
    "read_results_dir",
    "read_transcripts",
    "read_transcripts_jsonl",
    "score_against_gold",
    "validate_judges",
]
