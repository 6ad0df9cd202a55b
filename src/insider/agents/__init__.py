"""Agents beyond a bare model: external programs over MCP, and Python agents via Inspect's bridge.

The mailbox world of one condition is served as an MCP server (``build_server``): the agentic
mode's tools, the task as a prompt and resources. ``agent_solver`` runs an experiment file's
``agent:`` entry against it; ``mcp_session_solver`` serves a client that connects on its own
(``insider mcp-server``). Either way the sample holds what an agentic sample holds.
"""

from insider.agents._bridge import AgentEpisode, load_agent_function
from insider.agents._episode import (
    MCP_CALLS_KEY,
    MCP_CLIENT_KEY,
    VALID_ENDS,
    CallOutcome,
    Episode,
    ToolSpec,
)
from insider.agents._server import (
    PROMPT_NAME,
    SYSTEM_URI,
    TASK_URI,
    bind_loopback,
    build_server,
    serve_http,
    serve_stdio,
)
from insider.agents._solver import (
    AGENT_KEY,
    AGENT_OUTPUT_KEY,
    AgentEpisodeError,
    agent_solver,
    check_agent,
    episode_metadata,
    mcp_session_solver,
)

__all__ = [
    "AGENT_KEY",
    "AGENT_OUTPUT_KEY",
    "MCP_CALLS_KEY",
    "MCP_CLIENT_KEY",
    "PROMPT_NAME",
    "SYSTEM_URI",
    "TASK_URI",
    "VALID_ENDS",
    "AgentEpisode",
    "AgentEpisodeError",
    "CallOutcome",
    "Episode",
    "ToolSpec",
    "agent_solver",
    "bind_loopback",
    "build_server",
    "check_agent",
    "episode_metadata",
    "load_agent_function",
    "mcp_session_solver",
    "serve_http",
    "serve_stdio",
]
