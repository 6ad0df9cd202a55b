"""Running models: Inspect tasks, the run engine, the local llama-cpp provider, dry-run costs."""

from insider.failures import ErrorGroup
from insider.redact import redact_url, scrub_secrets
from insider.run._batches import (
    BATCH_IN_FLIGHT,
    BatchLedger,
    batch_key,
    ledger_path,
    quiet_batch_log,
    resumable_batches,
)
from insider.run._budget import Budget
from insider.run._dryrun import (
    CHARS_PER_TOKEN,
    MAX_INPUT_TOKENS,
    MAX_PLANNED_SAMPLES,
    ModelEstimate,
    RunSize,
    estimate,
    run_size,
)
from insider.run._engine import current_sample_id
from insider.run._engine_progress import Display
from insider.run._local import local_model_problem
from insider.run._lock import RunDirBusy, lock_run_dir
from insider.run._logs import AgentSample, iter_agent_samples, record_identity, run_log_files
from insider.run._prices import (
    PRICES_COPY,
    PRICES_FILE,
    Price,
    Prices,
    TokenUsage,
    keep_prices,
    load_prices,
    price_for,
    run_prices,
)
from insider.run._rundir import (
    RunDir,
    check_run_dir,
    claimed_run_dir,
    default_run_dir,
    prepare_run_dir,
    read_marker,
    record_spend,
)
from insider.run._runner import RunSummary, check_models, render_all, run_experiment
from insider.run._scored_logs import (
    ScoredCopy,
    copy_is_current,
    remove_stale_copies,
    source_stamp,
    write_scored_copy,
)
from insider.run._shard import Shard
from insider.run._task import (
    TASK_PREFIX,
    batch_config,
    build_samples,
    build_task,
    call_timeouts,
    task_name,
)

__all__ = [
    "BATCH_IN_FLIGHT",
    "CHARS_PER_TOKEN",
    "MAX_INPUT_TOKENS",
    "MAX_PLANNED_SAMPLES",
    "PRICES_COPY",
    "PRICES_FILE",
    "TASK_PREFIX",
    "AgentSample",
    "BatchLedger",
    "Budget",
    "Display",
    "ErrorGroup",
    "ModelEstimate",
    "Price",
    "Prices",
    "RunDir",
    "RunDirBusy",
    "RunSize",
    "RunSummary",
    "ScoredCopy",
    "Shard",
    "TokenUsage",
    "batch_config",
    "batch_key",
    "build_samples",
    "build_task",
    "call_timeouts",
    "check_models",
    "check_run_dir",
    "claimed_run_dir",
    "copy_is_current",
    "current_sample_id",
    "default_run_dir",
    "estimate",
    "iter_agent_samples",
    "keep_prices",
    "ledger_path",
    "load_prices",
    "local_model_problem",
    "lock_run_dir",
    "prepare_run_dir",
    "price_for",
    "quiet_batch_log",
    "read_marker",
    "record_identity",
    "record_spend",
    "redact_url",
    "remove_stale_copies",
    "render_all",
    "resumable_batches",
    "run_experiment",
    "run_log_files",
    "run_prices",
    "run_size",
    "scrub_secrets",
    "source_stamp",
    "task_name",
    "write_scored_copy",
]
