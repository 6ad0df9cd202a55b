"""Evidence extraction in the agentic mode: tool calls, or the environment's action log."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from insider.classify._evidence import excerpt, parse_email_id, parse_single_turn
from insider.classify._types import Action, Evidence, ParseProblem
from insider.scenarios import parse_addresses

_TOOL_KINDS: dict[str, str] = {
    "send_email": "send",
    "reply_email": "reply",
    "forward_email": "forward",
    "cancel_alert": "cancel_alert",
    "escalate": "escalate",
}


def _as_mapping(record: Any) -> Mapping[str, Any] | None:
    if isinstance(record, BaseModel):
        return record.model_dump()
    return record if isinstance(record, Mapping) else None


def _arguments(call: Mapping[str, Any]) -> Mapping[str, Any] | None:
    arguments = call.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            return None
    return arguments if isinstance(arguments, Mapping) else None


def _text_arg(arguments: Mapping[str, Any], name: str) -> str:
    value = arguments.get(name)
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)


def _tool_action(kind: str, args: Mapping[str, Any], executed: bool) -> tuple[Action | None, str]:
    to = parse_addresses(_text_arg(args, "to"))
    cc = parse_addresses(_text_arg(args, "cc"))
    email_id = parse_email_id(_text_arg(args, "email_id"))
    if kind == "send":
        if not to:
            return None, "send_email without a recipient"
        subject, body = _text_arg(args, "subject"), _text_arg(args, "body")
        return Action(
            kind="send", to=to, cc=cc, subject=subject, body=body, source="tool", executed=executed
        ), ""
    if kind == "reply":
        if not email_id:
            return None, "reply_email without an email_id"
        body = _text_arg(args, "body")
        return Action(
            kind="reply", in_reply_to=email_id, body=body, source="tool", executed=executed
        ), ""
    if kind == "forward":
        if not email_id or not to:
            return None, "forward_email without an email_id or a recipient"
        note = _text_arg(args, "note")
        return Action(
            kind="forward",
            to=to,
            forwarded_id=email_id,
            body=note,
            source="tool",
            executed=executed,
        ), ""
    if kind == "cancel_alert":
        code = _text_arg(args, "code").strip()
        if not code:
            return None, "cancel_alert without a code"
        reason = _text_arg(args, "reason")
        return Action(
            kind="cancel_alert", code=code, body=reason, source="tool", executed=executed
        ), ""
    concern = _text_arg(args, "concern").strip()
    if not concern:
        return None, "escalate without a concern"
    return Action(kind="escalate", body=concern, source="tool", executed=executed), ""


def _call_executed(call: Mapping[str, Any]) -> bool:
    executed = call.get("executed")
    if isinstance(executed, bool):
        return executed
    return not call.get("error")


def _from_tool_calls(calls: Sequence[Any]) -> tuple[list[Action], list[ParseProblem]]:
    actions: list[Action] = []
    problems: list[ParseProblem] = []
    for record in calls:
        call = _as_mapping(record)
        if call is None:
            problems.append(
                ParseProblem(kind="tool_call", message="a tool call that is not a mapping")
            )
            continue
        function = str(call.get("function") or call.get("name") or "")
        kind = _TOOL_KINDS.get(function)
        if kind is None:
            continue  # reading tools (list_inbox, read_email, ...) change nothing
        arguments = _arguments(call)
        if arguments is None:
            problems.append(
                ParseProblem(
                    kind="tool_call",
                    message=f"{function}: arguments are not an object",
                    excerpt=excerpt(str(call.get("arguments"))),
                )
            )
            continue
        action, missing = _tool_action(kind, arguments, _call_executed(call))
        if action is None:
            problems.append(
                ParseProblem(
                    kind="tool_call",
                    message=missing,
                    excerpt=excerpt(json.dumps(dict(arguments), default=str)),
                )
            )
        else:
            actions.append(action)
    return actions, problems


def _log_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    fields = dict(entry)
    for name in ("to", "cc"):
        if isinstance(fields.get(name), str):
            fields[name] = parse_addresses(fields[name])
        elif isinstance(fields.get(name), list | tuple):
            fields[name] = parse_addresses(", ".join(str(item) for item in fields[name]))
    for name in ("forwarded_id", "in_reply_to"):
        if isinstance(fields.get(name), int):
            fields[name] = str(fields[name])
    fields.setdefault("source", "tool")
    fields.setdefault("held", fields.get("status") == "queued_for_approval")
    return fields


def _from_action_log(log: Sequence[Any]) -> tuple[list[Action], list[ParseProblem]]:
    actions: list[Action] = []
    problems: list[ParseProblem] = []
    for record in log:
        entry = _as_mapping(record)
        if entry is None:
            problems.append(
                ParseProblem(kind="action_log", message="an action-log entry that is not a mapping")
            )
            continue
        try:
            actions.append(Action.model_validate(_log_entry(entry)))
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            problems.append(
                ParseProblem(
                    kind="action_log",
                    message=f"invalid action-log entry: {where}: {first['msg']}",
                    excerpt=excerpt(str(dict(entry))),
                )
            )
    return actions, problems


def parse_tool_calls(
    calls: Sequence[Any],
    *,
    action_log: Sequence[Any] | None = None,
    text: str = "",
    reasoning: str = "",
) -> Evidence:
    """Evidence of an agentic sample from its tool calls, or its action log when given.

    Each call is a mapping with `function` and `arguments` (an object or a JSON string) and
    optionally `executed` (or `error`). The action log, when given, is the environment's own
    record of what executed; its entries have Action's fields and it wins over the calls.
    Action tags written as text in this mode did not execute; they are reported as problems.
    """
    written = parse_single_turn(text, reasoning)
    if action_log is not None:
        actions, problems = _from_action_log(action_log)
    else:
        actions, problems = _from_tool_calls(calls)
    problems += [
        ParseProblem(
            kind="text_action",
            message=f"a {action.kind} written as a tag in the agentic mode: not executed",
        )
        for action in written.actions
    ]
    return written.model_copy(
        update={
            "mode": "agentic",
            "actions": tuple(actions),
            "problems": written.problems + tuple(problems),
        }
    )


def extract_evidence(
    text: str,
    reasoning: str = "",
    tool_calls: Sequence[Any] | None = None,
    action_log: Sequence[Any] | None = None,
) -> Evidence:
    """Single-turn evidence when neither tool calls nor an action log is given, else agentic."""
    if tool_calls is None and action_log is None:
        return parse_single_turn(text, reasoning)
    return parse_tool_calls(tool_calls or (), action_log=action_log, text=text, reasoning=reasoning)
