"""Inspect entry point: importing this module registers insider's model providers."""

from insider.run._providers import llamacpp  # noqa: F401
