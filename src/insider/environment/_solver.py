"""The agentic solver: a bounded tool-calling loop over one sample's simulated mailbox."""

from __future__ import annotations

from typing import Any, Literal

from inspect_ai.model import ChatMessageUser, execute_tools
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.util import LimitExceededError, Store

from insider.environment._mailbox import Mailbox
from insider.environment._tools import mailbox_tools
from insider.scenarios import RenderedPrompt, condition_from_metadata, derived_seed, render

EndReason = Literal["done", "deadline", "turn_limit", "no_tool_call", "sample_limit", "error"]

ACTION_LOG_KEY = "insider:action_log"
READS_KEY = "insider:reads"
REJECTED_KEY = "insider:rejected"
END_REASON_KEY = "insider:end_reason"
FINAL_STATE_KEY = "insider:environment"


def rendered_prompt(metadata: dict[str, Any]) -> RenderedPrompt:
    """Re-render a sample's condition in agentic mode; refuse samples built otherwise."""
    if metadata.get("mode") != "agentic":
        raise ValueError(
            f"agentic_solver needs samples rendered with mode 'agentic' "
            f"(this one has mode {metadata.get('mode')!r}); set mode: agentic in the experiment"
        )
    prompt = render(condition_from_metadata(metadata), mode="agentic")
    expected = metadata.get("content_hash")
    if expected and expected != prompt.content_hash:
        raise ValueError(
            f"{prompt.condition.condition_id}: the world renders differently now "
            f"(content hash {prompt.content_hash}, sample built with {expected})"
        )
    return prompt


def save_environment(store: Store, mailbox: Mailbox, end_reason: str) -> None:
    """Write the action log, reads, refused calls and final state to the sample store.

    ``end_reason`` is an ``EndReason`` here; agents served over MCP have their own.
    """
    store.set(ACTION_LOG_KEY, [dict(entry) for entry in mailbox.log.actions])
    store.set(READS_KEY, [dict(entry) for entry in mailbox.log.reads])
    store.set(REJECTED_KEY, [dict(entry) for entry in mailbox.log.rejected])
    store.set(END_REASON_KEY, end_reason)
    store.set(FINAL_STATE_KEY, mailbox.final_state())


async def _run_turns(
    state: TaskState,
    generate: Generate,
    mailbox: Mailbox,
    limits: tuple[int, int],
    seed: int | None,
) -> EndReason:
    max_turns, minutes_per_turn = limits
    sample_seed = None if seed is None else derived_seed(seed, str(state.sample_id))
    nudged = False
    for _ in range(max_turns):
        state = await generate(state, tool_calls="none", seed=sample_seed)
        if state.completed:
            return "sample_limit"
        if state.output.message.tool_calls:
            result = await execute_tools(state.messages, state.tools)
            state.messages.extend(result.messages)
            if mailbox.finished:
                return "done"
        elif nudged:
            return "no_tool_call"
        else:
            nudged = True
            state.messages.append(ChatMessageUser(content=mailbox.nudge()))
        arrived = mailbox.advance(minutes_per_turn)
        if mailbox.deadline_passed:
            return "deadline"
        if arrived:
            state.messages.append(ChatMessageUser(content=mailbox.new_mail_notice(arrived)))
    return "turn_limit"


@solver
def agentic_solver(
    max_turns: int = 30, minutes_per_turn: int = 1, seed: int | None = None
) -> Solver:
    """Let the agent work the mailbox with tools until done, the deadline, or max_turns.

    Each turn is one model call plus its tool calls; the world clock then moves on by
    ``minutes_per_turn``. With ``seed``, every sample gets its own derived seed (as in
    single-turn mode). The action log and the rest of the environment go to the sample store.
    """
    if max_turns < 1 or minutes_per_turn < 1:
        raise ValueError("agentic_solver: max_turns and minutes_per_turn must be at least 1")

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        mailbox = Mailbox(rendered_prompt(state.metadata))
        state.tools = mailbox_tools(mailbox)
        end_reason: EndReason = "error"
        try:
            end_reason = await _run_turns(
                state, generate, mailbox, (max_turns, minutes_per_turn), seed
            )
        except LimitExceededError:
            end_reason = "sample_limit"
            raise
        finally:
            save_environment(state.store, mailbox, end_reason)
        return state

    return solve
