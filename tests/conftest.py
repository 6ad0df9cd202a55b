"""Shared test set-up.

Tests of the real local model skip, with the reason, where it cannot run. Judge validations
go to a temporary store, never the user's. inspect-evals (the
``replication`` extra) brings the Hugging Face hub client along, and Inspect imports its task
registry with every model: nothing in a test may reach the hub.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

# Judge validations are stored per user (insider validate-judges) and looked up by every
# classification: tests never read or write the real store. Subprocesses inherit this.
_JUDGES_DIR = tempfile.mkdtemp(prefix="insider-judges-")
os.environ["INSIDER_JUDGES_DIR"] = _JUDGES_DIR
atexit.register(shutil.rmtree, _JUDGES_DIR, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    marked = [item for item in items if item.get_closest_marker("local_model")]
    if not marked:
        return
    from insider.run import local_model_problem

    problem = local_model_problem()
    if problem is None:
        return
    skip = pytest.mark.skip(reason=f"needs the local model, which cannot run here: {problem}")
    for item in marked:
        item.add_marker(skip)
