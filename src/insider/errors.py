"""Exception types that the CLI maps to exit codes, and how a validation error reads."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class InsiderError(Exception):
    """Base class of insider's own errors."""


class ConfigError(InsiderError):
    """Bad usage or configuration: the CLI reports it and exits with code 2.

    Messages name the file, the field and the allowed values where they apply.
    """


class RunError(InsiderError):
    """The work itself failed (exit code 1)."""


class BudgetReached(InsiderError):
    """The run stopped at its budget (``max_cost_usd``); a rerun with more continues (exit 3)."""


def describe_validation_error(exc: ValidationError) -> str:
    """One readable line per problem: the field path, what was wrong, the allowed values."""
    lines = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"]
        if error["type"] == "literal_error":
            expected = error.get("ctx", {}).get("expected", "")
            message = f"{json.dumps(error.get('input'))} is not allowed; allowed: {expected}"
        elif error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "value_error" and not error["loc"]:
            # A check of the whole object: its message names the fields itself.
            lines.append(str(error.get("ctx", {}).get("error", message)))
            continue
        lines.append(f"{location}: {message}")
    return "; ".join(lines)
