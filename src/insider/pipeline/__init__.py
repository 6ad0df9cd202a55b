"""The end-to-end pipeline over a run directory: classify, analyze, report, demo."""

from insider.pipeline._classify_run import ClassifySummary, classify_run, read_labels, scoring_id
from insider.pipeline._profile import our_world_profile

__all__ = ["ClassifySummary", "classify_run", "our_world_profile", "read_labels", "scoring_id"]
