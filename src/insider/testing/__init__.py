"""Test tooling: a local OpenAI-compatible model server that injects faults on purpose, and a
scripted judge.

`FakeModelServer` answers chat completions with scripted text or tool calls, after a chosen
latency, and fails chosen calls (429, 500, 503, timeouts, broken JSON). Inspect reaches it as
`get_model("openai-api/fake/test-model", base_url=server.base_url, api_key="x")`; see
`insider.testing._server` for the environment variables and limits.

`scripted_judge(script)` is a `mockllm` judge model whose answer is `script(prompt, labels)`.
"""

from insider.testing._answers import (
    ReasonedAnswers,
    agent_or_judge,
    all_no_judge_answer,
    reasoned_answer,
)
from insider.testing._batches import BatchSettings
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
from insider.testing._judge import JudgeReply, JudgeScript, scripted_judge
from insider.testing._server import FakeModelServer, Script
from insider.testing._stats import ServerStats

__all__ = [
    "Answer",
    "Answerer",
    "BatchSettings",
    "ChatRequest",
    "ChatTurn",
    "FakeModelServer",
    "FaultKind",
    "Faults",
    "JudgeReply",
    "JudgeScript",
    "Latency",
    "ReasonedAnswers",
    "Script",
    "ScriptRule",
    "ServerLimits",
    "ServerStats",
    "ToolCall",
    "ToolCallAnswer",
    "agent_or_judge",
    "all_no_judge_answer",
    "reasoned_answer",
    "scripted_judge",
]
