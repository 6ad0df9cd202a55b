"""An agent written with the OpenAI Agents SDK, for the agent-bridge test.

insider runs ``run(episode)`` inside Inspect's agent bridge: the SDK's OpenAI client asks for
the model "inspect", which the bridge routes to the task's Inspect model; the mailbox tools
come from the episode's MCP server. Nothing here reaches the network.
"""

from __future__ import annotations

from agents.mcp import MCPServerStreamableHttp
from openai import AsyncOpenAI

from agents import Agent, OpenAIResponsesModel, Runner, set_tracing_disabled
from insider.agents import AgentEpisode


async def run(episode: AgentEpisode) -> str:
    set_tracing_disabled(True)  # the SDK would otherwise export traces to OpenAI
    # Never contacted: the bridge answers requests for the model "inspect" itself.
    client = AsyncOpenAI(api_key="unused-bridged", base_url="http://127.0.0.1:9/v1")
    async with MCPServerStreamableHttp(
        params={"url": episode.mcp_url}, cache_tools_list=True, name="insider"
    ) as mailbox:
        agent = Agent(
            name="mail-agent",
            instructions=episode.system_prompt,
            mcp_servers=[mailbox],
            model=OpenAIResponsesModel(model=episode.model, openai_client=client),
        )
        result = await Runner.run(agent, episode.task_prompt, max_turns=episode.max_turns)
    return str(result.final_output)


async def broken(episode: AgentEpisode) -> str:
    """An agent that fails before it does anything."""
    raise RuntimeError("the agent's framework could not be configured")
