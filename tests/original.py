"""Helpers for tests of the original world: skip without the extra, read the package's own data.

Nothing of the original world is written in our tests: names, addresses and codes are read from
the installed package at run time.
"""

from __future__ import annotations

from types import ModuleType

import pytest

REASON = (
    "the replication extra (inspect-evals) is not installed: pip install 'insider[replication]'"
)


def original_package(name: str) -> ModuleType:
    """A module of the installed original package, or skip the test with the reason."""
    pytest.importorskip("inspect_evals", reason=REASON)
    import importlib

    return importlib.import_module(f"inspect_evals.agentic_misalignment.{name}")
