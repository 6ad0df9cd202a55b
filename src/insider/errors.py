"""Exception types that the CLI maps to exit codes."""

from __future__ import annotations


class InsiderError(Exception):
    """Base class of insider's own errors."""


class ConfigError(InsiderError):
    """Bad usage or configuration: the CLI reports it and exits with code 2.

    Messages name the file, the field and the allowed values where they apply.
    """


class RunError(InsiderError):
    """The work itself failed (exit code 1)."""
