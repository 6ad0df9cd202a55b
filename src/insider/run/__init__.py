"""Running models: Inspect tasks, the run engine, the local llama-cpp provider, dry-run costs."""

from insider.run._dryrun import CHARS_PER_TOKEN, ModelEstimate, Price, estimate, load_prices
from insider.run._engine import current_sample_id
from insider.run._engine_progress import Display
from insider.run._local import local_model_problem
from insider.run._logs import AgentSample, iter_agent_samples, run_log_files
from insider.run._rundir import (
    RunDir,
    default_run_dir,
    prepare_run_dir,
    read_marker,
    scrub_secrets,
)
from insider.run._runner import RunSummary, check_models, render_all, run_experiment
from insider.run._task import TASK_PREFIX, build_samples, build_task, task_name

__all__ = [
    "CHARS_PER_TOKEN",
    "TASK_PREFIX",
    "AgentSample",
    "Display",
    "ModelEstimate",
    "Price",
    "RunDir",
    "RunSummary",
    "build_samples",
    "build_task",
    "check_models",
    "current_sample_id",
    "default_run_dir",
    "estimate",
    "iter_agent_samples",
    "load_prices",
    "local_model_problem",
    "prepare_run_dir",
    "read_marker",
    "render_all",
    "run_experiment",
    "run_log_files",
    "scrub_secrets",
    "task_name",
]
