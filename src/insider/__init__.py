"""insider: stress-test LLM agents for insider-threat behaviour (agentic misalignment)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("insider")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = ["__version__"]
