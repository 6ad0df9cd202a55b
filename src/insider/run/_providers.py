"""insider's Inspect model providers, registered through the `inspect_ai` entry point.

Each provider imports its implementation only when Inspect asks for it, so that
`import insider` never pays for llama-cpp-python.
"""

from __future__ import annotations

from inspect_ai.model import ModelAPI, modelapi


@modelapi(name="llamacpp")
def llamacpp() -> type[ModelAPI]:
    """`llamacpp/smollm2` or `llamacpp/<path to .gguf>`: a GGUF model run in process."""
    from insider.run._local import LlamaCppAPI

    return LlamaCppAPI
