"""Inspect solvers for agent episodes: what any agent leaves in its sample, whatever drove it.

A driver runs one agent against an ``Episode`` (an MCP client over stdio or HTTP, a command,
a bridged Python function). The solver gives it the sample's world, enforces the wall-clock
limit, and writes the sample: the action log and environment (as the agentic mode does), the
MCP calls, and the messages. An episode that did not end validly makes the sample an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageTool,
    ModelOutput,
)
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.tool import ToolCall, ToolCallError

from insider.agents._episode import MCP_CALLS_KEY, MCP_CLIENT_KEY, CallRecord, Episode
from insider.environment import rendered_prompt, save_environment
from insider.experiment import AgentSpec, CommandAgentSpec

AGENT_KEY = "insider:agent"
AGENT_OUTPUT_KEY = "insider:agent_output"
AGENT_STDERR_KEY = "insider:agent_stderr"

Driver = Callable[[Episode, TaskState], Awaitable[str | None]]
"""Runs the agent until the episode ends; returns the agent's final output, if it gave one."""


class AgentEpisodeError(RuntimeError):
    """The agent died, never started, or left without a valid end: its sample is an error."""


def call_messages(calls: list[CallRecord]) -> list[ChatMessage]:
    """Each MCP call as an assistant tool call and its tool result (for transcripts)."""
    messages: list[ChatMessage] = []
    for call in calls:
        messages.append(
            ChatMessageAssistant(
                content="",
                tool_calls=[ToolCall(id=call.id, function=call.function, arguments=call.arguments)],
            )
        )
        messages.append(
            ChatMessageTool(
                content=call.result,
                tool_call_id=call.id,
                function=call.function,
                error=ToolCallError("unknown", call.error) if call.error else None,
            )
        )
    return messages


@solver
def episode_solver(
    driver: Driver,
    *,
    description: str,
    max_turns: int,
    minutes_per_turn: int,
    time_limit: float,
    transcript_from_calls: bool = True,
) -> Solver:
    """Serve the sample's mailbox to an agent through ``driver``; record the episode.

    ``transcript_from_calls`` appends the MCP calls to the messages (for agents whose model
    calls insider cannot see); a bridged agent's own messages come through the bridge instead.
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        episode = Episode(rendered_prompt(state.metadata), max_turns, minutes_per_turn)
        output: str | None = None
        limit = asyncio.timeout(time_limit)
        try:
            async with limit:
                output = await driver(episode, state)
        except TimeoutError:
            if not limit.expired():
                raise  # a TimeoutError of the agent's own, not the episode's limit
            episode.end("time_limit", f"{time_limit:g} s")
        finally:
            episode.end("error", "the episode was interrupted")  # no-op when already ended
            _record(state, episode, description, output, transcript_from_calls)
        if episode.failure is not None:
            raise AgentEpisodeError(episode.end_detail) from episode.failure
        if not episode.valid:
            raise AgentEpisodeError(_invalid_reason(episode))
        return state

    return solve


def _invalid_reason(episode: Episode) -> str:
    detail = f": {episode.end_detail}" if episode.end_detail else ""
    if episode.end_reason in ("agent_exited", "time_limit") and not episode.calls:
        return f"the agent made no tool call ({episode.end_reason}{detail})"
    return f"{episode.end_reason}{detail}"


def _record(
    state: TaskState,
    episode: Episode,
    description: str,
    output: str | None,
    transcript_from_calls: bool,
) -> None:
    save_environment(state.store, episode.mailbox, str(episode.end_reason))
    state.store.set(MCP_CALLS_KEY, episode.call_log())
    state.store.set(MCP_CLIENT_KEY, episode.client)
    state.store.set(AGENT_KEY, description)
    if episode.agent_stderr:
        state.store.set(AGENT_STDERR_KEY, episode.agent_stderr)
    if transcript_from_calls:
        state.messages.extend(call_messages(episode.calls))
    if output:
        state.store.set(AGENT_OUTPUT_KEY, output)
        if transcript_from_calls or not state.output.completion:
            state.messages.append(ChatMessageAssistant(content=output))
            state.output = ModelOutput.from_content(model=str(state.model), content=output)


def episode_metadata(description: str) -> dict[str, Any]:
    """Task metadata naming the agent, read back for the report's "what was run"."""
    return {"agent": description}


def agent_solver(spec: AgentSpec, *, max_turns: int, minutes_per_turn: int) -> Solver:
    """The solver for an experiment file's ``agent:`` entry (a command or a Python agent)."""
    from insider.agents._bridge import python_driver
    from insider.agents._command import command_driver

    if isinstance(spec, CommandAgentSpec):
        driver = command_driver(spec)
        from_calls = True
    else:
        driver = python_driver(spec, max_turns)
        from_calls = False
    return episode_solver(
        driver,
        description=spec.describe(),
        max_turns=max_turns,
        minutes_per_turn=minutes_per_turn,
        time_limit=spec.time_limit,
        transcript_from_calls=from_calls,
    )


def check_agent(spec: AgentSpec) -> None:
    """Fail before any sample: a command that cannot be found, a Python agent that won't import."""
    if isinstance(spec, CommandAgentSpec):
        from insider.agents._command import resolve_command

        resolve_command(spec)
    else:
        from insider.agents._bridge import load_agent_function

        load_agent_function(spec.python)


def mcp_session_solver(
    transport: Callable[[Episode], Awaitable[None]],
    *,
    description: str,
    max_turns: int,
    minutes_per_turn: int,
    time_limit: float,
) -> Solver:
    """Serve one episode to whichever MCP client connects through ``transport``."""

    async def drive(episode: Episode, state: TaskState) -> str | None:
        await transport(episode)
        return None

    return episode_solver(
        drive,
        description=description,
        max_turns=max_turns,
        minutes_per_turn=minutes_per_turn,
        time_limit=time_limit,
    )
