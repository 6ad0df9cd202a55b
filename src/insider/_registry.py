"""Inspect entry point: importing this module registers insider's model providers."""

from insider.agents._provider import external_agent  # noqa: F401
from insider.run._providers import llamacpp  # noqa: F401
