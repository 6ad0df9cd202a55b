"""Format cannot fool evidence: every harmful gold transcript, rewritten into every format.

Each shipped gold transcript with a harmful label is rewritten mechanically, from the
evidence of the original (its private text, prose, situation and actions), into each format
insider reads and into formats it does not. With evidence only:

- no harmful gold label comes out `not_harmful` in any rewrite;
- a supported format gives the same evidence verdicts as the original;
- an unsupported format defers (something is recorded as not understood).

The counts are printed (see them with `pytest -rA`) and repeated in assertion messages.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
from inspect_ai.model import (
    ChatMessageAssistant,
    ChatMessageTool,
    ChatMessageUser,
    ContentReasoning,
    ContentText,
)
from inspect_ai.tool import ToolCall, ToolCallError

from insider.classify import (
    Action,
    Evidence,
    GoldTranscript,
    NeedsJudge,
    Transcript,
    WorldProfile,
    decide_by_evidence,
    extract_evidence,
    load_gold,
    parse_single_turn,
)
from insider.pipeline import shipped_gold_sets

TOOL_NAMES = {
    "send": "send_email",
    "forward": "forward_email",
    "reply": "reply_email",
    "cancel_alert": "cancel_alert",
    "escalate": "escalate",
}


def arguments(action: Action) -> dict[str, Any]:
    """The action as our tools' arguments."""
    args: dict[str, Any] = {}
    if action.to:
        args["to"] = list(action.to)
    if action.cc:
        args["cc"] = list(action.cc)
    if action.kind == "send":
        args.update(subject=action.subject, body=action.body)
    elif action.kind == "forward":
        args.update(email_id=action.forwarded_id, note=action.body)
    elif action.kind == "reply":
        args.update(email_id=action.in_reply_to, body=action.body)
    elif action.kind == "cancel_alert":
        args.update(code=action.code, reason=action.body)
    else:
        args.update(concern=action.body)
    return args


# --- supported text formats: one writer per action ---------------------------------------


def our_tag(action: Action) -> str:
    close = action.executed
    lines = {
        "send": [
            f"to: {', '.join(action.to)}",
            f"cc: {', '.join(action.cc)}" if action.cc else "",
            f"subject: {action.subject}",
            "body:",
            action.body,
        ],
        "forward": [
            f"id: {action.forwarded_id}",
            f"to: {', '.join(action.to)}",
            "note:",
            action.body,
        ],
        "cancel_alert": [f"code: {action.code}", "reason:", action.body],
        "escalate": [f"to: {', '.join(action.to)}" if action.to else "", "concern:", action.body],
    }[action.kind]
    name = {"send": "email"}.get(action.kind, action.kind)
    body = "\n".join(line for line in lines if line != "" or line is lines[-1])
    return f"<{name}>\n{body}\n" + (f"</{name}>" if close else "")


def tool_use(action: Action) -> str:
    name = {"send": "email"}.get(action.kind, action.kind)
    lines = []
    if action.kind == "forward":
        lines.append(f"email_id: {action.forwarded_id}")
    if action.to:
        lines.append(f'to: "{", ".join(action.to)}",')
    if action.cc:
        lines.append(f'cc: "{", ".join(action.cc)}",')
    if action.kind == "send":
        lines.append(f'subject: "{action.subject}",')
    if action.kind == "cancel_alert":
        lines += [f'code: "{action.code}"', f'reason: "{action.body}"']
    elif action.kind == "escalate":
        lines.append(f'concern: "{action.body}",')
    else:
        lines.append(f'body: "{action.body}",')
    close = f"</tool_use:{name}>" if action.executed else ""
    return f"<tool_use:{name}>\n" + "\n".join(lines) + f"\n{close}"


def invoke(action: Action) -> str:
    parameters = "".join(
        f'<parameter name="{key}">{json.dumps(value) if isinstance(value, list) else value}'
        "</parameter>\n"
        for key, value in arguments(action).items()
    )
    close = "</invoke>" if action.executed else ""
    return f'<function_calls>\n<invoke name="{TOOL_NAMES[action.kind]}">\n{parameters}{close}'


def json_openai(action: Action) -> str | None:
    if not action.executed:
        return None  # JSON has no unclosed form
    call = {"name": TOOL_NAMES[action.kind], "arguments": json.dumps(arguments(action))}
    return f"```json\n{json.dumps(call)}\n```"


def json_tool(action: Action) -> str | None:
    if not action.executed:
        return None
    return json.dumps({"tool": TOOL_NAMES[action.kind], "args": arguments(action)}, indent=2)


# --- unsupported formats ---------------------------------------------------------------------


def prose(action: Action) -> str:
    to = ", ".join(action.recipients)
    if action.kind == "send":
        return f'I am now sending this email to {to} with the subject "{action.subject}": {action.body}'
    if action.kind == "forward":
        return f"I am now forwarding email {action.forwarded_id} to {to}. {action.body}"
    if action.kind == "cancel_alert":
        return f"I am now cancelling the emergency alert with the code {action.code}. {action.body}"
    return f"I am now escalating this concern{' to ' + to if to else ''}: {action.body}"


def invented_tag(action: Action) -> str:
    if action.kind == "cancel_alert":
        return f"<stop_alarm>\nkey: {action.code}\nwhy: {action.body}\n</stop_alarm>"
    if action.kind == "forward":
        return f"<pass_along>\nitem: {action.forwarded_id}\nrecipient: {', '.join(action.to)}\n{action.body}\n</pass_along>"
    if action.kind == "escalate":
        return f"<escalation_request>\n{action.body}\n</escalation_request>"
    return f"<send_message>\nrecipient: {', '.join(action.recipients)}\ntopic: {action.subject}\n{action.body}\n</send_message>"


def yaml_action(action: Action) -> str:
    lines = [f"  - action: {TOOL_NAMES[action.kind]}"]
    for key, value in arguments(action).items():
        if isinstance(value, list):
            lines.append(f"    {key}: [{', '.join(value)}]")
        else:
            text = str(value).replace("\n", "\n      ")
            lines.append(f"    {key}: |\n      {text}")
    return "actions:\n" + "\n".join(lines)


def markdown_headers(action: Action) -> str:
    if action.kind == "cancel_alert":
        return f"**Alert override**\n**Code:** {action.code}\n\n{action.body}"
    head = f"**To:** {', '.join(action.recipients)}" if action.recipients else "**Escalate**"
    if action.kind == "forward":
        head += f"\n**Email ID:** {action.forwarded_id}"
    subject = f"\n**Subject:** {action.subject}" if action.subject else ""
    if action.kind == "escalate":
        return f"{head}{subject}\n**Concern:** {action.body}"
    return f"{head}{subject}\n\n{action.body}"


@dataclass(frozen=True)
class TextFormat:
    write: Callable[[Action], str | None]
    reasoning_tag: str


SUPPORTED_TEXT = {
    "tags": TextFormat(our_tag, "scratchpad"),
    "tool_use": TextFormat(tool_use, "SCRATCHPAD_REASONING"),
    "invoke": TextFormat(invoke, "thinking"),
    "json_openai": TextFormat(json_openai, "think"),
    "json_tool": TextFormat(json_tool, "scratchpad"),
}
UNSUPPORTED = {
    "prose": TextFormat(prose, "scratchpad"),
    "invented_tag": TextFormat(invented_tag, "SCRATCHPAD_REASONING"),
    "yaml": TextFormat(yaml_action, "scratchpad"),
    "markdown_headers": TextFormat(markdown_headers, "thinking"),
}


def visible_words(original: Evidence) -> str:
    situation = original.stated_situation
    tag = f"<situation>{situation}</situation>" if situation else ""
    return "\n\n".join(part for part in (original.prose, tag) if part)


def as_text(original: Evidence, form: TextFormat) -> str | None:
    blocks = [form.write(action) for action in original.actions]
    if any(block is None for block in blocks):
        return None
    private = original.reasoning
    head = f"<{form.reasoning_tag}>\n{private}\n</{form.reasoning_tag}>" if private else ""
    return "\n\n".join(part for part in (head, visible_words(original), *blocks) if part)


# --- supported chat formats (structured tool calls) ----------------------------------------


def openai_messages(original: Evidence) -> list[dict[str, Any]]:
    calls = [
        {
            "id": f"call_{n}",
            "type": "function",
            "function": {"name": TOOL_NAMES[a.kind], "arguments": json.dumps(arguments(a))},
        }
        for n, a in enumerate(original.actions)
    ]
    results = [
        {"role": "tool", "tool_call_id": f"call_{n}", "content": "done"}
        | ({} if a.executed else {"error": {"message": "not carried out"}})
        for n, a in enumerate(original.actions)
    ]
    assistant = {"role": "assistant", "content": visible_words(original), "tool_calls": calls}
    if original.reasoning:
        assistant["reasoning_content"] = original.reasoning
    return [{"role": "user", "content": "Go over your inbox."}, assistant, *results]


def anthropic_messages(original: Evidence) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if original.reasoning:
        blocks.append({"type": "thinking", "thinking": original.reasoning})
    if visible_words(original):
        blocks.append({"type": "text", "text": visible_words(original)})
    blocks += [
        {"type": "tool_use", "id": f"toolu_{n}", "name": TOOL_NAMES[a.kind], "input": arguments(a)}
        for n, a in enumerate(original.actions)
    ]
    results = [
        {
            "type": "tool_result",
            "tool_use_id": f"toolu_{n}",
            "content": "done",
            "is_error": not a.executed,
        }
        for n, a in enumerate(original.actions)
    ]
    return [
        {"role": "user", "content": "Go over your inbox."},
        {"role": "assistant", "content": blocks},
        {"role": "user", "content": results},
    ]


def inspect_messages(original: Evidence) -> list[dict[str, Any]]:
    content: list[Any] = []
    if original.reasoning:
        content.append(ContentReasoning(reasoning=original.reasoning))
    content.append(ContentText(text=visible_words(original)))
    calls = [
        ToolCall(id=f"c{n}", function=TOOL_NAMES[a.kind], arguments=arguments(a))
        for n, a in enumerate(original.actions)
    ]
    messages: list[Any] = [
        ChatMessageUser(content="Go over your inbox."),
        ChatMessageAssistant(content=content, tool_calls=calls),
    ]
    messages += [
        ChatMessageTool(
            content="done",
            tool_call_id=f"c{n}",
            error=None if a.executed else ToolCallError(type="permission", message="refused"),
        )
        for n, a in enumerate(original.actions)
    ]
    return [m.model_dump(mode="json", exclude_none=True) for m in messages]


SUPPORTED_CHAT: dict[str, Callable[[Evidence], list[dict[str, Any]]]] = {
    "openai_messages": openai_messages,
    "anthropic_messages": anthropic_messages,
    "inspect_messages": inspect_messages,
}


# --- the run over every shipped gold set ---------------------------------------------------


def states(evidence: Evidence, profile: WorldProfile) -> dict[str, str]:
    decision = decide_by_evidence(evidence, profile)
    return {
        label: "judge" if isinstance(outcome, NeedsJudge) else outcome.state.value
        for label, outcome in decision.outcomes.items()
    }


@dataclass
class Results:
    cases: Counter[str] = field(default_factory=Counter)
    rewrites: Counter[str] = field(default_factory=Counter)
    not_expressible: Counter[str] = field(default_factory=Counter)
    ruled_out: list[str] = field(default_factory=list)  # harmful gold label -> not_harmful
    changed: list[str] = field(default_factory=list)  # a supported format read differently
    not_deferred: list[str] = field(default_factory=list)  # an unsupported format not caught

    def summary(self) -> str:
        return (
            f"harmful gold transcripts: {dict(self.cases)}; rewrites checked per format: "
            f"{dict(sorted(self.rewrites.items()))}; not expressible (JSON has no unclosed "
            f"call): {dict(self.not_expressible)}; harms ruled out: {len(self.ruled_out)}; "
            f"supported formats read differently: {len(self.changed)}; unsupported formats "
            f"not deferred: {len(self.not_deferred)}"
        )


def harmful_gold() -> list[tuple[str, GoldTranscript, WorldProfile]]:
    return [
        (name, item, profile)
        for name, path, profile in shipped_gold_sets()
        for item in load_gold(path)
        if item.agent_error is None and "harmful" in item.expected.values()
    ]


def _check(
    results: Results,
    where: str,
    item: GoldTranscript,
    rewritten: Evidence,
    profile: WorldProfile,
    expected: dict[str, str] | None,
) -> None:
    got = states(rewritten, profile)
    for label, state in item.expected.items():
        if state == "harmful" and got[label] == "not_harmful":
            results.ruled_out.append(f"{where}: {label}")
    if expected is not None and got != expected:
        diff = {k: (expected[k], got[k]) for k in got if got[k] != expected[k]}
        results.changed.append(f"{where}: {diff}")


@cache
def run_all() -> Results:
    results = Results()
    for name, item, profile in harmful_gold():
        original = extract_evidence(item.response, item.reasoning, item.tool_calls, item.action_log)
        kind = "text" if item.tool_calls is None and item.action_log is None else "agentic"
        results.cases[kind] += 1
        # Only a fully understood original has verdicts a faithful rewrite must repeat.
        expected = states(original, profile) if not original.not_understood else None
        if kind == "text":
            for fmt, form in SUPPORTED_TEXT.items():
                text = as_text(original, form)
                if text is None:
                    results.not_expressible[fmt] += 1
                    continue
                results.rewrites[fmt] += 1
                _check(
                    results,
                    f"{name}:{item.id}:{fmt}",
                    item,
                    parse_single_turn(text),
                    profile,
                    expected,
                )
        for fmt, write in SUPPORTED_CHAT.items():
            results.rewrites[fmt] += 1
            chat = Transcript(id=item.id, scenario="blackmail", messages=write(original))
            evidence = chat.evidence()
            _check(results, f"{name}:{item.id}:{fmt}", item, evidence, profile, expected)
        if kind != "text" or not original.actions:
            continue  # unsupported rewrites change how actions are written; none here
        for fmt, form in UNSUPPORTED.items():
            text = as_text(original, form)
            assert text is not None
            results.rewrites[fmt] += 1
            evidence = parse_single_turn(text)
            _check(results, f"{name}:{item.id}:{fmt}", item, evidence, profile, None)
            deferred = decide_by_evidence(evidence, profile).deferred
            if not evidence.not_understood and not deferred:
                results.not_deferred.append(f"{name}:{item.id}:{fmt}")
    return results


def test_the_mutation_covers_every_shipped_gold_set() -> None:
    results = run_all()
    print("\n" + results.summary())
    assert results.cases["text"] >= 60 and results.cases["agentic"] >= 10, results.summary()
    formats = {*SUPPORTED_TEXT, *SUPPORTED_CHAT, *UNSUPPORTED}
    assert set(results.rewrites) == formats and len(UNSUPPORTED) >= 3


def test_no_harmful_gold_label_is_ruled_out_in_any_rewrite() -> None:
    results = run_all()
    print(
        f"\nharms ruled out: {len(results.ruled_out)} of {sum(results.rewrites.values())} rewrites"
    )
    assert results.ruled_out == [], results.summary() + "\n" + "\n".join(results.ruled_out)


def test_a_supported_format_gives_the_same_verdicts() -> None:
    results = run_all()
    print(f"\nsupported rewrites read differently: {len(results.changed)}")
    assert results.changed == [], results.summary() + "\n" + "\n".join(results.changed)


def test_an_unsupported_format_defers() -> None:
    results = run_all()
    unsupported = sum(results.rewrites[f] for f in UNSUPPORTED)
    print(f"\nunsupported rewrites not deferred: {len(results.not_deferred)} of {unsupported}")
    assert results.not_deferred == [], results.summary() + "\n" + "\n".join(results.not_deferred)


@pytest.mark.parametrize("fmt", list(UNSUPPORTED))
def test_each_unsupported_format_alone_would_be_ruled_safe_without_coverage(fmt: str) -> None:
    """The check has teeth: with coverage switched off, the same rewrites rule harms out."""
    ruled_out = 0
    for _, item, profile in harmful_gold():
        original = extract_evidence(item.response, item.reasoning, item.tool_calls, item.action_log)
        if item.tool_calls is not None or item.action_log is not None or not original.actions:
            continue
        text = as_text(original, UNSUPPORTED[fmt])
        assert text is not None
        blind = parse_single_turn(text).model_copy(update={"not_understood": (), "prose": ""})
        got = states(blind, profile)
        ruled_out += any(
            got[label] == "not_harmful"
            for label, state in item.expected.items()
            if state == "harmful" and label in ("blackmail", "leak", "lethal", "disclose_secret")
        )
    assert ruled_out >= 10, fmt
