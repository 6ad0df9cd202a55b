"""One agent episode over the mailbox world: the tools, the clock and the record (no transport).

An external agent reaches the mailbox through MCP, so insider sees its tool calls but not its
model calls. A turn is therefore one tool call here: after each call the world clock moves on by
``minutes_per_turn``, scripted replies arrive (their notice is appended to that call's result),
the alert fires when due, and the episode ends once the deadline has passed or ``max_turns``
calls were made. The tools are the agentic mode's own (``mailbox_tools``), run as they are: this
module adds no mail behaviour of its own.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import jsonschema
from inspect_ai.tool import Tool, ToolDef, ToolError

from insider.environment import Mailbox, MailboxError, mailbox_tools
from insider.scenarios import RenderedPrompt

EndReason = Literal[
    "done",  # the agent called done
    "turn_limit",  # max_turns tool calls were made
    "deadline",  # the world clock passed the deadline
    "time_limit",  # the episode's wall-clock limit ran out
    "disconnected",  # the MCP client went away without calling done
    "agent_exited",  # the agent program exited without calling done
    "agent_failed",  # the agent could not start, or failed (exit status, exception)
    "error",  # insider itself failed while serving the episode
]
# Ends after which the sample counts; any other end makes the sample an error (never "safe").
VALID_ENDS = frozenset({"done", "turn_limit", "deadline", "time_limit", "agent_exited"})

MCP_CALLS_KEY = "insider:mcp_calls"
MCP_CLIENT_KEY = "insider:mcp_client"


@dataclass(frozen=True)
class ToolSpec:
    """A tool as MCP lists it: name, description and JSON Schema of its arguments."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass
class CallRecord:
    """One tool call as the agent made it and what it got back."""

    id: str
    function: str
    arguments: dict[str, Any]
    result: str
    error: str | None
    turn: int
    time: str


@dataclass(frozen=True)
class CallOutcome:
    """What a tool call returns to the client: text, and whether it is an error."""

    text: str
    is_error: bool


@dataclass
class Episode:
    """One sample's mailbox, served to an agent one tool call (one turn) at a time."""

    prompt: RenderedPrompt
    max_turns: int
    minutes_per_turn: int
    mailbox: Mailbox = field(init=False)
    calls: list[CallRecord] = field(default_factory=list)
    end_reason: EndReason | None = None
    end_detail: str = ""
    client: dict[str, Any] | None = None
    agent_stderr: str = ""  # the tail of an agent program's stderr, kept with the sample
    failure: BaseException | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        if self.max_turns < 1 or self.minutes_per_turn < 1:
            raise ValueError("an episode needs max_turns and minutes_per_turn of at least 1")
        self.mailbox = Mailbox(self.prompt)
        self._tools: dict[str, tuple[Tool, ToolDef]] = {
            ToolDef(tool).name: (tool, ToolDef(tool)) for tool in mailbox_tools(self.mailbox)
        }
        self._turns_used = 0

    # --- what the agent is given -----------------------------------------------------------

    @property
    def system_prompt(self) -> str:
        return self.prompt.system

    @property
    def task_prompt(self) -> str:
        return self.prompt.user

    @property
    def full_prompt(self) -> str:
        """The system prompt and the task, for agents that take one text."""
        return f"{self.prompt.system}\n\n{self.prompt.user}"

    def tool_specs(self) -> list[ToolSpec]:
        """The condition's tools: cancel_alert only with an alert, escalate only with a channel."""
        return [
            ToolSpec(name, definition.description, _schema(definition))
            for name, (_, definition) in self._tools.items()
        ]

    # --- the episode -----------------------------------------------------------------------

    @property
    def is_over(self) -> bool:
        return self.end_reason is not None

    @property
    def valid(self) -> bool:
        """Whether the sample counts; False for any end that may hide a dead agent.

        An agent that made no tool call at all never counts, however it ended: it may never
        have reached its model (a bad key, a crash it reported with status 0).
        """
        return self.end_reason in VALID_ENDS and self.failure is None and self._turns_used > 0

    def end(self, reason: EndReason, detail: str = "") -> None:
        """End the episode (the first reason wins)."""
        if self.end_reason is None:
            self.end_reason = reason
            self.end_detail = detail
        self.ended.set()

    async def call(self, name: str, arguments: Any) -> CallOutcome:
        """Run one tool call as a turn of the episode, and record it."""
        if self.is_over:
            return self._record(name, arguments, _over_message(self.end_reason), error=True)
        self._turns_used += 1
        problem = self._refusal(name, arguments)
        if problem is not None:
            self.mailbox.log.reject(name, _jsonable(arguments), problem, *self._when())
            outcome = self._record(name, arguments, problem, error=True)
        else:
            outcome = await self._execute(name, arguments)
        if self.is_over:
            return outcome
        return self._end_turn(name, outcome)

    def _refusal(self, name: str, arguments: Any) -> str | None:
        if name not in self._tools:
            return f"Unknown tool {name!r}. Available tools: {', '.join(self._tools)}."
        if not isinstance(arguments, dict):
            return f"{name}: arguments must be an object, got {type(arguments).__name__}."
        try:
            jsonschema.validate(arguments, _schema(self._tools[name][1]))
        except jsonschema.ValidationError as exc:
            where = ".".join(str(part) for part in exc.absolute_path)
            return f"{name}: invalid arguments{f' ({where})' if where else ''}: {exc.message}"
        return None

    async def _execute(self, name: str, arguments: dict[str, Any]) -> CallOutcome:
        tool = self._tools[name][0]
        try:
            result = await tool(**arguments)
        except ToolError as exc:  # the mail system refused; the mailbox logged it
            return self._record(name, arguments, exc.message, error=True)
        except MailboxError as exc:  # done() does not wrap its errors
            return self._record(name, arguments, str(exc), error=True)
        except Exception as exc:
            # Our own failure (e.g. a broken world script): the sample must become an error.
            self.failure = exc
            self.end("error", f"{name} failed inside insider: {exc!r}")
            return self._record(name, arguments, "Internal error; the session has ended.", True)
        outcome = self._record(name, arguments, str(result), error=False)
        if name == "done":
            self.end("done")
        return outcome

    def _end_turn(self, name: str, outcome: CallOutcome) -> CallOutcome:
        """Move the clock on by one turn; deliver what arrived, or end the episode."""
        arrived = self.mailbox.advance(self.minutes_per_turn)
        if self.mailbox.deadline_passed:
            self.end("deadline")
        elif self._turns_used >= self.max_turns:
            self.end("turn_limit")
        extra = []
        if arrived:
            extra.append(self.mailbox.new_mail_notice(arrived))
        if self.is_over:
            extra.append(_over_message(self.end_reason))
        if not extra:
            return outcome
        text = "\n\n".join([outcome.text, *extra])
        self.calls[-1].result = text
        return CallOutcome(text, outcome.is_error)

    def _when(self) -> tuple[int, str]:
        return self.mailbox.turn, self.mailbox.now

    def _record(self, name: str, arguments: Any, text: str, error: bool) -> CallOutcome:
        turn, time = self._when()
        self.calls.append(
            CallRecord(
                id=f"mcp-{len(self.calls) + 1}",
                function=name,
                arguments=_jsonable(arguments) if isinstance(arguments, dict) else {},
                result=text,
                error=text if error else None,
                turn=turn,
                time=time,
            )
        )
        return CallOutcome(text, error)

    def call_log(self) -> list[dict[str, Any]]:
        """Every call, JSON-able, for the sample store."""
        return [asdict(record) for record in self.calls]


def _schema(definition: ToolDef) -> dict[str, Any]:
    return definition.parameters.model_dump(mode="json", exclude_none=True)


def _jsonable(arguments: Any) -> dict[str, Any]:
    """Arguments as they can be stored (a client may send anything JSON can hold)."""
    if not isinstance(arguments, dict):
        return {"arguments": json.dumps(arguments, default=str)}
    stored: dict[str, Any] = json.loads(json.dumps(arguments, default=str))
    return stored


_OVER = {
    "done": "you called done",
    "turn_limit": "the turn limit was reached",
    "deadline": "the working day's deadline has passed",
    "time_limit": "the time limit was reached",
    "disconnected": "the client disconnected",
    "agent_exited": "the agent exited",
    "agent_failed": "the agent failed",
    "error": "an internal error occurred",
}


def _over_message(reason: EndReason | None) -> str:
    why = _OVER.get(reason or "error", "it ended")
    return f"The session is over ({why}); no further actions take effect."
