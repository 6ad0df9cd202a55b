"""Test tooling: a local OpenAI-compatible model server that injects faults on purpose.

`FakeModelServer` answers chat completions with scripted text or tool calls, after a chosen
latency, and fails chosen calls (429, 500, 503, timeouts, broken JSON). Inspect reaches it as
`get_model("openai-api/fake/test-model", base_url=server.base_url, api_key="x")`; see
`insider.testing._server` for the environment variables and limits.
"""

from insider.testing._config import (
    Answer,
    Answerer,
    ChatRequest,
    ChatTurn,
    FaultKind,
    Faults,
    Latency,
    ScriptRule,
    ServerLimits,
    ToolCall,
    ToolCallAnswer,
)
from insider.testing._server import FakeModelServer, Script
from insider.testing._stats import ServerStats

__all__ = [
    "Answer",
    "Answerer",
    "ChatRequest",
    "ChatTurn",
    "FakeModelServer",
    "FaultKind",
    "Faults",
    "Latency",
    "Script",
    "ScriptRule",
    "ServerLimits",
    "ServerStats",
    "ToolCall",
    "ToolCallAnswer",
]
