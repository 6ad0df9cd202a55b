"""Running models: Inspect tasks, the run engine, the local llama-cpp provider, dry-run costs."""

from insider.run._rundir import RunDir, prepare_run_dir
from insider.run._runner import RunSummary, check_models, render_all, run_experiment

__all__ = [
    "RunDir",
    "RunSummary",
    "check_models",
    "prepare_run_dir",
    "render_all",
    "run_experiment",
]
