"""Python agents written with other frameworks, run through Inspect's agent bridge.

``agent: {python: "package.module:function"}`` names an ``async def function(episode)``. It
gets an ``AgentEpisode``: the prompts, the URL of the episode's MCP server (the mailbox tools),
and the model name to give its OpenAI client (``"inspect"``). Inside ``agent_bridge()``
Inspect routes that client's requests (Chat Completions or Responses API) to the task's
Inspect model, so any Inspect model serves the agent, offline ones included. The OpenAI
Agents SDK is the framework Inspect's bridge documents first; LangChain and Pydantic AI work
the same way through their OpenAI clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import os
import secrets
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from inspect_ai.agent import AgentState, agent_bridge
from inspect_ai.solver import TaskState

from insider.agents._episode import Episode
from insider.agents._server import bind_loopback, serve_http
from insider.errors import ConfigError
from insider.experiment import PythonAgentSpec

BRIDGE_MODEL = "inspect"
EXIT_GRACE = 30.0  # seconds a bridged agent has to finish after its episode ended


@dataclass(frozen=True)
class AgentEpisode:
    """What a Python agent is handed for one episode."""

    system_prompt: str
    task_prompt: str
    mcp_url: str
    model: str
    max_turns: int
    sample_id: str
    condition_id: str

    @property
    def prompt(self) -> str:
        """The system prompt and the task in one text."""
        return f"{self.system_prompt}\n\n{self.task_prompt}"


AgentFunction = Callable[[AgentEpisode], Coroutine[Any, Any, Any]]


def load_agent_function(reference: str) -> AgentFunction:
    """Import ``package.module:function``; it must be an async function. ConfigError if not.

    The current directory is importable, as for ``python -m``: an agent module next to the
    experiment needs no installation.
    """
    module_name, _, name = reference.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"agent python {reference!r}: cannot import {module_name}: {exc}"
        ) from exc
    function = getattr(module, name, None)
    if function is None:
        raise ConfigError(f"agent python {reference!r}: {module_name} has no {name!r}")
    if not inspect.iscoroutinefunction(function):
        raise ConfigError(
            f"agent python {reference!r}: must be an async function taking an AgentEpisode "
            "(the bridge routes the agent's async OpenAI client)"
        )
    return function  # type: ignore[no-any-return]


def python_driver(
    spec: PythonAgentSpec, max_turns: int
) -> Callable[[Episode, TaskState], Awaitable[str | None]]:
    """The driver that runs a Python agent in the bridge for one episode."""
    function = load_agent_function(spec.python)

    async def drive(episode: Episode, state: TaskState) -> str | None:
        path = f"/{secrets.token_urlsafe(16)}/mcp"
        async with serve_http(episode, bind_loopback(0), path) as url:
            handed = AgentEpisode(
                system_prompt=episode.system_prompt,
                task_prompt=episode.task_prompt,
                mcp_url=url,
                model=BRIDGE_MODEL,
                max_turns=max_turns,
                sample_id=str(state.sample_id),
                condition_id=str(state.metadata.get("condition_id", "")),
            )
            async with agent_bridge(AgentState(messages=list(state.messages))) as bridge:
                result = await _run(function, handed, episode)
            if bridge.state.messages:
                state.messages = bridge.state.messages
            state.output = bridge.state.output
            return result

    return drive


async def _run(function: AgentFunction, handed: AgentEpisode, episode: Episode) -> str | None:
    """Run the agent until it returns; once the episode is over it has EXIT_GRACE to do so."""
    running = asyncio.create_task(function(handed))
    over = asyncio.create_task(episode.ended.wait())
    try:
        await asyncio.wait({running, over}, return_when=asyncio.FIRST_COMPLETED)
        if not running.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(running), EXIT_GRACE)
    finally:
        over.cancel()
        if not running.done():
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running
    if running.cancelled():
        return None
    error = running.exception()
    if error is not None:
        if not episode.is_over:
            episode.end("agent_failed", f"the agent raised {type(error).__name__}: {error}")
        return None
    if not episode.is_over:
        episode.end("agent_exited", "the agent returned without calling done")
    result = running.result()
    return None if result is None else str(result)
