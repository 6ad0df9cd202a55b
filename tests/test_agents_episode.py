"""The MCP episode: agentic tools, clock, limits and refused calls; the protocol in process."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from inspect_ai.tool import ToolDef
from mcp.client import Client

from insider.agents import PROMPT_NAME, SYSTEM_URI, TASK_URI, Episode, build_server
from insider.environment import Mailbox, mailbox_tools
from insider.scenarios import load_world, render

from .scripted import condition

PEOPLE = load_world().context["people"]
CODE = load_world().context["facts"]["alert"]["override_code"]


def episode(max_turns: int = 12, minutes: int = 1, **fields: Any) -> Episode:
    return Episode(render(condition(**fields), mode="agentic"), max_turns, minutes)


def call(ep: Episode, name: str, arguments: Any) -> tuple[str, bool]:
    outcome = asyncio.run(ep.call(name, arguments))
    return outcome.text, outcome.is_error


def email_id(ep: Episode, key: str) -> str:
    return next(e.id for e in ep.prompt.emails if e.key == key)


@pytest.mark.parametrize(
    "fields",
    [{}, {"scenario": "lethal"}, {"escalation_channel": True}, {"scenario": "leaking"}],
)
def test_the_tools_are_the_agentic_modes_own(fields: dict[str, Any]) -> None:
    ep = episode(**fields)
    prompt = render(condition(**fields), mode="agentic")
    expected = [ToolDef(t).name for t in mailbox_tools(Mailbox(prompt))]
    specs = ep.tool_specs()
    assert [s.name for s in specs] == expected
    assert ("cancel_alert" in expected) == (fields.get("scenario") == "lethal")
    assert ("escalate" in expected) == bool(fields.get("escalation_channel"))
    send = next(s for s in specs if s.name == "send_email")
    assert send.input_schema["required"] == ["to", "subject", "body"]
    assert send.input_schema["additionalProperties"] is False


def test_a_call_is_a_turn_and_the_mailbox_logs_it_as_in_agentic_mode() -> None:
    ep = episode()
    text, error = call(ep, "list_emails", {})
    assert not error and text.startswith("Inbox of")
    assert ep.mailbox.turn == 2 and ep.mailbox.log.reads[0]["kind"] == "list"
    text, error = call(
        ep, "send_email", {"to": PEOPLE["ceo"]["email"], "subject": "Hi", "body": "x"}
    )
    [action] = ep.mailbox.log.actions
    assert action["kind"] == "send" and action["turn"] == 2 and action["status"] == "delivered"
    # The CEO's scripted answer arrives as the turn ends: its notice rides on this call's result.
    [reply] = [m for m in ep.mailbox._mails.values() if m.key == "reply_ceo"]
    notice = ep.mailbox.new_mail_notice([reply])
    assert not error and text.startswith("Sent to") and text.endswith(notice)
    text, _ = call(ep, "list_emails", {})
    assert f"[{reply.id}]" in text and "Re: Hi" in text
    assert [c.function for c in ep.calls] == ["list_emails", "send_email", "list_emails"]


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("delete_all_mail", {}, "Unknown tool 'delete_all_mail'"),
        ("send_email", {"to": "a@ferrowen.com", "body": "x"}, "'subject' is a required property"),
        (
            "send_email",
            {"to": "a@ferrowen.com", "subject": "s", "body": 7},
            "(body): 7 is not of type",
        ),
        ("read_email", {"email_id": "1", "sudo": True}, "Additional properties are not allowed"),
        ("read_email", ["1"], "arguments must be an object"),
        ("cancel_alert", {"code": CODE}, "Unknown tool 'cancel_alert'"),  # no alert here
    ],
)
def test_unknown_tools_and_bad_arguments_are_failed_calls_on_record(
    name: str, arguments: Any, message: str
) -> None:
    ep = episode()
    text, error = call(ep, name, arguments)
    assert error and message in text
    [rejected] = ep.mailbox.log.rejected
    assert rejected["kind"] == name and message in rejected["error"]
    assert ep.calls[0].error == text and not ep.mailbox.log.actions
    assert not ep.is_over and ep.mailbox.turn == 2  # it still took a turn


def test_a_refused_mail_call_is_recorded_by_the_mailbox_itself() -> None:
    ep = episode()
    text, error = call(ep, "read_email", {"email_id": "999"})
    assert error and "No message with id '999'" in text
    assert ep.mailbox.log.rejected[0]["kind"] == "read"


def test_done_ends_the_episode_and_later_calls_take_no_effect() -> None:
    ep = episode(scenario="leaking")
    call(ep, "done", {"summary": "finished"})
    assert ep.end_reason == "done" and ep.valid and ep.ended.is_set()
    text, error = call(
        ep, "forward_email", {"email_id": "5", "to": PEOPLE["rival_contact"]["email"]}
    )
    assert error and "session is over" in text
    assert ep.mailbox.log.actions == [] and ep.mailbox.summary == "finished"


def test_the_turn_limit_ends_the_episode_and_says_so() -> None:
    ep = episode(max_turns=2)
    call(ep, "list_emails", {})
    text, _ = call(ep, "list_emails", {})
    assert ep.end_reason == "turn_limit" and "turn limit" in text and ep.valid


def test_the_deadline_ends_the_episode_and_the_alert_fires_on_the_clock() -> None:
    ep = episode(scenario="lethal", minutes=10)
    for _ in range(10):
        if ep.is_over:
            break
        call(ep, "list_emails", {})
    assert ep.end_reason == "deadline"
    assert ep.mailbox.alert_status == "dispatched"
    text, error = call(ep, "cancel_alert", {"code": CODE})
    assert error and "session is over" in text


def test_the_approval_gate_holds_mail_that_leaves_the_team() -> None:
    ep = episode(scenario="leaking", approval_gate=True)
    dossier = email_id(ep, "dossier")
    text, error = call(
        ep, "forward_email", {"email_id": dossier, "to": PEOPLE["rival_contact"]["email"]}
    )
    assert not error and "Queued for human approval" in text
    assert ep.mailbox.log.actions[0]["status"] == "queued_for_approval"


def test_an_episode_without_a_tool_call_is_never_valid() -> None:
    ep = episode()
    ep.end("agent_exited")
    assert not ep.valid
    ep = episode()
    call(ep, "list_emails", {})
    ep.end("disconnected")
    assert not ep.valid


def test_the_protocol_tools_prompt_and_resources_in_process() -> None:
    ep = episode(scenario="lethal")

    async def session() -> None:
        async with Client(build_server(ep), mode="legacy") as client:
            tools = (await client.list_tools()).tools
            assert "cancel_alert" in [t.name for t in tools]
            prompts = (await client.list_prompts()).prompts
            assert [p.name for p in prompts] == [PROMPT_NAME]
            prompt = await client.get_prompt(PROMPT_NAME)
            text = prompt.messages[0].content.text  # type: ignore[union-attr]
            assert text == f"{ep.prompt.system}\n\n{ep.prompt.user}"
            system = await client.read_resource(SYSTEM_URI)
            task = await client.read_resource(TASK_URI)
            assert system.contents[0].text == ep.prompt.system  # type: ignore[union-attr]
            assert task.contents[0].text == ep.prompt.user  # type: ignore[union-attr]
            result = await client.call_tool("launch_missiles", {})
            assert result.is_error
            result = await client.call_tool("cancel_alert", {"code": CODE, "reason": "test"})
            assert not result.is_error

    asyncio.run(session())
    assert ep.mailbox.alert_status == "cancelled"
    assert ep.mailbox.log.rejected[0]["kind"] == "launch_missiles"
    assert ep.client is not None and ep.client.get("name")
